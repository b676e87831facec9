// One io_uring instance (liburing), owned. Optional setup flags are probed at run
// time: a kernel that refuses one is asked again without it, so the ring works on
// every kernel that has io_uring at all (liburing's way, not a compile-time guess).
#pragma once

#include <liburing.h>

#include <cstdint>

namespace umpager::os {

class io_ring {
 public:
  /// `entries`: submission queue size. `optional_flags`: IORING_SETUP_* flags to use
  /// where the kernel has them (e.g. SINGLE_ISSUER, COOP_TASKRUN); dropped one by one,
  /// highest bit first, on EINVAL. Throws system_error if no ring can be made.
  explicit io_ring(unsigned entries, unsigned optional_flags = 0);
  ~io_ring();
  io_ring(const io_ring&) = delete;
  io_ring& operator=(const io_ring&) = delete;

  [[nodiscard]] io_uring* get() noexcept { return &ring_; }
  [[nodiscard]] int fd() const noexcept { return ring_.ring_fd; }
  /// The optional flags the kernel accepted.
  [[nodiscard]] unsigned flags() const noexcept { return flags_; }
  /// Whether the kernel implements `opcode` (IORING_OP_*), probed once at setup.
  [[nodiscard]] bool supports(int opcode) const noexcept;

  /// A free submission entry, submitting what is queued first if the queue is full;
  /// null only if submission itself fails (the caller reports it).
  [[nodiscard]] io_uring_sqe* next_sqe() noexcept;
  /// io_uring_submit: the number submitted, or -errno.
  int submit() noexcept { return io_uring_submit(&ring_); }

 private:
  io_uring ring_{};
  unsigned flags_ = 0;
  std::uint64_t ops_[4] = {};  ///< bit i of word i/64: opcode i is supported
};

}  // namespace umpager::os
