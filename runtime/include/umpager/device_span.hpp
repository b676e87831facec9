/// @file device_span.hpp
/// An accessor for kernels over managed memory that need not be resident: element i
/// is found through the allocation's chunk table (one 8-byte entry a chunk, kept by
/// the runtime), in device memory where its chunk is resident on the kernel's device,
/// else in host memory, zero-copy. Made by runtime::reach; valid in kernels of
/// launches that declare its range `reachable`, and of launches with no set (which
/// reach every allocation an accessor was made for). C++17, host and device code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <type_traits>

#if defined(__CUDACC__)
#define UMPAGER_HD __host__ __device__
#else
#define UMPAGER_HD
#endif

namespace umpager {

/// A chunk table entry's low bit: the chunk is reached in host memory (addresses are
/// page-aligned, so the bit is free).
inline constexpr std::uint64_t kRemoteEntry = 1;

template <class T>
class device_span {
 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using reference = T&;

  class iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = std::remove_cv_t<T>;
    using difference_type = std::ptrdiff_t;
    using pointer = T*;
    using reference = T&;

    iterator() = default;
    UMPAGER_HD iterator(const device_span* s, std::size_t i) : span_(*s), i_(static_cast<difference_type>(i)) {}
    UMPAGER_HD reference operator*() const { return span_[static_cast<std::size_t>(i_)]; }
    UMPAGER_HD reference operator[](difference_type n) const { return span_[static_cast<std::size_t>(i_ + n)]; }
    UMPAGER_HD iterator& operator++() { ++i_; return *this; }
    UMPAGER_HD iterator operator++(int) { iterator t = *this; ++i_; return t; }
    UMPAGER_HD iterator& operator--() { --i_; return *this; }
    UMPAGER_HD iterator operator--(int) { iterator t = *this; --i_; return t; }
    UMPAGER_HD iterator& operator+=(difference_type n) { i_ += n; return *this; }
    UMPAGER_HD iterator& operator-=(difference_type n) { i_ -= n; return *this; }
    UMPAGER_HD friend iterator operator+(iterator a, difference_type n) { return a += n; }
    UMPAGER_HD friend iterator operator+(difference_type n, iterator a) { return a += n; }
    UMPAGER_HD friend iterator operator-(iterator a, difference_type n) { return a -= n; }
    UMPAGER_HD friend difference_type operator-(const iterator& a, const iterator& b) { return a.i_ - b.i_; }
    UMPAGER_HD friend bool operator==(const iterator& a, const iterator& b) { return a.i_ == b.i_; }
    UMPAGER_HD friend bool operator!=(const iterator& a, const iterator& b) { return a.i_ != b.i_; }
    UMPAGER_HD friend bool operator<(const iterator& a, const iterator& b) { return a.i_ < b.i_; }
    UMPAGER_HD friend bool operator>(const iterator& a, const iterator& b) { return a.i_ > b.i_; }
    UMPAGER_HD friend bool operator<=(const iterator& a, const iterator& b) { return a.i_ <= b.i_; }
    UMPAGER_HD friend bool operator>=(const iterator& a, const iterator& b) { return a.i_ >= b.i_; }

   private:
    device_span span_{};
    difference_type i_ = 0;
  };

  device_span() = default;
  /// What runtime::reach fills in: the allocation's table and access counters on the
  /// device, the byte offset of element 0 in the allocation, the element count and
  /// log2 of the chunk size.
  UMPAGER_HD device_span(const std::uint64_t* table, unsigned* counts, std::size_t first_byte, std::size_t size,
                         unsigned chunk_shift)
      : table_(table), counts_(counts), first_(first_byte), size_(size), shift_(chunk_shift) {}

  UMPAGER_HD reference operator[](std::size_t i) const {
    const std::uint64_t at = first_ + i * sizeof(T);
    const std::uint64_t chunk = at >> shift_;
#if defined(__CUDA_ARCH__)
    const std::uint64_t entry = table_[chunk];
#else
    // The runtime rewrites entries beside (of chunks this kernel does not reach) while it runs.
    const std::uint64_t entry = __atomic_load_n(table_ + chunk, __ATOMIC_RELAXED);
#endif
    if ((entry & kRemoteEntry) != 0 && counts_ != nullptr) count(chunk);
    return *reinterpret_cast<T*>((entry & ~kRemoteEntry) + (at & ((std::uint64_t{1} << shift_) - 1)));
  }
  [[nodiscard]] UMPAGER_HD std::size_t size() const { return size_; }
  [[nodiscard]] UMPAGER_HD bool empty() const { return size_ == 0; }
  [[nodiscard]] UMPAGER_HD iterator begin() const { return iterator(this, 0); }
  [[nodiscard]] UMPAGER_HD iterator end() const { return iterator(this, size_); }
  /// The first `n` elements from `offset` (no bounds check on the device).
  [[nodiscard]] UMPAGER_HD device_span subspan(std::size_t offset, std::size_t n) const {
    return device_span(table_, counts_, first_ + offset * sizeof(T), n, shift_);
  }

 private:
  /// One access reached host memory: the counters the runtime migrates by.
  UMPAGER_HD void count(std::uint64_t chunk) const {
#if defined(__CUDA_ARCH__)
    atomicAdd(counts_ + chunk, 1u);
#else
    __atomic_fetch_add(counts_ + chunk, 1u, __ATOMIC_RELAXED);
#endif
  }

  const std::uint64_t* table_ = nullptr;
  unsigned* counts_ = nullptr;
  std::uint64_t first_ = 0;
  std::size_t size_ = 0;
  unsigned shift_ = 21;
};

}  // namespace umpager
