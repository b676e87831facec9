// umpager::span<T>: a view of contiguous elements, for the driver and I/O engine
// interfaces. The public headers are C++17, where std::span does not exist; one type
// in every language mode keeps those virtual signatures the same in the library and
// in a program built with another -std. It converts from anything with data() and
// size() (std::vector, std::array, std::span).
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

namespace umpager {

template <class T>
class span {
  template <class C>
  using element_of = std::remove_pointer_t<decltype(std::declval<C&>().data())>;
  template <class C>
  using from_container = std::enable_if_t<!std::is_same_v<std::remove_cv_t<C>, span> &&
                                          std::is_convertible_v<element_of<C> (*)[], T (*)[]>>;

 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  using size_type = std::size_t;
  using iterator = T*;

  constexpr span() noexcept = default;
  constexpr span(T* data, std::size_t size) noexcept : data_(data), size_(size) {}
  template <std::size_t N>
  constexpr span(T (&a)[N]) noexcept : data_(a), size_(N) {}  // NOLINT(google-explicit-constructor)
  template <class C, class = from_container<C>>
  constexpr span(C& c) noexcept(noexcept(c.data())) : data_(c.data()), size_(c.size()) {}  // NOLINT
  template <class C, class = from_container<const C>>
  constexpr span(const C& c) noexcept(noexcept(c.data())) : data_(c.data()), size_(c.size()) {}  // NOLINT
  template <class U, class = std::enable_if_t<std::is_convertible_v<U (*)[], T (*)[]>>>
  constexpr span(span<U> o) noexcept : data_(o.data()), size_(o.size()) {}  // NOLINT

  [[nodiscard]] constexpr T* data() const noexcept { return data_; }
  [[nodiscard]] constexpr std::size_t size() const noexcept { return size_; }
  [[nodiscard]] constexpr std::size_t size_bytes() const noexcept { return size_ * sizeof(T); }
  [[nodiscard]] constexpr bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] constexpr T* begin() const noexcept { return data_; }
  [[nodiscard]] constexpr T* end() const noexcept { return data_ + size_; }
  [[nodiscard]] constexpr T& operator[](std::size_t i) const noexcept { return data_[i]; }
  [[nodiscard]] constexpr T& front() const noexcept { return data_[0]; }
  [[nodiscard]] constexpr T& back() const noexcept { return data_[size_ - 1]; }
  /// As std::span: the caller keeps offset + count within size().
  [[nodiscard]] constexpr span first(std::size_t count) const noexcept { return {data_, count}; }
  [[nodiscard]] constexpr span last(std::size_t count) const noexcept { return {data_ + size_ - count, count}; }
  [[nodiscard]] constexpr span subspan(std::size_t offset) const noexcept { return {data_ + offset, size_ - offset}; }
  [[nodiscard]] constexpr span subspan(std::size_t offset, std::size_t count) const noexcept {
    return {data_ + offset, count};
  }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace umpager
