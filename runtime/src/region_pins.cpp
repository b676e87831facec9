// Work in flight on a region's chunks, wired in: each chunk's records are its
// work_in_flight (inflight.hpp, which owns the rules); here the region asks them under
// the chunk's lock, and pins the chunks a declaration holds resident.
#include <chrono>

#include "region.hpp"
#include "residency.hpp"

namespace umpager::detail {

bool region::idle_locked(std::size_t c) { return chunks_[c].inflight.idle(); }

bool region::wait_locked(std::size_t c, bool writers_only) {
  return chunks_[c].inflight.wait(writers_only, std::chrono::milliseconds(ctx_.wait_ms));
}

void region::pin_locked(std::size_t c, stream_handle s, const std::shared_ptr<fence>& point, bool writes,
                        bool open_ended) {
  chunks_[c].inflight.pin(s, point, writes, open_ended);
}

bool region::in_flight() {
  if (users.load(std::memory_order_acquire) != 0) return true;
  for (std::size_t c = 0; c < chunks_.size(); ++c) {
    if (!reached_.idle(c)) return true;
    std::lock_guard g(chunks_[c].lock);
    if (!idle_locked(c)) return true;
  }
  return false;
}

void region::hold_resident(std::size_t offset, std::size_t bytes, move_op& op, std::size_t limit) {
  const std::size_t first = offset / chunk_bytes_;
  const std::size_t last = (offset + bytes - 1) / chunk_bytes_;
  for (std::size_t c = first, held = 0; c <= last && held < limit; ++c) {
    std::lock_guard g(chunks_[c].lock);
    const region_chunk& rc = chunks_[c];
    if (!rc.device.valid() || rc.on != op.device) continue;
    ctx_.devices[op.device].res->touch(*this, c);
    op.pinned.emplace_back(this, c);
    ++held;
  }
}

}  // namespace umpager::detail
