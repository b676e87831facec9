// Write read-ahead (wp_async tracking): a sequential write scan's pages are mapped
// writable ahead of it, so its writes take no fault, not even the kernel's own
// write-protect fault. Such a page is *speculative*: mapped writable but still clean.
// Its bytes at mapping are kept in its chunk's snapshot; when the speculation ends
// (a zap, a look at the tracking, or the chunk falls out of the bounded window), the
// page is write-protected first (later writes are the kernel's to track) and then
// compared with its snapshot: only a page whose bytes changed counts as written. So
// the dirty set stays exact, and a page only mapped is never uploaded again.
// See docs/architecture.md, "Write faults".
#include <algorithm>
#include <cstring>
#include <new>

#include "page_runs.hpp"
#include "region.hpp"

namespace umpager::detail {

void region::reserve_speculation(std::size_t c) noexcept {
  // The window the scan may be in, and the chunk behind it that it is finishing.
  const std::size_t bound = std::max<std::size_t>(2, ctx_.readahead_bytes / chunk_bytes_ + 2);
  std::vector<std::size_t> victims;
  {
    std::lock_guard g(spec_mutex_);
    if (std::find(spec_chunks_.begin(), spec_chunks_.end(), c) == spec_chunks_.end()) {
      try {
        spec_chunks_.push_back(c);
      } catch (...) {
        // Not listed: snapshot_locked refuses an unlisted chunk, so nothing goes unbounded.
        return;
      }
    }
    while (spec_chunks_.size() > bound) {
      try {
        victims.push_back(spec_chunks_.front());
      } catch (...) {
        break;  // retired at the next reservation
      }
      spec_chunks_.pop_front();
    }
  }
  const std::size_t ppc = chunk_bytes_ / kPageSize;
  for (std::size_t v : victims) {
    std::lock_guard g(chunks_[v].lock);
    retire_speculative_locked(v, v * ppc, std::min(pages_.size(), (v + 1) * ppc));
  }
}

bool region::snapshot_locked(std::size_t c, std::size_t first, std::size_t end) noexcept {
  region_chunk& ch = chunks_[c];
  if (!ch.snapshot) {
    {
      // Retired from the list meanwhile (another resolver's reservation): stay bounded.
      std::lock_guard g(spec_mutex_);
      if (std::find(spec_chunks_.begin(), spec_chunks_.end(), c) == spec_chunks_.end()) return false;
    }
    ch.snapshot.reset(new (std::nothrow) std::byte[chunk_bytes_]);
    if (!ch.snapshot) return false;
  }
  const std::size_t base = c * chunk_bytes_;
  // The pages map_pages(speculative) marks: unmapped, not holes, and clean.
  auto speculates = [&](std::size_t p) {
    return !pages_.mapped(p) && pages_.state(p) != page_state::storage &&
           !(pages_.state(p) == page_state::host && !pages_.backed(p));
  };
  for_each_run(first, end, speculates, [&](std::size_t off, std::size_t len) {
    std::memcpy(ch.snapshot.get() + (off - base), alias_.data() + off, len);
  });
  return true;
}

void region::retire_speculative_locked(std::size_t c, std::size_t first, std::size_t end) noexcept {
  region_chunk& ch = chunks_[c];
  if (!ch.snapshot) return;
  const std::size_t ppc = chunk_bytes_ / kPageSize;
  const std::size_t c0 = c * ppc, c1 = std::min(pages_.size(), c0 + ppc);
  first = std::max(first, c0);
  end = std::min(end, c1);
  std::uint64_t written = 0;
  for (std::size_t p = first; p < end;) {
    if (!pages_.speculative(p)) {
      ++p;
      continue;
    }
    std::size_t q = p + 1;
    while (q < end && pages_.speculative(q)) ++q;
    // Protect first: a write after this is the kernel's to report (WP_ASYNC), one
    // before it is in the bytes. If the view is gone, count every page as written.
    const bool protected_ = ctx_.uffd.write_protect(user_.data() + p * kPageSize, (q - p) * kPageSize, true, false) == 0;
    for (std::size_t i = p; i < q; ++i) {
      pages_.set_speculative(i, false);
      if (!protected_ || std::memcmp(alias_.data() + i * kPageSize, ch.snapshot.get() + (i - c0) * kPageSize,
                                     kPageSize) != 0) {
        note_page_written(i);
        ++written;
      }
    }
    p = q;
  }
  counters::add(ctx_.count.written_pages_found, written);
  for (std::size_t p = c0; p < c1; ++p) {
    if (pages_.speculative(p)) return;  // others of this chunk still speculate
  }
  ch.snapshot.reset();
  std::lock_guard g(spec_mutex_);
  spec_chunks_.erase(std::remove(spec_chunks_.begin(), spec_chunks_.end(), c), spec_chunks_.end());
}

}  // namespace umpager::detail
