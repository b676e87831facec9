// A driver stream and event used for one thread's copies, waited for with a
// deadline: a copy that never completes becomes an error, never a hang.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>

#include "umpager/driver.hpp"

namespace umpager::detail {

class trace_recorder;

class copy_lane {
 public:
  /// `trace`: UMPAGER_TRACE's recorder (null when not tracing); each copy batch
  /// then shows on this lane's own track.
  copy_lane(driver& d, unsigned timeout_ms, trace_recorder* trace = nullptr);
  ~copy_lane();
  copy_lane(const copy_lane&) = delete;
  copy_lane& operator=(const copy_lane&) = delete;

  /// Runs the batch and waits for it; throws driver_error if a copy failed or
  /// did not complete within the timeout (the stream is then replaced).
  void copy(std::span<const copy_op> ops, copy_direction dir);
  [[nodiscard]] stream_handle stream() const noexcept { return stream_; }

 private:
  driver& drv_;
  std::chrono::milliseconds timeout_;
  stream_handle stream_;
  event_handle event_;
  trace_recorder* trace_;
  std::uint32_t track_ = 0;
};

}  // namespace umpager::detail
