/// @file stream.hpp
/// Owning stream (RAII over driver::create_stream) and its non-owning view.
#pragma once

#include <atomic>
#include <memory>
#include <utility>

#include "umpager/driver.hpp"
#include "umpager/error.hpp"

namespace umpager {

namespace detail {
/// What a runtime learns of the streams it made: when one is synchronized or ends
/// (what a prefetch on it is kept for, runtime::launch). Called on the caller's thread.
class stream_observer {
 public:
  virtual ~stream_observer() = default;
  virtual void synchronized(stream_handle h) noexcept = 0;
  virtual void destroyed(stream_handle h) noexcept = 0;
};
}  // namespace detail

/// Non-owning reference to a driver stream; a default view is the runtime's own stream.
class stream_view {
 public:
  constexpr stream_view() noexcept = default;
  constexpr explicit stream_view(stream_handle h) noexcept : handle_(h) {}
  constexpr stream_view(driver& owner, stream_handle h) noexcept : handle_(h), owner_(&owner) {}
  [[nodiscard]] constexpr stream_handle handle() const noexcept { return handle_; }
  [[nodiscard]] constexpr bool is_default() const noexcept { return handle_.impl == nullptr; }
  /// The driver (device) the stream belongs to; null for a bare handle.
  [[nodiscard]] constexpr driver* owner() const noexcept { return owner_; }

 private:
  stream_handle handle_{};
  driver* owner_ = nullptr;
};

/// Owns one driver stream. A stream from runtime::create_stream may outlive the
/// runtime (or its shutdown): the driver is gone then, and with it the stream, so the
/// handle becomes inert: destruction does nothing and the other calls throw closed_error.
class stream {
 public:
  /// A stream of a driver the caller owns and keeps alive longer than the stream.
  explicit stream(driver& d) : driver_(&d), handle_(d.create_stream()) {}
  /// A stream whose driver goes away when `*alive` turns false (the runtime's drivers).
  stream(driver& d, std::shared_ptr<const std::atomic<bool>> alive)
      : driver_(&d), handle_(d.create_stream()), alive_(std::move(alive)) {}
  /// The same, telling `observer` of its synchronizations and its end.
  stream(driver& d, std::shared_ptr<const std::atomic<bool>> alive, std::shared_ptr<detail::stream_observer> observer)
      : driver_(&d), handle_(d.create_stream()), alive_(std::move(alive)), observer_(std::move(observer)) {}
  stream(stream&& o) noexcept
      : driver_(o.driver_),
        handle_(std::exchange(o.handle_, {})),
        alive_(std::move(o.alive_)),
        observer_(std::move(o.observer_)) {}
  stream& operator=(stream&& o) noexcept {
    if (this != &o) {
      reset();
      driver_ = o.driver_;
      handle_ = std::exchange(o.handle_, {});
      alive_ = std::move(o.alive_);
      observer_ = std::move(o.observer_);
    }
    return *this;
  }
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;
  ~stream() { reset(); }

  [[nodiscard]] stream_view view() const noexcept { return stream_view(*driver_, handle_); }
  operator stream_view() const noexcept { return view(); }  // NOLINT: implicit like rmm
  [[nodiscard]] stream_handle handle() const noexcept { return handle_; }
  /// False once the driver that made the stream is gone (runtime shut down).
  [[nodiscard]] bool valid() const noexcept {
    return handle_.impl != nullptr && (alive_ == nullptr || alive_->load(std::memory_order_acquire));
  }
  void synchronize() const {
    live("synchronize").synchronize(handle_);
    if (observer_) observer_->synchronized(handle_);
  }
  /// Enqueues `fn` (see driver::launch).
  void launch(std::function<void()> fn) const { live("launch").launch(handle_, std::move(fn)); }
  /// The native stream (cudaStream_t), or null once inert.
  [[nodiscard]] void* native() const noexcept { return valid() ? driver_->native_stream(handle_) : nullptr; }

 private:
  driver& live(const char* what) const {
    if (!valid()) {
      throw closed_error(std::string("stream::") + what +
                         ": the stream's runtime is shut down (or the stream was moved from)");
    }
    return *driver_;
  }
  void reset() noexcept {
    if (valid()) {
      if (observer_) observer_->destroyed(handle_);
      driver_->destroy_stream(handle_);
    }
    handle_ = {};
    alive_.reset();
    observer_.reset();
  }
  driver* driver_;
  stream_handle handle_;
  std::shared_ptr<const std::atomic<bool>> alive_;  ///< null: the caller owns the driver
  std::shared_ptr<detail::stream_observer> observer_;  ///< null: nobody to tell
};

}  // namespace umpager
