// Region chunk locks, and the proof that one is held. Whatever must run under a
// chunk's lock takes a `const locked_chunk&`, so the rule is in the signature rather
// than in a name: it cannot be called without a lock in hand. The proof names its
// chunk (index and mutex), so what a chunk's lock guards is reached only by showing
// that chunk's own proof (region_chunk's accessors check it, in every build: a
// pointer comparison).
//
// Two owners hand out proofs: chunk_lock holds one chunk's lock; chunk_run_lock holds
// a run of consecutive chunks (a block spanning several small chunks), taken in address
// order and let go in reverse, in three words whatever the run's length, so the fault
// path keeps no array of locks.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <span>

namespace umpager::detail {

/// Proof that chunk `index()`'s lock is held. Made only by the owners below, and not
/// copyable, so it lives no longer than the expression or scope that asked for it.
class locked_chunk {
 public:
  locked_chunk(const locked_chunk&) = delete;
  locked_chunk& operator=(const locked_chunk&) = delete;

  [[nodiscard]] std::size_t index() const noexcept { return index_; }
  /// True if this proves that `m` is held.
  [[nodiscard]] bool holds(const std::mutex& m) const noexcept { return mutex_ == &m; }
  /// Aborts unless this proves that `m` is held: a record guarded by `m` given
  /// another chunk's proof would be read or written unlocked.
  void check(const std::mutex& m) const noexcept {
    if (holds(m)) return;
    std::fprintf(stderr, "umpager: internal error: a chunk's state reached with chunk %zu's lock\n", index_);
    std::abort();
  }

 private:
  friend class chunk_lock;
  template <class Chunk>
  friend class chunk_run_lock;
  locked_chunk(const std::mutex& m, std::size_t index) noexcept : mutex_(&m), index_(index) {}

  const std::mutex* mutex_;
  std::size_t index_;
};

/// One chunk's lock, held (movable, like std::unique_lock).
class chunk_lock {
 public:
  chunk_lock() = default;  ///< holds nothing (a place to move a lock into)
  /// Locks chunk `index`'s mutex `m`.
  chunk_lock(std::mutex& m, std::size_t index) : lock_(m), index_(index) {}
  /// Tries to: owns_lock() says whether it did.
  chunk_lock(std::mutex& m, std::size_t index, std::try_to_lock_t) : lock_(m, std::try_to_lock), index_(index) {}

  [[nodiscard]] std::size_t index() const noexcept { return index_; }
  [[nodiscard]] bool owns_lock() const noexcept { return lock_.owns_lock(); }
  void unlock() { lock_.unlock(); }
  /// The proof that the chunk is locked (aborts if this holds nothing).
  [[nodiscard]] locked_chunk token() const noexcept {
    if (!lock_.owns_lock()) {
      std::fprintf(stderr, "umpager: internal error: proof asked of chunk %zu's lock, not held\n", index_);
      std::abort();
    }
    return locked_chunk(*lock_.mutex(), index_);
  }

 private:
  std::unique_lock<std::mutex> lock_;
  std::size_t index_ = 0;
};

/// The locks of chunks [first, end) of `chunks` (any type with a `std::mutex lock`),
/// taken in address order (the order every multi-chunk holder uses) and let go in
/// reverse. Not copyable or movable.
template <class Chunk>
class chunk_run_lock {
 public:
  chunk_run_lock(std::span<Chunk> chunks, std::size_t first, std::size_t end)
      : run_(chunks.subspan(first, end - first)), first_(first) {
    for (Chunk& c : run_) c.lock.lock();
  }
  ~chunk_run_lock() {
    for (std::size_t i = run_.size(); i-- > 0;) run_[i].lock.unlock();
  }
  chunk_run_lock(const chunk_run_lock&) = delete;
  chunk_run_lock& operator=(const chunk_run_lock&) = delete;

  [[nodiscard]] std::size_t first() const noexcept { return first_; }
  [[nodiscard]] std::size_t end() const noexcept { return first_ + run_.size(); }
  /// The proof that chunk `c` of the run is locked (aborts if `c` is not in the run).
  [[nodiscard]] locked_chunk token(std::size_t c) const noexcept {
    if (c < first_ || c - first_ >= run_.size()) {
      std::fprintf(stderr, "umpager: internal error: proof asked of chunk %zu, outside the run [%zu, %zu) held\n", c,
                   first_, end());
      std::abort();
    }
    return locked_chunk(run_[c - first_].lock, c);
  }

 private:
  std::span<Chunk> run_;
  std::size_t first_;
};

}  // namespace umpager::detail
