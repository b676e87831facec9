// The io_uring engine: keeps up to queue_depth requests in flight, resubmits the rest
// of short transfers, retries EAGAIN/EINTR. Submission and completion happen on the
// calling thread (run), or, started asynchronously, by whoever calls progress() when
// readable_fd() polls readable (a resolver, from its own ring: region_storage_async.cpp).
// A read with a target file (the runtime's memfd) goes through one of a few pipes:
// file -> pipe, then pipe -> target at its offset; from an O_DIRECT file as a linked
// pair of IORING_OP_SPLICE, from a buffered one with splice(2) here (docs/bench.md
// "Session 5: splice ingest").
#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "os/fd.hpp"
#include "os/io_ring.hpp"
#include "umpager/error.hpp"
#include "umpager/io_engine.hpp"

namespace umpager {
namespace {

/// Pipes for splices in flight, and the bytes one splice moves at most (a pipe of this
/// size; measured in docs/bench.md: 256 KiB and 1 MiB splice alike, 64 KiB is slower).
constexpr unsigned kMaxPipes = 8;
constexpr std::size_t kPipeBytes = std::size_t{256} << 10;

/// user_data: request index << 2 | what completed.
enum : std::uint64_t { tag_rw = 0, tag_in = 1, tag_out = 2 };

struct splice_pipe {
  os::unique_fd r, w;
  std::size_t capacity = 0;
};

/// (Re)opens `p`, sized kPipeBytes where the kernel allows: a smaller pipe (the per-user
/// pipe quota, fs.pipe-max-size) only means shorter splices. -errno if none can be made.
int open_pipe(splice_pipe& p) noexcept {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) return -errno;
  p.r.reset(fds[0]);
  p.w.reset(fds[1]);
  (void)::fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(kPipeBytes));
  const int cap = ::fcntl(fds[1], F_GETPIPE_SZ);
  p.capacity = cap > 0 ? static_cast<std::size_t>(cap) : 4096;
  return 0;
}

/// Whether reads of `fd` bypass the page cache (O_DIRECT).
bool direct_source(int fd) noexcept {
  const int fl = ::fcntl(fd, F_GETFL);
  return fl >= 0 && (fl & O_DIRECT) != 0;
}

/// Moves `n` bytes from the pipe to `fd` at `off` (splice(2), on this thread): the
/// bytes moved, or -errno if none could be.
ssize_t drain_to(const splice_pipe& p, int fd, std::uint64_t off, std::size_t n) noexcept {
  std::size_t moved = 0;
  while (moved < n) {
    auto o = static_cast<loff_t>(off + moved);
    const ssize_t k = ::splice(p.r.get(), nullptr, fd, &o, n - moved, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return moved != 0 ? static_cast<ssize_t>(moved) : (k < 0 ? -errno : 0);
    moved += static_cast<std::size_t>(k);
  }
  return static_cast<ssize_t>(moved);
}

class uring_engine final : public io_engine {
 public:
  explicit uring_engine(unsigned depth) : depth_(depth) {
    UMPAGER_EXPECTS(depth >= 1 && depth <= 4096, "io_uring engine: queue depth must be 1..4096");
    try {
      // Not SINGLE_ISSUER: the pool lends an engine to different threads over time.
      ring_.emplace(depth, IORING_SETUP_COOP_TASKRUN);
      uring_splice_ = depth >= 2 && ring_->supports(IORING_OP_SPLICE);
    } catch (const std::exception& e) {
      throw unsupported(std::string("io_uring unavailable (") + e.what() +
                        "): the storage tier needs Linux 5.6+ with io_uring allowed (sysctl kernel.io_uring_disabled=0)");
    }
  }
  uring_engine(const uring_engine&) = delete;
  uring_engine& operator=(const uring_engine&) = delete;

  void run(umpager::span<io_request> batch) override {
    start(batch);
    while (!progress(true)) {
    }
  }

  void start(umpager::span<io_request> batch) override {
    batch_ = batch;
    inflight_ = 0;
    done_.assign(batch.size(), 0);
    pair_.assign(batch.size(), splice_state{});
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
      if (pending_.empty() && inflight_ == 0) break;  // all done on this thread (splice_now)
      if (!wait && ::io_uring_cq_ready(ring_->get()) == 0) return false;
    }
    return true;
  }

  [[nodiscard]] int readable_fd() const noexcept override { return ring_->fd(); }
  [[nodiscard]] bool splices() const noexcept override { return true; }
  [[nodiscard]] unsigned queue_depth() const noexcept override { return depth_; }
  [[nodiscard]] std::string name() const override { return "io_uring"; }

 private:
  /// The ring itself failed: requests not finished fail, and so does every later batch
  /// (requests may still be in flight in the kernel: their buffers are not reused here).
  void fail_all(umpager::span<io_request> batch, int rc) noexcept {
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].result == 0 && batch[i].bytes != 0) batch[i].result = rc;
    }
    broken_ = true;
    pipes_.clear();  // they may hold bytes of requests that never finished
    free_pipes_.clear();
  }

  /// A splice's state: its pipe, and the two halves' results once completed.
  struct splice_state {
    int pipe = -1;
    unsigned waiting = 0;  ///< completions still to come
    int in = 0, out = 0;
  };

  /// A pipe for one splice (made on first need); -1 if none is free (or none can be
  /// made: `why` gets -errno when there is no pipe at all).
  int take_pipe(int& why) noexcept {
    if (!free_pipes_.empty()) {
      const int p = free_pipes_.back();
      free_pipes_.pop_back();
      return p;
    }
    if (pipes_.size() >= kMaxPipes) return -1;
    splice_pipe p;
    if (const int rc = open_pipe(p); rc < 0) {
      why = rc;
      return -1;
    }
    try {
      pipes_.push_back(std::move(p));
      free_pipes_.reserve(pipes_.size());
    } catch (...) {
      why = -ENOMEM;
      return -1;
    }
    return static_cast<int>(pipes_.size() - 1);
  }

  /// Gives a pipe back; one that may still hold bytes is closed (made again on need).
  void give_pipe(int p, bool clean) noexcept {
    if (!clean && open_pipe(pipes_[p]) < 0) {
      pipes_[p].capacity = 0;  // unusable: never handed out again
      return;
    }
    if (pipes_[p].capacity != 0) free_pipes_.push_back(p);
  }

  /// The synchronous way (no IORING_OP_SPLICE): the whole request on this thread.
  void splice_now(io_request& r, std::size_t i) noexcept {
    int why = -EMFILE;
    const int p = take_pipe(why);
    if (p < 0) {
      r.result = why;
      return;
    }
    bool clean = true;
    while (done_[i] < r.bytes) {
      auto in_off = static_cast<loff_t>(r.offset + done_[i]);
      const std::size_t len = std::min(r.bytes - done_[i], pipes_[p].capacity);
      const ssize_t n = ::splice(r.fd, &in_off, pipes_[p].w.get(), nullptr, len, 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        r.result = n < 0 && done_[i] == 0 ? -errno : static_cast<ssize_t>(done_[i]);
        give_pipe(p, true);
        return;
      }
      const ssize_t m = drain_to(pipes_[p], r.target_fd, r.target_offset + done_[i], static_cast<std::size_t>(n));
      if (m > 0) done_[i] += static_cast<std::size_t>(m);
      if (m != n) {
        clean = false;
        r.result = m < 0 ? m : static_cast<ssize_t>(done_[i]);
        give_pipe(p, clean);
        return;
      }
    }
    r.result = static_cast<ssize_t>(done_[i]);
    give_pipe(p, clean);
  }

  /// Queues request i's next splice pair on pipe p (two SQEs, linked).
  void prep_pair(std::size_t i, int p) noexcept {
    io_request& r = batch_[i];
    const std::size_t len = std::min(r.bytes - done_[i], pipes_[p].capacity);
    io_uring_sqe* in = ::io_uring_get_sqe(ring_->get());
    io_uring_sqe* out = ::io_uring_get_sqe(ring_->get());
    ::io_uring_prep_splice(in, r.fd, static_cast<std::int64_t>(r.offset + done_[i]), pipes_[p].w.get(), -1,
                           static_cast<unsigned>(len), 0);
    in->flags |= IOSQE_IO_LINK;  // the second half runs only once the first moved all `len`
    ::io_uring_sqe_set_data64(in, i << 2 | tag_in);
    ::io_uring_prep_splice(out, pipes_[p].r.get(), -1, r.target_fd,
                           static_cast<std::int64_t>(r.target_offset + done_[i]), static_cast<unsigned>(len), 0);
    ::io_uring_sqe_set_data64(out, i << 2 | tag_out);
    pair_[i] = splice_state{p, 2, 0, 0};
    inflight_ += 2;
  }

  /// Both halves of request i's pair completed: count what reached the target, move
  /// what a short first half left in the pipe, and queue the rest or set the result.
  void finish_pair(std::size_t i) noexcept {
    io_request& r = batch_[i];
    splice_state& s = pair_[i];
    const int p = s.pipe;
    s.pipe = -1;
    bool clean = true;
    ssize_t error = 0;
    if (s.in > 0 && s.out == -ECANCELED) {
      // A short first half (the end of the file, a smaller pipe) cancels the linked
      // second: its bytes are still in the pipe.
      const ssize_t m = drain_to(pipes_[p], r.target_fd, r.target_offset + done_[i], static_cast<std::size_t>(s.in));
      if (m > 0) done_[i] += static_cast<std::size_t>(m);
      if (m != s.in) clean = false, error = m < 0 ? m : 0;
    } else if (s.in > 0) {
      if (s.out > 0) done_[i] += static_cast<std::size_t>(s.out);
      if (s.out != s.in) clean = false, error = s.out < 0 ? s.out : 0;  // the target refused (ENOSPC, ...)
    }
    give_pipe(p, clean);
    if (s.in == -EAGAIN || s.in == -EINTR) {
      pending_.push_back(i);
    } else if (s.in < 0) {
      r.result = done_[i] != 0 ? static_cast<ssize_t>(done_[i]) : s.in;
    } else if (error < 0) {
      r.result = error;
    } else if (s.in > 0 && clean && done_[i] < r.bytes) {
      pending_.push_back(i);
    } else {
      r.result = static_cast<ssize_t>(done_[i]);  // the end of the file, or the target took less
    }
  }

  /// Submits what fits of pending_ (then waits for a completion with `wait`); false if the ring failed (every request then has its result).
  bool submit_pending(bool wait) noexcept {
    while (!pending_.empty() && inflight_ < depth_) {
      const std::size_t i = pending_.back();
      io_request& r = batch_[i];
      if (r.target_fd >= 0 && r.op == io_request::kind::read) {
        // A buffered source splices on this thread: the kernel's read-ahead of the file
        // already runs ahead asynchronously, and a ring's splice would run on an io-wq
        // worker, a thread hop per half (measured slower: docs/bench.md "Session 5").
        // An O_DIRECT source (the spill file) blocks per splice: pairs in flight on the ring.
        if (!uring_splice_ || !direct_source(r.fd)) {
          pending_.pop_back();
          splice_now(r, i);
          continue;
        }
        if (inflight_ + 2 > depth_ || ::io_uring_sq_space_left(ring_->get()) < 2) break;
        int why = 0;
        const int p = take_pipe(why);
        if (p < 0) {
          if (inflight_ > 0) break;  // every pipe busy: after the next completion
          pending_.pop_back();
          r.result = why != 0 ? why : -EMFILE;
          continue;
        }
        pending_.pop_back();
        prep_pair(i, p);
        continue;
      }
      io_uring_sqe* sqe = ::io_uring_get_sqe(ring_->get());
      if (sqe == nullptr) break;
      pending_.pop_back();
      auto* buf = static_cast<char*>(r.buffer) + done_[i];
      const auto len = static_cast<unsigned>(r.bytes - done_[i]);
      if (r.op == io_request::kind::read) ::io_uring_prep_read(sqe, r.fd, buf, len, r.offset + done_[i]);
      else ::io_uring_prep_write(sqe, r.fd, buf, len, r.offset + done_[i]);
      ::io_uring_sqe_set_data64(sqe, i << 2 | tag_rw);
      ++inflight_;
    }
    wait = wait && inflight_ > 0;  // requests done on this thread (splice_now) leave nothing to wait for
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
      const std::uint64_t data = ::io_uring_cqe_get_data64(cqe);
      const std::size_t i = data >> 2;
      const int res = cqe->res;
      ::io_uring_cqe_seen(ring_->get(), cqe);
      --inflight_;
      if ((data & 3) != tag_rw) {
        splice_state& s = pair_[i];
        ((data & 3) == tag_in ? s.in : s.out) = res;
        if (--s.waiting == 0) finish_pair(i);
        continue;
      }
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
  umpager::span<io_request> batch_;
  bool broken_ = false;
  std::optional<os::io_ring> ring_;
  std::vector<std::size_t> done_;     ///< bytes done per request of the running batch
  std::vector<std::size_t> pending_;  ///< requests (re)submitted next
  std::vector<splice_state> pair_;    ///< per request of the running batch: its splice in flight
  std::vector<splice_pipe> pipes_;    ///< made on first need, at most kMaxPipes
  std::vector<int> free_pipes_;
  bool uring_splice_ = false;  ///< IORING_OP_SPLICE pairs; else splice(2) on the calling thread
};

}  // namespace

std::unique_ptr<io_engine> make_uring_engine(unsigned queue_depth) {
  return std::make_unique<uring_engine>(queue_depth);
}

}  // namespace umpager
