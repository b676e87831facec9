// What every region shares inside one runtime: driver, userfaultfd, tracking
// mode, residency, counters. Owned by runtime_impl; regions hold a reference.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "copy_lane.hpp"
#include "readahead.hpp"
#include "counters.hpp"
#include "os/pagemap.hpp"
#include "os/userfaultfd.hpp"
#include "umpager/config.hpp"
#include "umpager/driver.hpp"

namespace umpager::detail {

class host_budget;
class spill_file;
class io_pool;
class residency;
class trace_recorder;

/// One device of the runtime.
struct device_slot {
  driver* drv;
  residency* res;
  copy_lane* transfer;  ///< prefetch, move and eviction copies on this device
  /// The runtime's own stream for the uploads of stream-ordered prefetches and
  /// declarations (a copy engine): the application's stream waits for them by event,
  /// so they overlap its kernels, as CUDA's copy engines do.
  stream_handle upload{};
  /// reads_from[j]: copies on this device may read device j's memory (its driver's
  /// enable_peer answered true). Moves from j without it go through the host.
  std::vector<bool> reads_from = {};
};

struct context {
  driver& drv;  ///< device 0: the chunk size (the same on every device), profiler ranges
  std::vector<device_slot> devices;
  const os::userfaultfd& uffd;
  tracking_mode tracking;  ///< resolved: never automatic
  bool single_pointer;     ///< user views are mapped at their device VA (config::single_pointer)
  std::size_t readahead_bytes;  ///< config::readahead_bytes
  readahead_queue& ahead;
  counters& count;
  std::mutex transfer_mutex;   ///< one transition at a time uses the devices' `transfer` lanes
  os::pagemap pagemap;            ///< PAGEMAP_SCAN (wp_async); guarded by pagemap_mutex
  std::mutex pagemap_mutex;
  /// Ticks at every zap of a chunk (region_chunk::zapped_at). A fault message read
  /// before its chunk was zapped may come from a thread that was already served (a
  /// signal makes the kernel send the fault again): it must not map the page from a
  /// device copy a kernel may be writing now. It also ticks after each map of a chunk
  /// (region_chunk::mapped_at): a message read before that whose page is mapped was
  /// woken by it. See region::resolve.
  std::atomic<std::uint64_t> zap_clock{0};
  /// Copies given up on that may still land (copy_lane.hpp); set by runtime_impl.
  copy_graveyard* graveyard = nullptr;
  trace_recorder* trace = nullptr;  ///< UMPAGER_TRACE's recorder; null when not tracing
  /// How long a fault, a move home or a chunk request waits for work in flight on the
  /// device (pin records) before it fails: max(10 s, UMPAGER_COPY_TIMEOUT_MS).
  unsigned wait_ms = 10000;
  /// Storage I/O engines (mapped files); set by runtime_impl.
  io_pool* io = nullptr;
  /// UMPAGER_HOST_MEMORY's enforcer, or null without a budget; set by runtime_impl.
  host_budget* budget = nullptr;
  spill_file* spill = nullptr;  ///< the budget's spill file (null without a budget)
  /// Ticks at every mapping of host pages (region_chunk::host_used).
  std::atomic<std::uint64_t> host_clock{0};
};

}  // namespace umpager::detail
