// What one resolver sleeps on: the userfaultfd, the read-ahead eventfd and the
// stop eventfd, through its own io_uring (multishot polls), or through epoll where
// the kernel refuses a ring (io_uring disabled, a seccomp filter) or
// UMPAGER_RESOLVER_WAIT=epoll asks for it. The ring is also the seam for I/O the
// resolver itself submits (the storage tier): a completion whose user_data is not
// one of the fixed sources is a ring_op, completed on the resolver's thread
// (docs/architecture.md "One resolver loop").
#pragma once

#include <cstdint>
#include <optional>

#include "os/fd.hpp"
#include "os/io_ring.hpp"
#include "umpager/config.hpp"

namespace umpager::detail {

/// An operation submitted on a resolver's ring; its completion runs on that resolver.
class ring_op {
 public:
  /// `res`: the CQE's result (bytes, or -errno). Must not throw.
  virtual void complete(int res) noexcept = 0;

 protected:
  ~ring_op() = default;
};

class resolver_wait {
 public:
  /// Bits of what is ready.
  static constexpr unsigned kFaults = 1, kReadahead = 2, kStop = 4;

  /// Throws system_error if neither a ring nor epoll can be had, and unsupported
  /// when `kind` is io_uring and the kernel refuses the ring. start() before use.
  resolver_wait(int uffd, int readahead_fd, int stop_fd, resolver_wait_kind kind);
  ~resolver_wait();
  resolver_wait(const resolver_wait&) = delete;
  resolver_wait& operator=(const resolver_wait&) = delete;

  /// On the thread that will wait, before the first wait: enables and arms the ring
  /// (falling back to epoll, with a warning, if it cannot). False if nothing to wait
  /// on could be had.
  [[nodiscard]] bool start() noexcept;
  /// What is ready now, never sleeping. On the ring no system call: it reads the
  /// completion queue (and runs the ring_ops completed meanwhile).
  [[nodiscard]] unsigned peek() noexcept;
  /// Sleeps until something is ready; kStop also when waiting itself fails for good.
  [[nodiscard]] unsigned sleep() noexcept;
  [[nodiscard]] bool ring() const noexcept { return ring_.has_value(); }

  /// A submission slot for `op` (ring only; null when the queue is full or there is
  /// no ring): fill it with io_uring_prep_*, then submit().
  [[nodiscard]] io_uring_sqe* prepare(ring_op& op) noexcept;
  /// Submits what was prepared; -errno on failure.
  int submit() noexcept;
  /// Turns a prepared slot whose submit() failed into a no-op nobody completes (it may
  /// still reach the kernel with a later submit): its op is the caller's again.
  void withdraw(io_uring_sqe* sqe) noexcept;
  /// Before the thread ends: waits until every ring_op submitted has completed.
  void drain() noexcept;

 private:
  bool setup_epoll() noexcept;
  /// (Re)arms the polls whose last completion ended them; false if it could not.
  bool arm() noexcept;
  unsigned reap() noexcept;
  unsigned epoll_wait(int timeout_ms) noexcept;

  int fds_[3] = {-1, -1, -1};  ///< by source: userfaultfd, read-ahead, stop
  unsigned armed_ = 0;         ///< sources whose poll is in flight (source bits)
  unsigned ops_ = 0;           ///< ring_ops prepared and not completed yet
  std::optional<os::io_ring> ring_;
  os::unique_fd epoll_;
};

}  // namespace umpager::detail
