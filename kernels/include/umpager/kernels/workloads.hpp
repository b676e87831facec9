// The oversubscription workloads (docs/bench.md): each is written once with
// kernels/portable.hpp and runs in tiles, every tile a launch that declares what
// it reads and writes (no hand-written prefetch), with a CPU phase that reads and
// writes part of the data between device phases, and a check of the result.
// The same code runs on three kinds of memory:
//   - managed:  umpager allocations, tiles through launch_n (the runtime decides residency);
//   - plain:    device buffers of the driver with explicit copies (the baseline; the
//               data must fit on the device);
//   - uvm:      cudaMallocManaged, with or without per-tile prefetch hints (CUDA builds only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "umpager/access.hpp"
#include "umpager/driver.hpp"
#include "umpager/runtime.hpp"

namespace umpager::kernels::workloads {

/// gups_table, bfs and hash_probe reach their data through the accessor
/// (device_span.hpp) rather than declaring small sets: GUPS without binning, BFS on an
/// R-MAT graph, probes of an open-addressing hash table.
enum class kind { triad, gups, stencil, spmv, matmul, gups_table, bfs, hash_probe };
inline constexpr kind all_kinds[] = {kind::triad,  kind::gups,       kind::stencil, kind::spmv,
                                     kind::matmul, kind::gups_table, kind::bfs,     kind::hash_probe};
/// Whether a workload reaches its data through the accessor (its runs compare the
/// rules of migration, bench's reach policies, rather than eviction policies).
[[nodiscard]] constexpr bool reaches(kind k) noexcept {
  return k == kind::gups_table || k == kind::bfs || k == kind::hash_probe;
}

[[nodiscard]] const char* name(kind k) noexcept;
[[nodiscard]] std::optional<kind> parse_kind(std::string_view text) noexcept;

struct params {
  std::size_t data_bytes = std::size_t{64} << 20;  ///< all the workload's arrays together (about)
  std::size_t tile_bytes = std::size_t{8} << 20;   ///< what one launch's access set aims at
  unsigned passes = 3;                              ///< sweeps over the data (GUPS: rounds of tiles)
  std::uint64_t seed = 1;
  /// Managed memory: launches in flight at most. 1: each launch waits for the one
  /// before, so every eviction sees the same chunks idle and the traffic is the same
  /// on every run; 2: the next tile's upload overlaps this tile's kernel (a pipeline).
  unsigned in_flight = 1;
  /// Simulated device only: each kernel lasts at least its access set's bytes at this
  /// rate (0: as long as the host takes to run it). Kernels on two shared host cores
  /// take whatever time the machine's load leaves them; a modelled floor, like the
  /// simulated copies' bandwidth, makes a pipeline's overlap measurable there.
  double sim_kernel_gbps = 0;
  /// Accessor workloads: declare their data resident (today's rule) instead of reachable.
  bool reach_resident = false;
};

/// The sequence of ranges each declared launch used, and the CPU phases between
/// them, in program order (what Belady's MIN is computed from, offline).
struct trace {
  struct use {
    unsigned alloc;       ///< index into alloc_bytes
    std::size_t offset;   ///< bytes from the allocation's start
    std::size_t bytes;
    access_mode mode;
  };
  struct step {
    bool cpu = false;     ///< a CPU phase (its uses are what the CPU touched), else a launch
    std::vector<use> uses;
    /// A launch's bytes to the device, by the runtime's counters (what its
    /// declaration enqueued; 0 for CPU phases and on plain device buffers).
    std::uint64_t uploaded = 0;
  };
  std::vector<std::size_t> alloc_bytes;
  std::vector<step> steps;
};

struct result {
  double seconds = 0;        ///< from the end of initialisation to the device work done (no check)
  std::size_t data_bytes = 0;///< bytes allocated
  std::size_t launches = 0;
  double kernel_seconds = 0; ///< time the kernels themselves ran (managed, simulated device; else 0)
  bool correct = false;
  std::string error;         ///< what the check found wrong (empty when correct)
};

/// On umpager managed memory of `rt`, launches on `s` (a stream of device 0 from
/// runtime::create_stream); records into `rec` if given.
result run_managed(kind k, const params& p, runtime& rt, stream_view s, trace* rec = nullptr);

/// On plain device buffers of `d` with explicit copies (throws out_of_memory if they do not fit).
result run_plain(kind k, const params& p, driver& d);

/// True when this build has the cudaMallocManaged flavour (kernels compiled by nvcc).
[[nodiscard]] bool uvm_built() noexcept;

/// On cudaMallocManaged memory of CUDA device `device`: `hinted` adds per-tile
/// cudaMemPrefetchAsync (and prefetches to the host before CPU phases). Throws
/// invalid_argument in a build without CUDA, driver_error on a CUDA error.
result run_uvm(kind k, const params& p, bool hinted, int device = 0);

}  // namespace umpager::kernels::workloads
