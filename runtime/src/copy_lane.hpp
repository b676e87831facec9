// A driver stream and event used for one thread's copies, waited for with a
// deadline: a copy that never completes becomes an error, never a hang. A copy given
// up on may still land later (a DMA in flight), so its stream goes to the runtime's
// graveyard with the ranges it touches, and no later copy uses those ranges until it
// is known finished (docs/architecture.md "Failure safety").
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "umpager/driver.hpp"

namespace umpager::detail {

/// Copies given up on (timed out, or failed after they were enqueued) that may still
/// write their destinations. One per runtime, shared by every lane.
class copy_graveyard {
 public:
  explicit copy_graveyard(unsigned timeout_ms) : timeout_(timeout_ms) {}
  ~copy_graveyard();
  copy_graveyard(const copy_graveyard&) = delete;
  copy_graveyard& operator=(const copy_graveyard&) = delete;

  /// Takes `s` and `e` (recorded after `ops`, if `recorded`): destroyed once done.
  void bury(driver& d, stream_handle s, event_handle e, bool recorded, umpager::span<const copy_op> ops) noexcept;
  /// Waits up to the timeout until no buried copy may still write what `ops` read or
  /// write; throws driver_error if one still may (the caller fails, touching nothing).
  void settle(umpager::span<const copy_op> ops);
  /// The same for [p, p+bytes) (freeing a region, unmapping a chunk); false if a
  /// buried copy may still write there after the wait. Never throws.
  bool settle(const void* p, std::size_t bytes) noexcept;
  /// True while some buried copy has not finished (finished ones are cleaned up here).
  [[nodiscard]] bool pending() noexcept;
  [[nodiscard]] unsigned timeout_ms() const noexcept { return static_cast<unsigned>(timeout_.count()); }

 private:
  struct grave {
    driver* drv;
    stream_handle stream;
    event_handle event;
    bool recorded;
    std::vector<std::pair<std::uintptr_t, std::uintptr_t>> dst;  ///< what it may still write
  };
  /// Destroys finished graves; true if one left overlaps [lo, hi). Holds mutex_.
  bool pending_locked(std::uintptr_t lo, std::uintptr_t hi) noexcept;
  bool wait_for(std::uintptr_t lo, std::uintptr_t hi) noexcept;

  std::chrono::milliseconds timeout_;
  std::mutex mutex_;
  std::vector<grave> graves_;
  std::atomic<std::size_t> count_{0};  ///< graves_.size(): the common case skips the lock
};

class trace_recorder;

class copy_lane {
 public:
  /// `trace`: UMPAGER_TRACE's recorder (null when not tracing); each copy batch
  /// then shows on this lane's own track.
  copy_lane(driver& d, copy_graveyard& graveyard, trace_recorder* trace = nullptr);
  ~copy_lane();
  copy_lane(const copy_lane&) = delete;
  copy_lane& operator=(const copy_lane&) = delete;

  /// Runs the batch and waits for it; throws driver_error if a copy failed or
  /// did not complete within the timeout (the stream is then buried and replaced),
  /// or if a buried copy may still write the same memory. Any other failure of the
  /// driver propagates as it is, with the same burial.
  void copy(umpager::span<const copy_op> ops, copy_direction dir);

 private:
  driver& drv_;
  copy_graveyard& graveyard_;
  std::chrono::milliseconds timeout_;
  stream_handle stream_{};  ///< null after a burial until the next copy
  event_handle event_{};
  trace_recorder* trace_;
  std::uint32_t track_ = 0;
};

}  // namespace umpager::detail
