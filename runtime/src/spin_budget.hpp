// How long a resolver busy-polls for the next fault before it sleeps: a bound
// that follows the gaps between faults. It grows while faults keep arriving
// within reach and decays to zero when they stop, so an idle process sleeps at
// once and a fault storm is served without a wake-up per fault. The spin must use a
// CPU nobody else wants: none while more threads fault than leave it a CPU, and,
// where CPU pressure can be read, none for a while once tasks waited for a CPU as it spun
// (docs/architecture.md "One resolver loop").
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

namespace umpager::detail {

class spin_budget {
 public:
  /// `max_ns`: the most a resolver spins after serving (UMPAGER_RESOLVER_SPIN_US); 0 = never.
  /// `max_touchers`: the most threads that may fault at once with a CPU still left for
  /// the spin (the resolvers' CPUs less the resolvers).
  explicit spin_budget(std::uint64_t max_ns, unsigned max_touchers = ~0u) noexcept
      : max_(max_ns), max_touchers_(max_touchers) {}

  /// How long to spin at `now_ns`, in nanoseconds (0: sleep at once).
  [[nodiscard]] std::uint64_t next(std::uint64_t now_ns) const noexcept {
    return now_ns < hold_until_ || touchers(now_ns) > max_touchers_ ? 0 : cur_;
  }
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }

  /// Work arrived `gap_ns` after the spin began: a spin of twice that would have
  /// caught the next one as well, so reach at least that far.
  void caught(std::uint64_t gap_ns) noexcept { cur_ = std::min(max_, std::max(cur_, 2 * gap_ns + kFloor)); }

  /// The spin ran out with nothing to do: halve it, and stop spinning altogether
  /// once it is too short to catch anything.
  void missed() noexcept {
    cur_ /= 2;
    if (cur_ < kFloor) cur_ = 0;
  }

  /// Woken from sleep by work `gap_ns` after the last work was served: had the
  /// spin reached that far there would have been no sleep. Gaps beyond the bound
  /// change nothing (those faults pay the wake-up whatever the spin).
  void slept(std::uint64_t gap_ns) noexcept {
    if (gap_ns <= max_ / 2) caught(gap_ns);
  }

  /// Thread `tid` faulted at `now_ns` (served by this resolver). More threads faulting
  /// within kTouchersNs than max_touchers stop the spin: each wants a CPU, and the spin
  /// would take theirs (measured: two touching threads on 2 CPUs, docs/bench.md "Session 6").
  void faulted(std::uint32_t tid, std::uint64_t now_ns) noexcept {
    toucher* oldest = &touchers_[0];
    for (toucher& t : touchers_) {
      if (t.tid == tid) {
        t.seen_ns = now_ns;
        return;
      }
      if (t.seen_ns < oldest->seen_ns) oldest = &t;
    }
    *oldest = toucher{tid, now_ns};
  }

  /// Whether a reading of CPU pressure is due before spinning at `now_ns`: a spin
  /// is about to start and the window since the last reading is long enough.
  [[nodiscard]] bool wants_pressure(std::uint64_t now_ns) const noexcept {
    return next(now_ns) != 0 && (!window_ || now_ns - window_ns_ >= kWindowNs);
  }

  /// CPU pressure read at `now_ns`: `stall_us`, the system's total time in which some
  /// task waited for a CPU (PSI). The first reading after a hold-off opens a window;
  /// the next judges it. Tasks that waited for over a fifth of a window in which this
  /// resolver spun (two touching threads beside a spinning resolver on 2 CPUs, or
  /// another process: both measured slower with the spin, docs/bench.md "Session 6")
  /// stop the spin for a hold-off that doubles while that goes on, from kMinHold up
  /// to kMaxHold; a window without it halves the next hold-off.
  void pressure(std::uint64_t now_ns, std::uint64_t stall_us) noexcept {
    if (window_ && now_ns > window_ns_) {
      const std::uint64_t waited_ns = (stall_us > window_stall_us_ ? stall_us - window_stall_us_ : 0) * 1000;
      if (waited_ns * kContendedDiv > now_ns - window_ns_) {
        hold_ = std::clamp(2 * hold_, kMinHold, kMaxHold);
        hold_until_ = now_ns + hold_;
        window_ = false;  // reopened by the first reading after the hold-off
        return;
      }
      hold_ /= 2;
    }
    window_ = true;
    window_ns_ = now_ns;
    window_stall_us_ = stall_us;
  }

  static constexpr std::uint64_t kWindowNs = 20'000'000;  ///< 20 ms
  static constexpr std::uint64_t kTouchersNs = 10'000'000;  ///< faulting threads counted over 10 ms
  static constexpr std::uint64_t kMinHold = 10'000'000;   ///< 10 ms
  static constexpr std::uint64_t kMaxHold = 100'000'000;  ///< 100 ms: a short pass after a busy phase still spins

 private:
  /// Below this a spin catches nothing a sleep would not: the clock and one
  /// poll already take a good part of it.
  static constexpr std::uint64_t kFloor = 1000;
  /// Contended: tasks waited for a CPU more than 1/kContendedDiv of the window.
  static constexpr std::uint64_t kContendedDiv = 5;
  struct toucher {
    std::uint32_t tid = 0;
    std::uint64_t seen_ns = 0;  ///< 0: an empty slot
  };
  /// Threads that faulted within kTouchersNs of `now_ns` (at most the slots kept).
  [[nodiscard]] unsigned touchers(std::uint64_t now_ns) const noexcept {
    unsigned n = 0;
    for (const toucher& t : touchers_) n += t.seen_ns != 0 && now_ns - t.seen_ns < kTouchersNs;
    return n;
  }
  std::uint64_t max_;
  unsigned max_touchers_;
  std::array<toucher, 8> touchers_{};
  std::uint64_t cur_ = 0;
  std::uint64_t hold_ = 0;        ///< the last hold-off (0: spins found no contention)
  std::uint64_t hold_until_ = 0;  ///< no spin before this (now_ns() clock)
  bool window_ = false;           ///< a pressure window is open
  std::uint64_t window_ns_ = 0, window_stall_us_ = 0;
};

}  // namespace umpager::detail
