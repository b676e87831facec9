/// @file buffer.hpp
/// RAII handle of one managed allocation.
#pragma once

#include <cstddef>
#include <utility>

namespace umpager {

class runtime;

class buffer {
 public:
  buffer() noexcept = default;
  buffer(runtime* rt, void* host, void* device, std::size_t bytes) noexcept
      : rt_(rt), host_(host), device_(device), bytes_(bytes) {}
  buffer(buffer&& o) noexcept
      : rt_(std::exchange(o.rt_, nullptr)),
        host_(std::exchange(o.host_, nullptr)),
        device_(std::exchange(o.device_, nullptr)),
        bytes_(std::exchange(o.bytes_, 0)) {}
  buffer& operator=(buffer&& o) noexcept {
    if (this != &o) {
      reset();
      rt_ = std::exchange(o.rt_, nullptr);
      host_ = std::exchange(o.host_, nullptr);
      device_ = std::exchange(o.device_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  buffer(const buffer&) = delete;
  buffer& operator=(const buffer&) = delete;
  ~buffer() { reset(); }

  /// The CPU pointer (the user view).
  [[nodiscard]] void* data() const noexcept { return host_; }
  template <class T>
  [[nodiscard]] T* as() const noexcept { return static_cast<T*>(host_); }
  /// The device pointer (valid in kernels while the data is resident there).
  [[nodiscard]] void* device_data() const noexcept { return device_; }
  [[nodiscard]] std::size_t size() const noexcept { return bytes_; }
  /// Frees now (never throws; a failure is reported by the runtime's statistics and log).
  void reset() noexcept;
  /// Gives up ownership; the caller frees with runtime::free.
  void* release() noexcept {
    rt_ = nullptr;
    device_ = nullptr;
    bytes_ = 0;
    return std::exchange(host_, nullptr);
  }

 private:
  runtime* rt_ = nullptr;
  void* host_ = nullptr;
  void* device_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace umpager
