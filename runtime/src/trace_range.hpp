// RAII range around fault handling, read-ahead, evictions and prefetches: a
// profiler range (driver::range_push/pop: NVTX on CUDA) and, with UMPAGER_TRACE,
// an event on the calling thread's track of the trace file.
#pragma once

#include "context.hpp"
#include "trace_recorder.hpp"
#include "umpager/driver.hpp"

namespace umpager::detail {

class trace_range {
 public:
  /// `name` must be a string literal (the trace keeps the pointer).
  trace_range(const context& ctx, const char* name) noexcept
      : drv_(ctx.drv), trace_(ctx.trace), name_(name), start_(trace_ != nullptr ? now_ns() : 0) {
    drv_.range_push(name);
  }
  ~trace_range() {
    drv_.range_pop();
    if (trace_ != nullptr) trace_->complete(name_, "runtime", this_thread_id(), start_, now_ns());
  }
  trace_range(const trace_range&) = delete;
  trace_range& operator=(const trace_range&) = delete;

 private:
  driver& drv_;
  trace_recorder* trace_;
  const char* name_;
  std::uint64_t start_;
};

}  // namespace umpager::detail
