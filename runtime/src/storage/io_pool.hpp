// I/O engines for the threads that do storage I/O at the same time (resolvers,
// prefetching and flushing threads): each takes one for a batch and gives it back.
// Engines are made on first need, so a runtime that never touches storage opens no ring.
#pragma once

#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "umpager/error.hpp"
#include "umpager/io_engine.hpp"

namespace umpager::detail {

class io_pool {
 public:
  explicit io_pool(io_engine_factory make) : make_(std::move(make)) {}
  io_pool(const io_pool&) = delete;
  io_pool& operator=(const io_pool&) = delete;

  /// One engine, returned to the pool when the lease ends.
  class lease {
   public:
    lease(io_pool& p, std::unique_ptr<io_engine> e) : pool_(p), e_(std::move(e)) {}
    ~lease() {
      if (!e_) return;  // moved from
      std::lock_guard g(pool_.mutex_);
      try {
        pool_.idle_.push_back(std::move(e_));
      } catch (...) {
        // out of memory: the engine is closed instead
      }
    }
    lease(lease&&) noexcept = default;  // an asynchronous read keeps its engine (region_storage_async.cpp)
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    io_engine& operator*() const noexcept { return *e_; }
    io_engine* operator->() const noexcept { return e_.get(); }

   private:
    io_pool& pool_;
    std::unique_ptr<io_engine> e_;
  };

  /// Throws what the factory throws (io_uring unavailable).
  [[nodiscard]] lease acquire() {
    {
      std::lock_guard g(mutex_);
      if (!idle_.empty()) {
        auto e = std::move(idle_.back());
        idle_.pop_back();
        return lease(*this, std::move(e));
      }
    }
    auto e = make_();
    UMPAGER_EXPECTS(e != nullptr, "I/O engine factory returned null");
    return lease(*this, std::move(e));
  }

 private:
  io_engine_factory make_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<io_engine>> idle_;
};

}  // namespace umpager::detail
