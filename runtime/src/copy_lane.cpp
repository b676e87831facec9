#include "copy_lane.hpp"

#include <sched.h>

#include <string>
#include <thread>

#include "umpager/error.hpp"

namespace umpager::detail {

copy_lane::copy_lane(driver& d, unsigned timeout_ms)
    : drv_(d), timeout_(timeout_ms), stream_(d.create_stream()) {
  try {
    event_ = d.create_event();
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
}

}  // namespace umpager::detail
