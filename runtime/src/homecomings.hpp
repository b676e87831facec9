// Prefetches to the host ordered on a stream the runtime made: their copies are
// enqueued on the stream and the call returns; the pages they brought are mapped by
// the first synchronize that shows the copies done, the completion's or the stream's
// (docs/api.md "Prefetch to the host on a stream"). Until then a CPU touch faults,
// waits for the copies, and copies its block itself.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "region.hpp"
#include "umpager/stream.hpp"

namespace umpager::detail {

/// One prefetch home on a stream: its chunks' parts, mapped at most once.
class homecoming {
 public:
  homecoming(const std::shared_ptr<region>& r, std::vector<pending_home> parts);
  /// The last part's point: the stream passed the whole prefetch once it passed this.
  [[nodiscard]] const std::shared_ptr<fence>& last() const noexcept { return last_; }
  /// Once every part's point passed: maps the parts whose copies succeeded, then
  /// throws driver_error naming the first that failed (its pages stay on the device,
  /// nothing is lost). Later calls do nothing. Waits for the points when `wait`,
  /// without end (as completion::synchronize); else maps only if all passed and
  /// returns whether it did.
  bool land(bool wait);

 private:
  std::mutex mutex_;
  std::weak_ptr<region> r_;  ///< weak: a freed allocation's parts are dropped
  std::vector<pending_home> parts_;
  std::shared_ptr<fence> last_;
  bool landed_ = false;
};

/// The homecomings of each stream the runtime made, mapped when the stream is
/// synchronized through the runtime's stream object, dropped when it is destroyed.
class stream_homecomings final : public stream_observer {
 public:
  void add(stream_handle h, std::shared_ptr<homecoming> c);
  /// Maps what every stream brought home (runtime::device_synchronize, after the devices).
  void land_all() noexcept;

  void synchronized(stream_handle h) noexcept override;
  void destroyed(stream_handle h) noexcept override;

 private:
  static void land(std::deque<std::shared_ptr<homecoming>>& q) noexcept;
  std::mutex mutex_;
  std::unordered_map<const void*, std::deque<std::shared_ptr<homecoming>>> streams_;
};

/// Tells several observers of the runtime's streams.
class stream_fanout final : public stream_observer {
 public:
  explicit stream_fanout(std::vector<std::shared_ptr<stream_observer>> to) : to_(std::move(to)) {}
  void synchronized(stream_handle h) noexcept override {
    for (const auto& o : to_) o->synchronized(h);
  }
  void destroyed(stream_handle h) noexcept override {
    for (const auto& o : to_) o->destroyed(h);
  }

 private:
  std::vector<std::shared_ptr<stream_observer>> to_;
};

}  // namespace umpager::detail
