/// @file stream.hpp
/// Owning stream (RAII over driver::create_stream) and its non-owning view.
#pragma once

#include <utility>

#include "umpager/driver.hpp"

namespace umpager {

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

class stream {
 public:
  explicit stream(driver& d) : driver_(&d), handle_(d.create_stream()) {}
  stream(stream&& o) noexcept : driver_(o.driver_), handle_(std::exchange(o.handle_, {})) {}
  stream& operator=(stream&& o) noexcept {
    if (this != &o) {
      reset();
      driver_ = o.driver_;
      handle_ = std::exchange(o.handle_, {});
    }
    return *this;
  }
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;
  ~stream() { reset(); }

  [[nodiscard]] stream_view view() const noexcept { return stream_view(*driver_, handle_); }
  operator stream_view() const noexcept { return view(); }  // NOLINT: implicit like rmm
  [[nodiscard]] stream_handle handle() const noexcept { return handle_; }
  void synchronize() const { driver_->synchronize(handle_); }
  /// Enqueues `fn` (see driver::launch).
  void launch(std::function<void()> fn) const { driver_->launch(handle_, std::move(fn)); }
  [[nodiscard]] void* native() const noexcept { return driver_->native_stream(handle_); }

 private:
  void reset() noexcept {
    if (handle_.impl != nullptr) driver_->destroy_stream(handle_);
    handle_ = {};
  }
  driver* driver_;
  stream_handle handle_;
};

}  // namespace umpager
