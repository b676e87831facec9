// Walking maximal runs of pages that share a property: one copy or one ioctl per
// run instead of per page. Used by the region's copies and moves.
#pragma once

#include <cstddef>

#include "page_table.hpp"

namespace umpager::detail {

/// Calls fn(offset, length) in bytes for each maximal run of pages in [first, end)
/// whose index satisfies `in_run`; returns the bytes covered.
template <class InRun, class Fn>
inline std::size_t for_each_run(std::size_t first, std::size_t end, InRun&& in_run, Fn&& fn) {
  std::size_t bytes = 0;
  for (std::size_t p = first; p < end;) {
    if (!in_run(p)) {
      ++p;
      continue;
    }
    std::size_t q = p + 1;
    while (q < end && in_run(q)) ++q;
    fn(p * kPageSize, (q - p) * kPageSize);
    bytes += (q - p) * kPageSize;
    p = q;
  }
  return bytes;
}


}  // namespace umpager::detail
