#include "resolver_wait.hpp"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "umpager/error.hpp"

namespace umpager::detail {
namespace {
constexpr unsigned kSources[] = {resolver_wait::kFaults, resolver_wait::kReadahead, resolver_wait::kStop};
constexpr unsigned kAll = resolver_wait::kFaults | resolver_wait::kReadahead | resolver_wait::kStop;
// The completion queue (twice this) has room for a poll completion per fault of a
// burst before the kernel must hold them on its overflow list (which ends a
// multishot poll: it is then re-armed).
constexpr unsigned kRingEntries = 128;
// Poll completions run as task work of the resolver itself, deferred to when it
// enters the kernel to wait (or sees IORING_SQ_TASKRUN while spinning): a fault then
// wakes the resolver once, with no signal-like interruption of its work. Each flag
// is dropped where the kernel lacks it (os::io_ring).
constexpr unsigned kRingFlags =
    IORING_SETUP_R_DISABLED | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;

int source_index(unsigned bit) noexcept { return bit == resolver_wait::kFaults ? 0 : bit == resolver_wait::kReadahead ? 1 : 2; }
}  // namespace

resolver_wait::resolver_wait(int uffd, int readahead_fd, int stop_fd, resolver_wait_kind kind) {
  fds_[0] = uffd;
  fds_[1] = readahead_fd;
  fds_[2] = stop_fd;
  if (kind != resolver_wait_kind::epoll) {
    try {
      ring_.emplace(kRingEntries, kRingFlags);
      return;
    } catch (const std::exception& e) {
      if (kind == resolver_wait_kind::io_uring) {
        throw unsupported(std::string("UMPAGER_RESOLVER_WAIT=io_uring: the kernel refused an io_uring (") + e.what() +
                          "; io_uring_disabled, or a seccomp filter); use auto or epoll");
      }
    }
  }
  if (!setup_epoll()) throw system_error(errno, "epoll for a resolver");
}

resolver_wait::~resolver_wait() = default;

bool resolver_wait::start() noexcept {
  if (!ring_) return true;
  // R_DISABLED until now: the ring's single issuer is the thread that enables it.
  const bool disabled = (ring_->flags() & IORING_SETUP_R_DISABLED) != 0;
  // The raw call: liburing 2.3 declares io_uring_enable_rings but does not export it.
  if ((!disabled || ::syscall(__NR_io_uring_register, ring_->fd(), IORING_REGISTER_ENABLE_RINGS, nullptr, 0) == 0) &&
      arm()) {
    return true;
  }
  ring_.reset();
  std::fprintf(stderr, "umpager: a resolver's io_uring could not poll its sources; it waits with epoll\n");
  return setup_epoll();
}

bool resolver_wait::setup_epoll() noexcept {
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return false;
  for (unsigned bit : kSources) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = bit;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fds_[source_index(bit)], &ev) != 0) {
      epoll_.reset();
      return false;
    }
  }
  return true;
}

bool resolver_wait::arm() noexcept {
  for (unsigned bit : kSources) {
    if ((armed_ & bit) != 0) continue;
    io_uring_sqe* sqe = ::io_uring_get_sqe(ring_->get());
    if (sqe == nullptr) break;
    ::io_uring_prep_poll_multishot(sqe, fds_[source_index(bit)], POLLIN);
    ::io_uring_sqe_set_data64(sqe, bit);
    armed_ |= bit;
  }
  const int rc = ring_->submit();
  if (rc < 0) {
    armed_ = 0;  // unknown which were taken: their completions will tell (an extra poll is harmless)
    return false;
  }
  return armed_ == kAll;
}

unsigned resolver_wait::reap() noexcept {
  // Completions held on the kernel's overflow list, and deferred task work (the
  // polls'), reach the queue only on entering the kernel.
  const unsigned kflags = IO_URING_READ_ONCE(*ring_->get()->sq.kflags);
  if ((kflags & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)) != 0) (void)::io_uring_get_events(ring_->get());
  unsigned ready = 0, seen = 0, head = 0;
  io_uring_cqe* cqe = nullptr;
  io_uring_for_each_cqe(ring_->get(), head, cqe) {
    ++seen;
    const std::uint64_t tag = cqe->user_data;
    if (tag == kFaults || tag == kReadahead || tag == kStop) {
      // An error ends the poll too; readiness then only means "look": every fd is non-blocking.
      ready |= static_cast<unsigned>(tag);
      if ((cqe->flags & IORING_CQE_F_MORE) == 0) armed_ &= ~static_cast<unsigned>(tag);
    } else if (tag != 0) {
      --ops_;  // first: complete() may prepare the op again
      reinterpret_cast<ring_op*>(tag)->complete(cqe->res);
    }
  }
  ::io_uring_cq_advance(ring_->get(), seen);
  if (armed_ != kAll) (void)arm();
  return ready;
}

unsigned resolver_wait::epoll_wait(int timeout_ms) noexcept {
  epoll_event evs[3];
  for (;;) {
    const int n = ::epoll_wait(epoll_.get(), evs, 3, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::fprintf(stderr, "umpager: resolver epoll_wait failed (%s); resolver stops\n", std::strerror(errno));
      return kStop;
    }
    unsigned ready = 0;
    for (int i = 0; i < n; ++i) ready |= evs[i].data.u32;
    return ready;
  }
}

unsigned resolver_wait::peek() noexcept { return ring_ ? reap() : epoll_wait(0); }

unsigned resolver_wait::sleep() noexcept {
  if (!ring_) return epoll_wait(-1);
  for (;;) {
    if (const unsigned ready = reap(); ready != 0) return ready;
    io_uring_cqe* cqe = nullptr;
    int rc = 0;
    if (armed_ == kAll) {
      rc = ::io_uring_wait_cqe(ring_->get(), &cqe);
    } else {
      // A poll could not be armed (no memory for it): look again soon rather than sleep on it.
      __kernel_timespec ts{0, 1000000};
      rc = ::io_uring_wait_cqe_timeout(ring_->get(), &cqe, &ts);
    }
    if (rc < 0 && rc != -EINTR && rc != -ETIME && rc != -EAGAIN) {
      std::fprintf(stderr, "umpager: resolver io_uring wait failed (%s); resolver stops\n", std::strerror(-rc));
      return kStop;
    }
  }
}

io_uring_sqe* resolver_wait::prepare(ring_op& op) noexcept {
  if (!ring_) return nullptr;
  io_uring_sqe* sqe = ring_->next_sqe();
  if (sqe == nullptr) return nullptr;
  ::io_uring_sqe_set_data(sqe, &op);
  ++ops_;
  return sqe;
}

void resolver_wait::withdraw(io_uring_sqe* sqe) noexcept {
  ::io_uring_prep_nop(sqe);
  ::io_uring_sqe_set_data64(sqe, 0);  // tag 0: ignored by reap()
  --ops_;
}

void resolver_wait::drain() noexcept {
  while (ring_ && ops_ > 0) {
    (void)reap();
    if (ops_ == 0) break;
    io_uring_cqe* cqe = nullptr;
    const int rc = ::io_uring_wait_cqe(ring_->get(), &cqe);
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -ETIME) {
      std::fprintf(stderr, "umpager: resolver io_uring wait failed (%s) with %u storage reads in flight\n",
                   std::strerror(-rc), ops_);
      return;
    }
  }
}

int resolver_wait::submit() noexcept {
  if (!ring_) return -EOPNOTSUPP;
  const int rc = ring_->submit();
  return rc < 0 ? rc : 0;
}

}  // namespace umpager::detail
