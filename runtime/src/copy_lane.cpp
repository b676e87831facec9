#include "copy_lane.hpp"

#include <sched.h>

#include <cstdio>
#include <string>
#include <thread>

#include "trace_recorder.hpp"
#include "umpager/error.hpp"

namespace umpager::detail {

copy_lane::copy_lane(driver& d, unsigned timeout_ms, trace_recorder* trace)
    : drv_(d), timeout_(timeout_ms), stream_(d.create_stream()), trace_(trace) {
  try {
    event_ = d.create_event();
    if (trace_ != nullptr) {
      char label[96];
      std::snprintf(label, sizeof(label), "copy lane (%s stream %p)", d.info().name.c_str(), stream_.impl);
      track_ = trace_->add_track(label);
    }
  } catch (...) {
    d.destroy_stream(stream_);
    throw;
  }
}

copy_lane::~copy_lane() {
  drv_.destroy_event(event_);
  drv_.destroy_stream(stream_);
}

void copy_lane::copy(std::span<const copy_op> ops, copy_direction dir) {
  if (ops.empty()) return;
  const std::uint64_t start = trace_ != nullptr ? now_ns() : 0;
  drv_.copy_async(ops, dir, stream_);
  drv_.record(event_, stream_);
  // An idle copy engine usually finishes at once (the simulator copies inline):
  // spin briefly, then back off to short sleeps until the deadline.
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (unsigned spin = 0; !drv_.query(event_); ++spin) {
    if (spin < 256) {
      ::sched_yield();
      continue;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      // Abandon the stuck stream; later copies get a fresh one.
      drv_.destroy_stream(stream_);
      stream_ = drv_.create_stream();
      throw driver_error("device copy did not complete within " + std::to_string(timeout_.count()) +
                         " ms (UMPAGER_COPY_TIMEOUT_MS)");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(spin < 1024 ? 20 : 200));
  }
  drv_.synchronize(stream_);  // done already; reports a failed copy
  if (trace_ != nullptr) {
    std::uint64_t bytes = 0;
    for (const copy_op& op : ops) bytes += op.bytes;
    const char* name = dir == copy_direction::device_to_host   ? "copy to host"
                       : dir == copy_direction::host_to_device ? "copy to device"
                                                               : "copy device to device";
    trace_->complete(name, "copy", track_, start, now_ns(), "bytes", bytes);
  }
}

}  // namespace umpager::detail
