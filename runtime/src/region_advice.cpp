// Advice (read-mostly, preferred location), range queries and the stale-data check
// of UMPAGER_CHECK_STALE; each under the lock of the chunk it reads.
#include <algorithm>
#include <optional>

#include "region.hpp"

namespace umpager::detail {
namespace {

std::optional<placement> to_placement(int where) {
  if (where == kNowhere) return std::nullopt;
  if (where == kPreferHost) return placement{true, 0};
  return placement{false, static_cast<unsigned>(where)};
}

/// The value every chunk agrees on, else nothing (cudaMemRangeGetAttribute's rule).
struct agreement {
  bool first = true;
  int value = kNowhere;
  void add(int v) {
    if (first) value = v;
    else if (v != value) value = kNowhere;
    first = false;
  }
};

}  // namespace

void region::set_read_mostly(std::size_t offset, std::size_t bytes, bool on) {
  const std::size_t first = offset / kPageSize;
  const std::size_t end = (offset + bytes + kPageSize - 1) / kPageSize;
  const std::size_t ppc = chunk_bytes_ / kPageSize;
  for (std::size_t p = first; p < end;) {
    const std::size_t c = p / ppc;
    const std::size_t e = std::min(end, (c + 1) * ppc);
    std::lock_guard g(chunks_[c].lock);
    for (std::size_t i = p; i < e; ++i) pages_.set_read_mostly(i, on);
    p = e;
  }
}

void region::set_preferred(std::size_t offset, std::size_t bytes, int where) {
  const std::size_t first = offset / chunk_bytes_;
  const std::size_t end = (offset + bytes + chunk_bytes_ - 1) / chunk_bytes_;
  for (std::size_t c = first; c < end; ++c) chunks_[c].preferred.store(where, std::memory_order_relaxed);
}

void region::set_accessed_by(std::size_t offset, std::size_t bytes, unsigned device, bool on) {
  const std::size_t first = offset / chunk_bytes_;
  const std::size_t end = (offset + bytes + chunk_bytes_ - 1) / chunk_bytes_;
  const std::uint32_t bit = std::uint32_t{1} << device;
  for (std::size_t c = first; c < end; ++c) {
    if (on) chunks_[c].accessed_by.fetch_or(bit, std::memory_order_relaxed);
    else chunks_[c].accessed_by.fetch_and(~bit, std::memory_order_relaxed);
  }
}

range_info region::query(std::size_t offset, std::size_t bytes) {
  const std::size_t first = offset / kPageSize;
  const std::size_t end = (offset + bytes + kPageSize - 1) / kPageSize;
  const std::size_t ppc = chunk_bytes_ / kPageSize;
  range_info info;
  info.pages.reserve(end - first);
  info.read_mostly = true;
  agreement prefetched, preferred;
  std::uint32_t accessed_by = ~std::uint32_t{0};
  for (std::size_t p = first; p < end;) {
    const std::size_t c = p / ppc;
    const std::size_t e = std::min(end, (c + 1) * ppc);
    std::lock_guard g(chunks_[c].lock);
    const unsigned on = chunks_[c].on;
    for (std::size_t i = p; i < e; ++i) {
      switch (pages_.state(i)) {
        case page_state::host: info.pages.push_back({page_where::host, 0}); break;
        case page_state::shared: info.pages.push_back({page_where::shared, on}); break;
        case page_state::device: info.pages.push_back({page_where::device, on}); break;
        case page_state::storage: info.pages.push_back({page_where::storage, 0}); break;
      }
      info.read_mostly = info.read_mostly && pages_.read_mostly(i);
    }
    prefetched.add(chunks_[c].last_prefetch.load(std::memory_order_relaxed));
    preferred.add(chunks_[c].preferred.load(std::memory_order_relaxed));
    accessed_by &= chunks_[c].accessed_by.load(std::memory_order_relaxed);
    p = e;
  }
  for (unsigned k = 0; k < 32; ++k) {
    if ((accessed_by >> k & 1U) != 0) info.accessed_by.push_back(k);
  }
  info.last_prefetch = to_placement(prefetched.value);
  info.preferred_location = to_placement(preferred.value);
  return info;
}

std::size_t region::stale_pages(unsigned k, std::size_t& first_offset) {
  std::size_t stale = 0;
  const std::size_t ppc = chunk_bytes_ / kPageSize;
  const auto base = reinterpret_cast<std::uintptr_t>(user_.data());
  for (std::size_t c = 0; c < chunks_.size(); ++c) {
    std::lock_guard g(chunks_[c].lock);
    if (!chunks_[c].device.valid() || chunks_[c].on != k) continue;
    const std::size_t p = c * ppc, e = std::min(pages_.size(), p + ppc);
    retire_speculative_locked(c, p, e);  // write read-ahead's pages first
    if (ctx_.tracking == tracking_mode::wp_async) {
      // Writes to shared pages since the last arm are known only to the pagemap.
      std::lock_guard pm(ctx_.pagemap_mutex);
      (void)ctx_.pagemap.collect_written(base + p * kPageSize, base + e * kPageSize,
                                         [&](std::uintptr_t s, std::uintptr_t x) {
                                           for (std::uintptr_t a = s; a < x; a += kPageSize) {
                                             const std::size_t i = (a - base) / kPageSize;
                                             if (pages_.state(i) == page_state::shared)
                                               pages_.set_state(i, page_state::host);
                                             pages_.set_backed(i, false);
                                           }
                                         });
    }
    for (std::size_t i = p; i < e; ++i) {
      if (pages_.state(i) != page_state::host || !pages_.uploaded(i)) continue;
      if (stale++ == 0) first_offset = i * kPageSize;
    }
  }
  return stale;
}

}  // namespace umpager::detail
