#include "density.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace umpager::detail {

std::size_t dense_threshold(std::size_t subtree_pages) noexcept {
  // An eighth of the subtree, at least kDenseMinPages (measured: docs/bench.md, "Adaptive
  // granularity"): 1% random touches then map ~1.0x the touched bytes, a full random pass
  // takes ~1 fault per 20 pages.
  return std::max(kDenseMinPages, subtree_pages / kDenseFraction);
}

bool chunk_density::count(std::uint64_t zapped_at, std::span<const fault> faults) noexcept {
  if (since_ != zapped_at) {
    since_ = zapped_at;
    faults_ = 0;
  }
  for (const fault& f : faults) faults_ += f.wp ? 0 : 1;
  return faults_ >= kDenseChunkFaults;
}

std::pair<std::size_t, std::size_t> dense_range(const locked_chunk& held, const page_table& pages,
                                                std::size_t chunk_pages, std::span<const fault> faults,
                                                bool whole) noexcept {
  const std::size_t top = std::min(chunk_pages, kDenseMaxPages);
  std::size_t first = pages.size(), end = 0;
  for (const fault& f : faults) {
    if (f.wp) continue;  // a write-protect fault maps nothing
    if (f.page / chunk_pages != held.index()) {
      std::fprintf(stderr, "umpager: internal error: a fault on page %zu grown under chunk %zu's lock\n", f.page,
                   held.index());
      std::abort();
    }
    std::size_t a = f.page, e = f.page + 1;
    // Up the tree from the leaf; the last level dense enough wins (a sparse leaf under a
    // dense parent still maps the parent: its siblings' pages count).
    for (std::size_t n = kDenseLeafPages; n <= top; n *= 2) {
      const std::size_t s = f.page / n * n;
      const std::size_t t = std::min(s + n, pages.size());
      if (whole && n == top) {
        a = s, e = t;
        break;
      }
      std::size_t count = 0;
      for (std::size_t p = s; p < t; ++p) count += pages.mapped(p) || p == f.page;
      if (count >= dense_threshold(n)) a = s, e = t;
    }
    first = std::min(first, a);
    end = std::max(end, e);
  }
  return {first, end};
}

}  // namespace umpager::detail
