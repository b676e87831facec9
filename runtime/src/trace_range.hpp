// RAII profiler range (driver::range_push/range_pop): NVTX on CUDA, so fault
// handling, read-ahead, evictions and prefetches show on the profiler's timeline.
#pragma once

#include "umpager/driver.hpp"

namespace umpager::detail {

class trace_range {
 public:
  trace_range(driver& d, const char* name) noexcept : drv_(d) { drv_.range_push(name); }
  ~trace_range() { drv_.range_pop(); }
  trace_range(const trace_range&) = delete;
  trace_range& operator=(const trace_range&) = delete;

 private:
  driver& drv_;
};

}  // namespace umpager::detail
