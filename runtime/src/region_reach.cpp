// Kernels that reach a region's chunks where they are (device_span.hpp): a chunk not
// resident on the kernel's device is reached in host memory, through the alias view.
// Here the region readies those pages; the claims are its host_reach, the addresses
// the runtime's chunk tables (remote/).
#include "region.hpp"
#include "trace_range.hpp"

namespace umpager::detail {

std::size_t region::resident_chunks(std::size_t offset, std::size_t bytes, unsigned dev) {
  std::size_t n = 0;
  for (std::size_t c = offset / chunk_bytes_; c <= (offset + bytes - 1) / chunk_bytes_; ++c) {
    std::lock_guard g(chunks_[c].lock);
    n += chunks_[c].device.valid() && chunks_[c].on == dev;
  }
  return n;
}

void region::reach_host(std::size_t c, std::size_t first, std::size_t end, bool writes) {
  const trace_range trace(ctx_, "umpager reach in host memory");
  std::lock_guard transfer(ctx_.transfer_mutex);
  const std::unique_lock g = lock_unread(c);
  // Never a hole read as zeros: what storage holds is read in first.
  if (file_) load_storage_or_throw(first, end, "reach in host memory");
  if (chunks_[c].device.valid()) {
    bool device_pages = false;
    for (std::size_t i = first; i < end && !device_pages; ++i) device_pages = pages_.state(i) == page_state::device;
    // Resident where this kernel does not reach it: its freshest bytes come home.
    if (device_pages || writes) home_locked(c, first, end);
  }
  if (writes) {
    for (std::size_t i = first; i < end; ++i) {
      if (pages_.state(i) == page_state::shared) pages_.set_state(i, page_state::host);
      pages_.set_backed(i, false);  // a flush writes what the kernel may write
    }
  }
  chunks_[c].host_used.store(ctx_.host_clock.load(std::memory_order_relaxed), std::memory_order_relaxed);
  reached_.open(c);
}

}  // namespace umpager::detail
