// Read-ahead of sequential CPU scans (reads and writes): the faulting resolver queues the next
// blocks (plan_readahead) and idle resolvers map them (read_ahead).
#include <algorithm>

#include "region.hpp"
#include "trace_range.hpp"

namespace umpager::detail {

std::size_t region::plan_readahead(std::size_t at, std::size_t end, std::uint64_t read_at, bool write) noexcept {
  // Fixed 4K blocks map only what faults: see docs/api.md (CPU access while kernels run).
  if (ctx_.readahead_bytes == 0 || (!adaptive_ && block_ == kPageSize)) return end;
  const sequential_detector::step s = scan_.observe(at, end);
  if (s.queue_from >= s.queue_to) return s.ahead;
  std::shared_ptr<region> self;
  try {
    self = shared_from_this();
  } catch (...) {
    return end;  // not owned by a shared_ptr (never in the runtime): no read-ahead
  }
  // One item per chunk piece: resolvers take them in parallel. A write scan's pages
  // are mapped writable where a snapshot can prove later which were written (wp_async).
  const bool writable = write && ctx_.tracking == tracking_mode::wp_async;
  const std::size_t ppc = chunk_bytes_ / kPageSize;
  const std::size_t end_page = s.queue_to;
  for (std::size_t p = s.queue_from; p < end_page;) {
    const std::size_t e = std::min(end_page, (p / ppc + 1) * ppc);
    ctx_.ahead.push(readahead_item{self, p, e, read_at, writable});
    p = e;
  }
  return s.ahead;
}

void region::read_ahead(std::size_t first, std::size_t end, std::span<copy_lane* const> lanes,
                        std::uint64_t queued_at, bool writable, resolver_wait* ring) noexcept {
  const std::size_t c = first * kPageSize / chunk_bytes_;
  const trace_range trace(ctx_, "umpager read-ahead");
  if (writable) reserve_speculation(c);  // before this chunk's lock: it may retire others
  storage_read* reading = nullptr;  // armed once the lock is let go (its completion takes it)
  {
    std::lock_guard g(chunks_[c].lock);
    read_ahead_locked(c, first, end, lanes, queued_at, writable, ring, reading);
  }
  arm_storage_read(reading);
}

void region::read_ahead_locked(std::size_t c, std::size_t first, std::size_t end, std::span<copy_lane* const> lanes,
                               std::uint64_t queued_at, bool writable, resolver_wait* ring,
                               storage_read*& reading) noexcept {
  // Zapped since the triggering fault was read: a kernel may be writing the device
  // copy now, so mapping it would show the CPU stale data later.
  if (chunks_[c].zapped_at > queued_at) return;
  // The device copy is still being written (an upload, a declared kernel): leave it to faults.
  if (writers_in_flight_locked(c)) return;
  const std::size_t before = unmapped_pages(first, end);  // the chunk lock keeps these bits ours
  if (before == 0) return;
  // From storage: asynchronously on the resolver's ring (mapped by the completion;
  // a write scan's speculative mapping is synchronous), else here. A page not read
  // is left to its fault.
  if (file_ && ring != nullptr && !writable) reading = start_storage_read_locked(c, first, end, *ring);
  char why[256];
  if (file_ && reading == nullptr) (void)load_storage_locked(first, end, why, sizeof why);
  try {
    const unsigned on = chunks_[c].on;
    ctx_.count.add_read_ahead_copy(
        copy_runs(first, end, page_state::device, copy_direction::device_to_host, *lanes[on], on));
  } catch (...) {
    return;  // the pages stay device-only: a fault on them retries and reports
  }
  // After the copy, before the mapping: from the mapping on the CPU may write.
  map_pages(first, end, {}, false, writable && snapshot_locked(c, first, end));
  counters::add(ctx_.count.pages_read_ahead, before - unmapped_pages(first, end));
}

}  // namespace umpager::detail
