// Asynchronous read-ahead from storage: a resolver starts the reads of a chunk piece
// on a leased I/O engine, polls the engine's ring from its own ring (a ring_op), and
// goes back to its faults; the completion, on the same resolver, lands the pages and
// maps them (CONTINUE, which wakes the threads that faulted on them meanwhile). So a
// sequential scan keeps several read-ahead batches in flight per resolver
// (docs/architecture.md "Storage tier").
#include <poll.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <thread>

#include "region.hpp"
#include "resolver_wait.hpp"
#include "storage/io_pool.hpp"
#include "umpager/error.hpp"

namespace umpager::detail {

/// One chunk piece's reads in flight; owns itself from start until its completion.
class storage_read final : public ring_op {
 public:
  storage_read(std::shared_ptr<region> r, io_pool::lease engine, resolver_wait& ring, std::size_t c, std::size_t first,
               std::size_t end, std::vector<io_request> reqs)
      : r_(std::move(r)), engine_(std::move(engine)), ring_(ring), c_(c), first_(first), end_(end), reqs_(std::move(reqs)) {}

  /// Polls the engine's ring from the resolver's. False if it could not (the caller
  /// then finishes the read itself: wait()).
  [[nodiscard]] bool arm() noexcept {
    io_uring_sqe* sqe = ring_.prepare(*this);
    if (sqe == nullptr) return false;
    ::io_uring_prep_poll_add(sqe, engine_->readable_fd(), POLLIN);
    if (ring_.submit() == 0) return true;
    ring_.withdraw(sqe);
    return false;
  }

  /// The engine's ring has completions (or the poll failed; or the read was just
  /// started, and may have finished in start(), e.g. an engine that failed every
  /// request there: nothing would ever wake the poll): take them; once done, land.
  void complete(int res) noexcept override {
    if (res < 0) {
      finish();  // the poll itself failed: wait for the I/O here
      return;
    }
    bool done = false;
    try {
      done = engine_->progress(false);
    } catch (...) {
      done = true;  // an engine that throws has given every request it can a result
    }
    if (!done && arm()) return;
    finish();
  }

  /// Waits for the rest of the I/O, lands the pages, and ends this read.
  void finish() noexcept {
    try {
      while (!engine_->progress(true)) {
      }
    } catch (...) {
    }
    r_->finish_storage_read(*this);
    delete this;
  }

 private:
  friend class region;
  std::shared_ptr<region> r_;  ///< alive (and its views mapped) until the kernel is done with them
  io_pool::lease engine_;
  resolver_wait& ring_;
  std::size_t c_, first_, end_;
  std::vector<io_request> reqs_;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  std::uint64_t zapped_at_ = 0;  ///< the chunk's zap clock when the read started
};

storage_read* region::start_storage_read_locked(std::size_t c, std::size_t first, std::size_t end,
                                                resolver_wait& ring) noexcept {
  if (!ring.ring() || chunks_[c].reading.load(std::memory_order_relaxed) != 0) return nullptr;
  try {
    std::shared_ptr<region> self = shared_from_this();
    io_pool::lease engine = ctx_.io->acquire();
    if (engine->readable_fd() < 0) return nullptr;  // a synchronous engine
    std::vector<io_request> reqs;
    collect_reads_locked(first, end, engine->splices(), reqs);
    if (reqs.empty()) return nullptr;  // only zero pages, if any: the synchronous way
    auto* op = new storage_read(std::move(self), std::move(engine), ring, c, first, end, std::move(reqs));
    op->zapped_at_ = chunks_[c].zapped_at;
    for (std::size_t p = first; p < end; ++p) {
      if (pages_.state(p) == page_state::storage) pages_.set_reading(p, true);
    }
    chunks_[c].reading.store(1, std::memory_order_relaxed);
    try {
      op->engine_->start(op->reqs_);
    } catch (...) {
      // Nothing in flight: the requests without a result fail, and the read lands as failed.
      for (io_request& r : op->reqs_) {
        if (r.result == 0) r.result = -EIO;
      }
    }
    return op;
  } catch (...) {
    return nullptr;  // out of memory, no engine: the synchronous way reports it
  }
}

void region::finish_storage_read(storage_read& op) noexcept {
  const std::size_t c = op.c_;
  {
    std::lock_guard g(chunks_[c].lock);
    try {
      retry_reads(*op.engine_, op.reqs_);
    } catch (...) {
      // Out of memory for the retries: the failed requests' pages stay `storage`.
    }
    note_storage_read(op.t0_, op.reqs_.size(), op.engine_->queue_depth());
    char why[256] = "";
    const bool ok = land_reads_locked(op.first_, op.end_, op.reqs_, true, why, sizeof why);
    chunks_[c].reading.store(0, std::memory_order_release);
    // Mapped as read-ahead maps: not if the chunk was zapped meanwhile (a kernel may be
    // writing its device copy) or a writer is in flight; faults then map the pages.
    bool mapped = false;
    if (chunks_[c].zapped_at == op.zapped_at_ && !writers_in_flight_locked(c)) {
      const std::size_t before = unmapped_pages(op.first_, op.end_);
      mapped = map_pages(op.first_, op.end_, {}, true);
      counters::add(ctx_.count.pages_read_ahead, before - unmapped_pages(op.first_, op.end_));
    }
    // Threads that faulted on pages not mapped here (a failed read: they retry it
    // synchronously, and are poisoned if it fails again) must not wait on.
    if (!ok || !mapped) ctx_.uffd.wake(user_.data() + op.first_ * kPageSize, (op.end_ - op.first_) * kPageSize);
  }
}

std::unique_lock<std::mutex> region::lock_unread(std::size_t c) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ctx_.wait_ms);
  for (;;) {
    std::unique_lock g(chunks_[c].lock);
    if (chunks_[c].reading.load(std::memory_order_acquire) == 0) return g;
    g.unlock();
    // Its completion needs this lock, on the resolver that started it: wait unlocked.
    if (std::chrono::steady_clock::now() >= deadline) {
      throw driver_error("a read from storage in flight did not finish within " + std::to_string(ctx_.wait_ms) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

bool region::writers_in_flight_locked(std::size_t c) const noexcept { return chunks_[c].inflight.writing(); }

void region::arm_storage_read(storage_read* op) noexcept {
  if (op != nullptr) op->complete(0);  // done already (nothing reached the ring), or polled from here on
}

}  // namespace umpager::detail
