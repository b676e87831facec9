// Owning virtual-memory mapping.
#pragma once

#include <cstddef>
#include <utility>

namespace umpager::os {

class mapping {
 public:
  mapping() noexcept = default;
  mapping(void* addr, std::size_t bytes) noexcept : addr_(addr), bytes_(bytes) {}
  mapping(mapping&& o) noexcept
      : addr_(std::exchange(o.addr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  mapping& operator=(mapping&& o) noexcept;
  mapping(const mapping&) = delete;
  mapping& operator=(const mapping&) = delete;
  ~mapping() { reset(); }

  /// Reserves `bytes` of inaccessible address space aligned to `align` (a power of two).
  static mapping reserve(std::size_t bytes, std::size_t align);
  /// Maps `fd` shared over [addr, addr+bytes) (MAP_FIXED) or anywhere when addr is null.
  static mapping map_shared(int fd, std::size_t bytes, void* addr = nullptr, bool populate = false);

  [[nodiscard]] std::byte* data() const noexcept { return static_cast<std::byte*>(addr_); }
  [[nodiscard]] std::size_t size() const noexcept { return bytes_; }
  [[nodiscard]] explicit operator bool() const noexcept { return addr_ != nullptr; }
  /// Gives up ownership without unmapping.
  void* release() noexcept {
    bytes_ = 0;
    return std::exchange(addr_, nullptr);
  }
  void reset() noexcept;

 private:
  void* addr_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace umpager::os
