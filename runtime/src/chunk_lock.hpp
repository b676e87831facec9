// A region chunk's lock, held. Whatever must run under a chunk's lock takes a
// `const chunk_lock&`, so the rule is in the signature rather than in a name: it
// cannot be called without a lock in hand, and the lock names its chunk.
#pragma once

#include <cassert>
#include <cstddef>
#include <mutex>

namespace umpager::detail {

class chunk_lock {
 public:
  chunk_lock() = default;  ///< holds nothing (a place to move a lock into)
  /// Locks chunk `index`'s mutex `m`.
  chunk_lock(std::mutex& m, std::size_t index) : lock_(m), index_(index) {}
  /// Tries to: owns_lock() says whether it did.
  chunk_lock(std::mutex& m, std::size_t index, std::try_to_lock_t) : lock_(m, std::try_to_lock), index_(index) {}

  [[nodiscard]] std::size_t index() const noexcept { return index_; }
  [[nodiscard]] bool owns_lock() const noexcept { return lock_.owns_lock(); }
  /// True if this holds `m` (the check of functions that take a lock as proof).
  [[nodiscard]] bool holds(const std::mutex& m) const noexcept { return lock_.owns_lock() && lock_.mutex() == &m; }
  void unlock() { lock_.unlock(); }

 private:
  std::unique_lock<std::mutex> lock_;
  std::size_t index_ = 0;
};

}  // namespace umpager::detail
