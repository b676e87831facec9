// Transitions of whole ranges (design.md "Page states"): make resident on a device
// (zap, scan, upload), bring home, and evict a chunk; each one chunk at a time
// under that chunk's lock.
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "region.hpp"
#include "residency.hpp"
#include "trace_range.hpp"
#include "umpager/error.hpp"

namespace umpager::detail {

template <class Fn>
void region::for_each_chunk(std::size_t first_page, std::size_t end_page, Fn&& fn) {
  const std::size_t pages_per_chunk = chunk_bytes_ / kPageSize;
  for (std::size_t p = first_page; p < end_page;) {
    const std::size_t c = p / pages_per_chunk;
    const std::size_t e = std::min(end_page, (c + 1) * pages_per_chunk);
    std::lock_guard g(chunks_[c].lock);
    fn(c, p, e);
    p = e;
  }
}

void region::to_device(std::size_t offset, std::size_t bytes, unsigned k) {
  const std::size_t first = offset / kPageSize;
  const std::size_t end = (offset + bytes + kPageSize - 1) / kPageSize;
  const std::size_t chunks = (end * kPageSize - 1) / chunk_bytes_ - first * kPageSize / chunk_bytes_ + 1;
  residency& res = *ctx_.devices[k].res;
  if (chunks * chunk_bytes_ > res.budget_bytes()) {
    throw out_of_memory("prefetch to device: " + std::to_string(chunks * chunk_bytes_ >> 20) +
                        " MiB of chunks do not fit in the device budget of " +
                        std::to_string(res.budget_bytes() >> 20) + " MiB; prefetch in smaller pieces");
  }
  const trace_range trace(ctx_, "umpager prefetch to device");
  std::lock_guard transfer(ctx_.transfer_mutex);
  // Chunks made resident here stay pinned until the whole range is done.
  struct unpin_guard {
    residency& res;
    region& r;
    std::size_t first, end;
    ~unpin_guard() { res.unpin(r, first, end); }
  } unpin{res, *this, first * kPageSize / chunk_bytes_, (end * kPageSize - 1) / chunk_bytes_ + 1};
  for_each_chunk(first, end, [&](std::size_t c, std::size_t p, std::size_t e) {
    std::byte* addr = user_.data() + p * kPageSize;
    const std::size_t len = (e - p) * kPageSize;
    // Zap first: from here every CPU access faults and waits for this chunk's lock.
    chunks_[c].zapped_at = ctx_.zap_clock.fetch_add(1) + 1;
    // ENOMEM: the application unmapped part of its view; the rest is zapped.
    if (::madvise(addr, len, MADV_DONTNEED) != 0 && errno != ENOMEM) throw system_error(errno, "zap user view");
    for (std::size_t i = p; i < e; ++i) pages_.set_mapped(i, false);
    if (ctx_.tracking == tracking_mode::wp_async) {
      // Then collect what was written since the last arm, re-arming it.
      std::lock_guard pm(ctx_.pagemap_mutex);
      std::uint64_t found = 0;
      const auto base = reinterpret_cast<std::uintptr_t>(user_.data());
      int rc = ctx_.pagemap.collect_written(
          reinterpret_cast<std::uintptr_t>(addr), reinterpret_cast<std::uintptr_t>(addr) + len,
          [&](std::uintptr_t s, std::uintptr_t x) {
            for (std::uintptr_t a = s; a < x; a += kPageSize) {
              const std::size_t i = (a - base) / kPageSize;
              if (pages_.state(i) == page_state::shared) pages_.set_state(i, page_state::host);
              ++found;
            }
          });
      if (rc < 0) {
        // Without the scan we cannot know what was written: treat all as written.
        for (std::size_t i = p; i < e; ++i) {
          if (pages_.state(i) == page_state::shared) pages_.set_state(i, page_state::host);
        }
      }
      counters::add(ctx_.count.written_pages_found, found);
    } else if (ctx_.tracking == tracking_mode::off) {
      for (std::size_t i = p; i < e; ++i) {
        if (pages_.state(i) == page_state::shared) pages_.set_state(i, page_state::host);
      }
    }
    if (!chunks_[c].device.valid()) res.make_resident(*this, c);
    else if (chunks_[c].on != k) move_chunk(c, k);
    else res.touch(*this, c);
    const std::size_t up = copy_runs(p, e, page_state::host, copy_direction::host_to_device, *ctx_.devices[k].transfer, k);
    counters::add(ctx_.count.bytes_to_device, up);
    for (std::size_t i = p; i < e; ++i) pages_.set_state(i, page_state::device);
  });
}

void region::to_host(std::size_t offset, std::size_t bytes) {
  const std::size_t first = offset / kPageSize;
  const std::size_t end = (offset + bytes + kPageSize - 1) / kPageSize;
  const trace_range trace(ctx_, "umpager prefetch to host");
  std::lock_guard transfer(ctx_.transfer_mutex);
  for_each_chunk(first, end, [&](std::size_t c, std::size_t p, std::size_t e) {
    const unsigned on = chunks_[c].on;
    const std::size_t down =
        copy_runs(p, e, page_state::device, copy_direction::device_to_host, *ctx_.devices[on].transfer, on);
    counters::add(ctx_.count.bytes_to_host, down);
    if (!map_pages(p, e, {})) {
      throw runtime_error("prefetch to host: the user view was unmapped by the application");
    }
  });
}

chunk_handle region::evict_locked(std::size_t c) {
  const trace_range trace(ctx_, "umpager evict");
  const std::size_t ppc = chunk_bytes_ / kPageSize;
  const std::size_t first = c * ppc;
  const std::size_t end = std::min(first + ppc, pages_.size());
  const unsigned on = chunks_[c].on;
  const std::size_t down =
      copy_runs(first, end, page_state::device, copy_direction::device_to_host, *ctx_.devices[on].transfer, on);
  counters::add(ctx_.count.bytes_to_host, down);
  // Device pages are unmapped on the host: the next touch maps them without a copy.
  for (std::size_t i = first; i < end; ++i) pages_.set_state(i, page_state::host);
  chunk_handle h = chunks_[c].device;
  ctx_.devices[on].drv->unmap_chunk(device_[on] + c * chunk_bytes_);
  chunks_[c].device = {};
  return h;
}

}  // namespace umpager::detail
