/// @file allocator.hpp
/// @brief A standard allocator of managed memory: `std::vector<T, umpager::allocator<T>>`.
#pragma once

#include <cstddef>
#include <limits>
#include <new>

#include "umpager/default_runtime.hpp"
#include "umpager/runtime.hpp"

namespace umpager {

/// Allocates from a runtime (the one given, else default_runtime()). Each allocation
/// is one managed allocation, rounded up to the runtime's block size (64 KiB by
/// default), so it suits large arrays, not many small nodes. The host pointer is what
/// containers hold; runtime::device_pointer gives the device address for kernels.
/// Allocators compare equal when they use the same runtime.
template <class T>
class allocator {
 public:
  using value_type = T;

  /// Uses the default runtime (created on the first allocation).
  allocator() noexcept = default;
  /// Uses `rt`, which must outlive every allocation made through this allocator.
  explicit allocator(runtime& rt) noexcept : rt_(&rt) {}
  template <class U>
  allocator(const allocator<U>& other) noexcept : rt_(other.rt_) {}  // NOLINT: rebind, as std::allocator

  /// Throws std::bad_array_new_length past the size limit, else what runtime::allocate throws.
  [[nodiscard]] T* allocate(std::size_t n) {
    if (n == 0) return nullptr;
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(target().allocate(n * sizeof(T)).release());
  }

  /// Never throws: a runtime already shut down has freed the memory itself.
  void deallocate(T* p, std::size_t /*n*/) noexcept {
    if (p == nullptr) return;
    try {
      target().free(p);
    } catch (...) {  // closed runtime: nothing left to free
    }
  }

  /// The runtime given at construction; null means the default runtime.
  [[nodiscard]] runtime* resource() const noexcept { return rt_; }

  template <class U>
  friend bool operator==(const allocator& a, const allocator<U>& b) noexcept {
    return a.resource() == b.resource();
  }

 private:
  template <class U>
  friend class allocator;
  runtime& target() const { return rt_ != nullptr ? *rt_ : default_runtime(); }
  runtime* rt_ = nullptr;
};

}  // namespace umpager
