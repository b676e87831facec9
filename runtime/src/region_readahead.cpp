// Read-ahead of sequential CPU read scans: the faulting resolver queues the next
// blocks (plan_readahead) and idle resolvers map them (read_ahead).
#include <algorithm>

#include "region.hpp"
#include "trace_range.hpp"

namespace umpager::detail {

void region::plan_readahead(std::size_t block, std::uint64_t read_at) noexcept {
  if (ctx_.readahead_bytes == 0 || block_ == kPageSize) return;  // 4K blocks: see docs/api.md
  const std::size_t ppb = block_ / kPageSize;
  const std::size_t blocks = (pages_.size() + ppb - 1) / ppb;
  const std::size_t max_window = std::max<std::size_t>(1, ctx_.readahead_bytes / block_);
  std::size_t from = 0, to = 0;
  {
    std::lock_guard g(ra_mutex_);
    // Sequential: the next block, or one already queued (the scan caught up with it).
    const bool sequential = ra_last_ != kNone && block > ra_last_ && block <= std::max(ra_last_ + 1, ra_next_);
    ra_last_ = block;
    if (!sequential) {
      ra_window_ = 0;
      ra_next_ = block + 1;
      return;
    }
    // Grows like the kernel's read-ahead: 2 blocks, then doubling up to the maximum.
    ra_window_ = ra_window_ == 0 ? std::min<std::size_t>(2, max_window) : std::min(ra_window_ * 2, max_window);
    from = std::max(ra_next_, block + 1);
    to = std::min(blocks, block + 1 + ra_window_);
    if (from >= to) return;
    ra_next_ = to;
  }
  std::shared_ptr<region> self;
  try {
    self = shared_from_this();
  } catch (...) {
    return;  // not owned by a shared_ptr (never in the runtime): no read-ahead
  }
  // One item per chunk piece: resolvers take them in parallel.
  const std::size_t ppc = chunk_bytes_ / kPageSize;
  const std::size_t end_page = std::min(pages_.size(), to * ppb);
  for (std::size_t p = from * ppb; p < end_page;) {
    const std::size_t e = std::min(end_page, (p / ppc + 1) * ppc);
    ctx_.ahead.push(readahead_item{self, p, e, read_at});
    p = e;
  }
}

void region::read_ahead(std::size_t first, std::size_t end, std::span<copy_lane* const> lanes,
                        std::uint64_t queued_at) noexcept {
  const std::size_t c = first * kPageSize / chunk_bytes_;
  const trace_range trace(ctx_, "umpager read-ahead");
  std::lock_guard g(chunks_[c].lock);
  // Zapped since the triggering fault was read: a kernel may be writing the device
  // copy now, so mapping it would show the CPU stale data later.
  if (chunks_[c].zapped_at > queued_at) return;
  // The device copy is still being written (an upload, a declared kernel): leave it to faults.
  for (const pin_record& r : chunks_[c].inflight) {
    if (r.writes && !r.point->done()) return;
  }
  auto unmapped = [&] {
    std::size_t n = 0;
    for (std::size_t p = first; p < end; ++p) n += !pages_.mapped(p);
    return n;
  };
  const std::size_t before = unmapped();  // the chunk lock keeps these bits ours
  if (before == 0) return;
  char why[256];
  if (file_) (void)load_storage_locked(first, end, why, sizeof why);  // a page not read is left to its fault
  try {
    const unsigned on = chunks_[c].on;
    ctx_.count.add_read_ahead_copy(
        copy_runs(first, end, page_state::device, copy_direction::device_to_host, *lanes[on], on));
  } catch (...) {
    return;  // the pages stay device-only: a fault on them retries and reports
  }
  map_pages(first, end, {});
  counters::add(ctx_.count.pages_read_ahead, before - unmapped());
}

}  // namespace umpager::detail
