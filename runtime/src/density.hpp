// Adaptive fault granularity: how far one CPU fault maps, from the fault density
// around it. A chunk is seen as a binary tree whose leaves are 64 KiB; a fault maps
// the largest subtree around its page in which enough pages are already mapped (the
// way UVM's density prefetcher grows a fault to a dense region), so sparse access maps
// about the pages it touches and dense access soon maps whole chunks with one copy and
// one CONTINUE per run. Density is read from the page table's `mapped` bits, so there
// is no second structure to keep in step. See docs/architecture.md, "Fault granularity".
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "chunk_lock.hpp"
#include "fault.hpp"
#include "page_table.hpp"

namespace umpager::detail {

// A chunk's tree has 64 KiB leaves and is at most 2 MiB high; a subtree of n pages is
// dense with dense_threshold(n) pages mapped.
inline constexpr std::size_t kDenseLeafPages = 16;
inline constexpr std::size_t kDenseMaxPages = 512;
inline constexpr std::size_t kDenseMinPages = 4;
inline constexpr std::size_t kDenseFraction = 8;
/// A chunk that took this many faults since its last zap is dense as a whole: the next
/// fault fetches all of it (measured: docs/bench.md, "Dense random passes").
inline constexpr std::uint32_t kDenseChunkFaults = 16;
[[nodiscard]] std::size_t dense_threshold(std::size_t subtree_pages) noexcept;

/// One chunk's count of the missing faults it served since its last zap. A random pass
/// over every page keeps the mapped pages scattered, so subtrees look sparse for long;
/// many faults on one chunk prove dense access all the same. Guarded by the chunk's lock:
/// region_chunk::density hands it out only for that chunk's locked_chunk.
class chunk_density {
 public:
  /// Counts the missing faults in `faults`; `zapped_at` is the chunk's last zap (a zap
  /// starts the count again: what was touched before may not be again). True once
  /// the chunk is dense as a whole.
  bool count(std::uint64_t zapped_at, std::span<const fault> faults) noexcept;

 private:
  std::uint32_t faults_ = 0;
  std::uint64_t since_ = 0;  ///< the zap the count started at
};

/// The pages [first, end) that the missing faults in `faults` map, all in the chunk of
/// `chunk_pages` pages that `held` locks (a fault outside it aborts: its bits are not
/// guarded by that lock), each grown up its chunk's tree to the largest dense subtree
/// (`whole`: to the top). Reads only the `mapped` bits.
[[nodiscard]] std::pair<std::size_t, std::size_t> dense_range(const locked_chunk& held, const page_table& pages,
                                                              std::size_t chunk_pages, std::span<const fault> faults,
                                                              bool whole) noexcept;

}  // namespace umpager::detail
