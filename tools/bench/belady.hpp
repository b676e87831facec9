// Belady's MIN over a recorded workload trace (docs/bench.md, "opt_bytes"): the
// bytes an optimal, clairvoyant residency manager with the same device budget
// would copy to the device for the same sequence of declared launches and CPU
// phases. Computed offline by the benchmark, never by the runtime.
#pragma once

#include <cstddef>
#include <cstdint>

#include "umpager/kernels/workloads.hpp"

namespace umpager::bench {

struct belady_model {
  std::size_t capacity_bytes;        ///< the device budget
  std::size_t chunk_bytes = 2 << 20; ///< unit of residency (a device chunk)
  std::size_t page_bytes = 4096;     ///< unit of upload and of staleness
  /// Whether a range declared write-only is uploaded when its pages are not on the
  /// device (as the runtime does: a kernel may write only part of it).
  bool write_only_uploads = true;
};

struct belady_result {
  std::uint64_t bytes_to_device = 0;  ///< opt_bytes
  std::uint64_t misses = 0;           ///< chunks brought in
  std::uint64_t evictions = 0;        ///< chunks MIN evicted
};

/// MIN on chunks: on a miss with the budget full, evict the resident chunk not used
/// by the current launch whose next use is farthest away (never used again first).
/// Costs are pages: a launch uploads the pages of its ranges that are not valid on
/// the device (a chunk brought in has none; a CPU write makes its pages invalid).
/// Throws invalid_argument if one launch needs more chunks than the budget holds.
[[nodiscard]] belady_result belady_min(const kernels::workloads::trace& t, const belady_model& m);

}  // namespace umpager::bench
