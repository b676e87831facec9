#include "copy_lane.hpp"

#include <sched.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>

#include "trace_recorder.hpp"
#include "umpager/error.hpp"

namespace umpager::detail {

copy_graveyard::~copy_graveyard() {
  // The drivers outlive this: a copy still running when they go is theirs to drain.
  for (grave& g : graves_) {
    g.drv->destroy_event(g.event);
    g.drv->destroy_stream(g.stream);
  }
}

void copy_graveyard::bury(driver& d, stream_handle s, event_handle e, bool recorded,
                          umpager::span<const copy_op> ops) noexcept {
  if (s.impl == nullptr) return;
  try {
    if (!recorded && e.impl != nullptr) {
      d.record(e, s);  // after the copy in stream order: its completion tells
      recorded = true;
    }
  } catch (...) {
  }
  try {
    grave g{&d, s, e, recorded, {}};
    for (const copy_op& o : ops) {
      const auto a = reinterpret_cast<std::uintptr_t>(o.dst);
      g.dst.emplace_back(a, a + o.bytes);
    }
    std::lock_guard lk(mutex_);
    graves_.push_back(std::move(g));
    count_.store(graves_.size(), std::memory_order_release);
  } catch (...) {
    // No memory to remember it: wait for the stream instead, so nothing lands unseen.
    try {
      d.synchronize(s);
    } catch (...) {
    }
    d.destroy_event(e);
    d.destroy_stream(s);
  }
}

bool copy_graveyard::pending_locked(std::uintptr_t lo, std::uintptr_t hi) noexcept {
  bool overlaps = false;
  for (std::size_t i = 0; i < graves_.size();) {
    grave& g = graves_[i];
    bool done = false;
    try {
      // Without a recorded event only the stream can tell, by draining it.
      done = g.recorded ? g.drv->query(g.event) : (g.drv->synchronize(g.stream), true);
    } catch (const driver_error&) {
      done = !g.recorded;  // the drained stream reported its copy's error: it lands nothing more
    } catch (...) {
      done = false;
    }
    if (done) {
      g.drv->destroy_event(g.event);
      g.drv->destroy_stream(g.stream);
      graves_[i] = std::move(graves_.back());
      graves_.pop_back();
      continue;
    }
    for (const auto& [s, e] : g.dst) overlaps |= s < hi && lo < e;
    ++i;
  }
  count_.store(graves_.size(), std::memory_order_release);
  return overlaps;
}

bool copy_graveyard::pending() noexcept {
  if (count_.load(std::memory_order_acquire) == 0) return false;
  std::lock_guard lk(mutex_);
  (void)pending_locked(0, 0);
  return !graves_.empty();
}

bool copy_graveyard::wait_for(std::uintptr_t lo, std::uintptr_t hi) noexcept {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (;;) {
    {
      std::lock_guard lk(mutex_);
      if (!pending_locked(lo, hi)) return true;
    }
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
}

void copy_graveyard::settle(umpager::span<const copy_op> ops) {
  if (count_.load(std::memory_order_acquire) == 0) return;
  for (const copy_op& o : ops) {
    for (const void* p : {static_cast<const void*>(o.dst), o.src}) {
      const auto a = reinterpret_cast<std::uintptr_t>(p);
      if (!wait_for(a, a + o.bytes)) {
        throw driver_error("an earlier device copy that timed out may still write this memory; it is not used until "
                           "that copy finishes (UMPAGER_COPY_TIMEOUT_MS)");
      }
    }
  }
}

bool copy_graveyard::settle(const void* p, std::size_t bytes) noexcept {
  if (count_.load(std::memory_order_acquire) == 0) return true;
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  return wait_for(a, a + bytes);
}

copy_lane::copy_lane(driver& d, copy_graveyard& graveyard, trace_recorder* trace)
    : drv_(d), graveyard_(graveyard), timeout_(graveyard.timeout_ms()), stream_(d.create_stream()), trace_(trace) {
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
  if (event_.impl != nullptr) drv_.destroy_event(event_);
  if (stream_.impl != nullptr) drv_.destroy_stream(stream_);
}

void copy_lane::copy(umpager::span<const copy_op> ops, copy_direction dir) {
  if (ops.empty()) return;
  graveyard_.settle(ops);
  const std::uint64_t start = trace_ != nullptr ? now_ns() : 0;
  if (stream_.impl == nullptr) stream_ = drv_.create_stream();
  if (event_.impl == nullptr) event_ = drv_.create_event();
  drv_.copy_async(ops, dir, stream_);  // a throw here enqueued nothing
  bool recorded = false;
  try {
    drv_.record(event_, stream_);
    recorded = true;
    // An idle copy engine usually finishes at once (the simulator copies inline):
    // spin briefly, then back off to short sleeps until the deadline.
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    for (unsigned spin = 0; !drv_.query(event_); ++spin) {
      // The deadline holds while spinning too: on a loaded machine 256 yields can
      // take longer than a short timeout.
      if (spin % 16 == 15 && std::chrono::steady_clock::now() > deadline) {
        throw driver_error("device copy did not complete within " + std::to_string(timeout_.count()) +
                           " ms (UMPAGER_COPY_TIMEOUT_MS)");
      }
      if (spin < 256) {
        ::sched_yield();
        continue;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(spin < 1024 ? 20 : 200));
    }
    drv_.synchronize(stream_);  // done already; reports a failed copy
  } catch (...) {
    // Whatever failed, the copy may still be running: its stream and event are buried
    // with the ranges it writes, and later copies get fresh ones.
    graveyard_.bury(drv_, stream_, event_, recorded, ops);
    stream_ = {};
    event_ = {};
    throw;
  }
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
