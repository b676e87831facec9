// Adaptive fault granularity: how far one CPU fault maps, from the fault density
// around it. A chunk is seen as a binary tree whose leaves are 64 KiB; a fault maps
// the largest subtree around its page in which enough pages are already mapped
// (the way UVM's density prefetcher grows a fault to a dense region), so sparse
// access maps about the pages it touches and dense access soon maps whole chunks
// with one copy and one CONTINUE per run. See docs/architecture.md, "Fault granularity".
#include <algorithm>

#include "region.hpp"

namespace umpager::detail {

std::size_t dense_threshold(std::size_t subtree_pages) noexcept {
  // An eighth of the subtree, at least kDenseMinPages (measured: docs/bench.md, "Adaptive
  // granularity"): 1% random touches then map ~1.0x the touched bytes, a full random pass
  // takes ~1 fault per 20 pages.
  return std::max(kDenseMinPages, subtree_pages / kDenseFraction);
}

std::pair<std::size_t, std::size_t> region::dense_range(std::size_t c, std::span<const fault> faults) noexcept {
  const std::size_t ppc = chunk_bytes_ / kPageSize;
  const std::size_t top = std::min(ppc, kDenseMaxPages);
  region_chunk& ch = chunks_[c];
  // The count starts again at every zap: what was touched before may not be again.
  if (ch.dense_since != ch.zapped_at) {
    ch.dense_since = ch.zapped_at;
    ch.dense_faults = 0;
  }
  for (const fault& f : faults) ch.dense_faults += f.wp ? 0 : 1;
  // Many faults on one chunk prove dense access even where the mapped pages are still
  // too scattered to make any subtree dense (a random pass over all pages).
  const bool whole = ch.dense_faults >= kDenseChunkFaults;
  std::size_t first = pages_.size(), end = 0;
  for (const fault& f : faults) {
    if (f.wp) continue;  // a write-protect fault maps nothing
    std::size_t a = f.page, e = f.page + 1;
    // Up the tree from the leaf; the last level dense enough wins (a sparse leaf under a
    // dense parent still maps the parent: its siblings' pages count).
    for (std::size_t n = kDenseLeafPages; n <= top; n *= 2) {
      const std::size_t s = f.page / n * n;
      const std::size_t t = std::min(s + n, pages_.size());
      if (whole && n == top) {
        a = s, e = t;
        break;
      }
      std::size_t count = 0;
      for (std::size_t p = s; p < t; ++p) count += pages_.mapped(p) || p == f.page;
      if (count >= dense_threshold(n)) a = s, e = t;
    }
    first = std::min(first, a);
    end = std::max(end, e);
  }
  return {first, end};
}

}  // namespace umpager::detail
