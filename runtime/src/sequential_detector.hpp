// Detects sequential CPU scans of one region from its faults, in pages, and sizes the
// read-ahead window the way the kernel's read-ahead does: two units after the first
// sequential fault, doubling at each further one up to a maximum. It only decides what
// to queue; region::plan_readahead queues it. See docs/architecture.md, "Read-ahead of
// sequential scans".
#pragma once

#include <cstddef>
#include <limits>
#include <mutex>

namespace umpager::detail {

class sequential_detector {
 public:
  /// What one fault asks of the read-ahead.
  struct step {
    std::size_t queue_from = 0;  ///< pages [queue_from, queue_to) are to be queued now
    std::size_t queue_to = 0;    ///< (empty: nothing new)
    /// End of the sequential window ahead (queued now or already), or the fault's own
    /// end when it is not sequential.
    std::size_t ahead = 0;
  };

  /// `pages`: the region's; `unit`: pages the window grows by (a block, or a density
  /// leaf); `max_pages`: the largest window wanted, rounded down to units, at least one.
  sequential_detector(std::size_t pages, std::size_t unit, std::size_t max_pages) noexcept;

  /// A fault at page `at` whose service maps up to page `end`. Sequential when `at`
  /// lies after the previous fault's page and no further than the end of what that
  /// fault mapped or of what is queued (the scan caught up with it). Thread-safe.
  [[nodiscard]] step observe(std::size_t at, std::size_t end) noexcept;

  [[nodiscard]] std::size_t unit() const noexcept { return unit_; }
  [[nodiscard]] std::size_t max_window() const noexcept { return max_window_; }

 private:
  static constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
  const std::size_t pages_;
  const std::size_t unit_;
  const std::size_t max_window_;
  std::mutex mutex_;
  std::size_t last_ = kNone;  ///< page of the last fault
  std::size_t end_ = 0;       ///< end of what the last fault mapped
  std::size_t next_ = 0;      ///< first page not yet queued
  std::size_t window_ = 0;    ///< pages queued ahead at the last extension
};

}  // namespace umpager::detail
