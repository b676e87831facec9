#include "os/io_ring.hpp"

#include <bit>

#include "umpager/error.hpp"

namespace umpager::os {

io_ring::io_ring(unsigned entries, unsigned optional_flags) {
  unsigned flags = optional_flags;
  for (;;) {
    io_uring_params p{};
    p.flags = flags;
    const int rc = io_uring_queue_init_params(entries, &ring_, &p);
    if (rc == 0) break;
    if (rc != -EINVAL || flags == 0) throw system_error(-rc, "io_uring_queue_init");
    flags &= ~(1u << (31 - std::countl_zero(flags)));  // drop the newest flag, ask again
  }
  flags_ = flags;
  if (io_uring_probe* probe = io_uring_get_probe_ring(&ring_)) {
    for (int op = 0; op < static_cast<int>(sizeof(ops_) * 8); ++op) {
      if (io_uring_opcode_supported(probe, op)) ops_[op / 64] |= std::uint64_t{1} << (op % 64);
    }
    io_uring_free_probe(probe);
  }
}

io_ring::~io_ring() { io_uring_queue_exit(&ring_); }

bool io_ring::supports(int opcode) const noexcept {
  if (opcode < 0 || opcode >= static_cast<int>(sizeof(ops_) * 8)) return false;
  return (ops_[opcode / 64] >> (opcode % 64)) & 1u;
}

io_uring_sqe* io_ring::next_sqe() noexcept {
  if (io_uring_sqe* s = io_uring_get_sqe(&ring_)) return s;
  if (submit() < 0) return nullptr;
  return io_uring_get_sqe(&ring_);
}

}  // namespace umpager::os
