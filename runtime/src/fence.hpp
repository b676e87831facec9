// A point in one stream: a driver event recorded there. Chunks hold fences of the
// work that may still use them (pin records), completions hold the fence of one
// prefetch. Shared by both, so it owns its event; `alive` tells it whether the
// runtime (and so the driver) still exists when the last holder lets go.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "umpager/driver.hpp"

namespace umpager::detail {

/// Polls `passed` until true or `timeout`: a short spin, then short sleeps.
template <class Pred>
bool poll_until(Pred&& passed, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (unsigned spin = 0; !passed(); ++spin) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    if (spin < 64) std::this_thread::yield();
    else std::this_thread::sleep_for(std::chrono::microseconds(spin < 1024 ? 20 : 200));
  }
  return true;
}

/// Set to false by the runtime before its drivers go away.
using liveness = std::shared_ptr<std::atomic<bool>>;

class fence {
 public:
  fence(driver& d, liveness alive) : drv_(d), alive_(std::move(alive)), event_(d.create_event()) {}
  ~fence() {
    if (alive_->load(std::memory_order_acquire)) drv_.destroy_event(event_);
  }
  fence(const fence&) = delete;
  fence& operator=(const fence&) = delete;

  /// Records (again) on `s`: the point moves to the stream's current end (a
  /// prefetch records after each chunk's uploads). Not cached for that reason.
  void record(stream_handle s) { drv_.record(event_, s); }
  [[nodiscard]] bool alive() const noexcept { return alive_->load(std::memory_order_acquire); }
  /// True once the stream passed the point. A runtime that is gone drained its streams.
  [[nodiscard]] bool done() noexcept {
    if (!alive()) return true;
    try {
      return drv_.query(event_);
    } catch (...) {
      return true;  // a driver that cannot answer lost the stream: nothing uses the chunk now
    }
  }
  /// True only if the driver says the stream passed the point (false when it cannot
  /// answer, unlike done()); false once the runtime is gone.
  [[nodiscard]] bool passed_now() noexcept {
    if (!alive()) return false;
    try {
      return drv_.query(event_);
    } catch (...) {
      return false;
    }
  }
  /// Waits until passed or `timeout`; returns done().
  bool wait_for(std::chrono::milliseconds timeout);
  [[nodiscard]] driver& owner() const noexcept { return drv_; }
  /// A new fence on the same driver (a point of its own, recorded separately).
  [[nodiscard]] std::shared_ptr<fence> sibling() const { return std::make_shared<fence>(drv_, alive_); }
  /// After passed_now(): true if the work before the point failed, as far as the driver can
  /// tell (driver::synchronize(event)); false once the runtime is gone. A failed
  /// record fails every time it is asked (CUDA's errors are sticky, the simulated
  /// device's record keeps them), so one answer that is not a failure decides: a call
  /// that failed once for another reason does not make a good copy look lost.
  [[nodiscard]] bool failed() noexcept {
    if (!alive()) return false;
    for (int tries = 0; tries < 8; ++tries) {
      try {
        drv_.synchronize(event_);
        return false;
      } catch (...) {
      }
    }
    return true;
  }
  [[nodiscard]] event_handle event() const noexcept { return event_; }
  /// The point follows uploads on the device's upload stream `u` (a prefetch's).
  void follows_uploads(stream_handle u) noexcept { upload_ = u; }
  /// Throws driver_error if an upload on that stream failed: waits for the stream when
  /// `wait`, else looks only if it is idle. Nothing without uploads or runtime.
  void check_uploads(bool wait, const char* what);

 private:
  driver& drv_;
  liveness alive_;
  event_handle event_;
  stream_handle upload_{};
};

/// Throws driver_error naming `what` if an upload on device stream `u` of `d` failed
/// since the last look (a failed stream-ordered prefetch or declaration).
void check_upload_stream(driver& d, stream_handle u, bool wait, const char* what);

/// One stream's claim on a chunk: the fence after the last prefetch or declared launch
/// on that stream that touched it. `writes`: that work writes the device copy (an
/// upload or a kernel that writes), so the host copy must not be refreshed before it.
/// `open_ended` (a prefetch's record): kernels enqueued on the stream after the point
/// without a declaration may use the chunk too, so it lasts until the stream is idle.
struct pin_record {
  stream_handle stream;
  std::shared_ptr<fence> point;
  bool writes = false;
  bool open_ended = false;

  /// The stream no longer needs the chunk.
  [[nodiscard]] bool passed() const noexcept {
    if (!point->done()) return false;
    if (!open_ended || !point->alive()) return true;
    try {
      return point->owner().idle(stream);
    } catch (...) {
      return true;  // a destroyed stream was drained first
    }
  }
};

}  // namespace umpager::detail
