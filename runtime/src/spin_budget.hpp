// How long a resolver busy-polls for the next fault before it sleeps: a bound
// that follows the gaps between faults. It grows while faults keep arriving
// within reach and decays to zero when they stop, so an idle process sleeps at
// once and a fault storm is served without a wake-up per fault
// (docs/architecture.md "One resolver loop").
#pragma once

#include <algorithm>
#include <cstdint>

namespace umpager::detail {

class spin_budget {
 public:
  /// `max_ns`: the most a resolver spins after serving (UMPAGER_RESOLVER_SPIN_US); 0 = never.
  explicit spin_budget(std::uint64_t max_ns) noexcept : max_(max_ns) {}

  /// How long to spin now, in nanoseconds (0: sleep at once).
  [[nodiscard]] std::uint64_t next() const noexcept { return cur_; }
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

 private:
  /// Below this a spin catches nothing a sleep would not: the clock and one
  /// poll already take a good part of it.
  static constexpr std::uint64_t kFloor = 1000;
  std::uint64_t max_;
  std::uint64_t cur_ = 0;
};

}  // namespace umpager::detail
