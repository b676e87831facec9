// The io_uring engine: keeps up to queue_depth requests in flight, resubmits the rest
// of short transfers, retries EAGAIN/EINTR. Submission and completion happen on the
// calling thread (run), or, started asynchronously, by whoever calls progress() when
// readable_fd() polls readable (a resolver, from its own ring: region_storage_async.cpp).
#include <liburing.h>

#include <cerrno>
#include <optional>
#include <cstring>
#include <vector>

#include "os/io_ring.hpp"
#include "umpager/error.hpp"
#include "umpager/io_engine.hpp"

namespace umpager {
namespace {

class uring_engine final : public io_engine {
 public:
  explicit uring_engine(unsigned depth) : depth_(depth) {
    UMPAGER_EXPECTS(depth >= 1 && depth <= 4096, "io_uring engine: queue depth must be 1..4096");
    try {
      // Not SINGLE_ISSUER: the pool lends an engine to different threads over time.
      ring_.emplace(depth, IORING_SETUP_COOP_TASKRUN);
    } catch (const std::exception& e) {
      throw unsupported(std::string("io_uring unavailable (") + e.what() +
                        "): the storage tier needs Linux 5.6+ with io_uring allowed (sysctl kernel.io_uring_disabled=0)");
    }
  }
  uring_engine(const uring_engine&) = delete;
  uring_engine& operator=(const uring_engine&) = delete;

  void run(std::span<io_request> batch) override {
    start(batch);
    while (!progress(true)) {
    }
  }

  void start(std::span<io_request> batch) override {
    batch_ = batch;
    inflight_ = 0;
    done_.assign(batch.size(), 0);
    pending_.clear();
    if (broken_) {
      for (io_request& r : batch) r.result = -EIO;
      return;
    }
    for (std::size_t i = batch.size(); i-- > 0;) {
      batch[i].result = 0;
      if (batch[i].bytes == 0) continue;
      pending_.push_back(i);  // popped from the back: submitted in order
    }
    submit_pending(false);
  }

  bool progress(bool wait) override {
    while (!pending_.empty() || inflight_ > 0) {
      reap();
      if (pending_.empty() && inflight_ == 0) break;
      const bool more = submit_pending(wait);
      if (!more) return true;  // the ring failed: every request has its result
      if (!wait && ::io_uring_cq_ready(ring_->get()) == 0) return false;
    }
    return true;
  }

  [[nodiscard]] int readable_fd() const noexcept override { return ring_->fd(); }
  [[nodiscard]] unsigned queue_depth() const noexcept override { return depth_; }
  [[nodiscard]] std::string name() const override { return "io_uring"; }

 private:
  /// The ring itself failed: requests not finished fail, and so does every later batch
  /// (requests may still be in flight in the kernel: their buffers are not reused here).
  void fail_all(std::span<io_request> batch, int rc) noexcept {
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].result == 0 && batch[i].bytes != 0) batch[i].result = rc;
    }
    broken_ = true;
  }

  /// Submits what fits of pending_ (then waits for a completion with `wait`); false if the ring failed (every request then has its result).
  bool submit_pending(bool wait) noexcept {
    while (!pending_.empty() && inflight_ < depth_) {
      io_uring_sqe* sqe = ::io_uring_get_sqe(ring_->get());
      if (sqe == nullptr) break;
      const std::size_t i = pending_.back();
      pending_.pop_back();
      io_request& r = batch_[i];
      auto* buf = static_cast<char*>(r.buffer) + done_[i];
      const auto len = static_cast<unsigned>(r.bytes - done_[i]);
      if (r.op == io_request::kind::read) ::io_uring_prep_read(sqe, r.fd, buf, len, r.offset + done_[i]);
      else ::io_uring_prep_write(sqe, r.fd, buf, len, r.offset + done_[i]);
      ::io_uring_sqe_set_data64(sqe, i);
      ++inflight_;
    }
    const int rc = wait ? ::io_uring_submit_and_wait(ring_->get(), 1) : ::io_uring_submit(ring_->get());
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
      fail_all(batch_, rc);  // the ring itself failed: nothing more completes
      pending_.clear();
      inflight_ = 0;
      return false;
    }
    return true;
  }

  /// Takes every completion there is: results, or the rest of a short transfer queued again.
  void reap() noexcept {
    io_uring_cqe* cqe = nullptr;
    while (::io_uring_peek_cqe(ring_->get(), &cqe) == 0) {
      const std::size_t i = ::io_uring_cqe_get_data64(cqe);
      const int res = cqe->res;
      ::io_uring_cqe_seen(ring_->get(), cqe);
      --inflight_;
      io_request& r = batch_[i];
      if (res == -EAGAIN || res == -EINTR) {
        pending_.push_back(i);
      } else if (res < 0) {
        r.result = res;
      } else {
        done_[i] += static_cast<std::size_t>(res);
        // 0: end of file (a read) or no progress (a write): stop with what is done.
        if (res > 0 && done_[i] < r.bytes) pending_.push_back(i);
        else r.result = static_cast<ssize_t>(done_[i]);
      }
    }
  }

  unsigned depth_;
  unsigned inflight_ = 0;
  std::span<io_request> batch_;
  bool broken_ = false;
  std::optional<os::io_ring> ring_;
  std::vector<std::size_t> done_;     ///< bytes done per request of the running batch
  std::vector<std::size_t> pending_;  ///< requests (re)submitted next
};

}  // namespace

std::unique_ptr<io_engine> make_uring_engine(unsigned queue_depth) {
  return std::make_unique<uring_engine>(queue_depth);
}

}  // namespace umpager
