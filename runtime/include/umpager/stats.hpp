/// @file stats.hpp
/// Counters the runtime keeps; read with runtime::statistics().
#pragma once

#include <cstdint>

namespace umpager {

struct stats {
  std::uint64_t read_faults = 0;        ///< CPU read faults on absent pages served (stale messages excluded); counted before the thread is woken
  std::uint64_t write_faults = 0;       ///< CPU write faults on absent pages served (likewise)
  std::uint64_t wp_faults = 0;          ///< write-protect faults served (sync tracking; likewise)
  std::uint64_t written_pages_found = 0;///< pages found written (wp_async): by PAGEMAP_SCAN, or changed since a write scan mapped them ahead
  std::uint64_t pages_continued = 0;    ///< pages mapped by UFFDIO_CONTINUE
  std::uint64_t pages_poisoned = 0;     ///< pages answered with UFFDIO_POISON (SIGBUS)
  std::uint64_t pages_read_ahead = 0;   ///< pages mapped ahead of a sequential read scan, without a fault
  std::uint64_t bytes_read_ahead = 0;   ///< the part of bytes_to_host copied by read-ahead (read consistently with it)
  /// Every fault message a resolver read, counted as it is read: once resolvers are idle
  /// it equals read + write + wp + stale; the difference meanwhile is what is in flight.
  std::uint64_t fault_messages = 0;
  std::uint64_t stale_faults = 0;       ///< fault messages only woken, not served, and not in the three above: read before their chunk was zapped, their page mapped meanwhile by another resolver or a read-ahead, or their allocation freed
  std::uint64_t bytes_to_device = 0;    ///< host->device copy bytes
  std::uint64_t bytes_to_host = 0;      ///< device->host copy bytes
  std::uint64_t bytes_device_to_device = 0;  ///< peer copies: chunks moved between devices
  std::uint64_t chunks_evicted = 0;     ///< device chunks evicted for room
  std::uint64_t thrashing_events = 0;   ///< a chunk evicted and fetched again repeatedly within one budget's worth of fetches
  std::uint64_t policy_failures = 0;    ///< eviction policy calls that threw (the runtime fell back to LRU)
  std::uint64_t stale_launches = 0;     ///< undeclared launches refused by UMPAGER_CHECK_STALE
  std::uint64_t resolver_busy_ns = 0;   ///< time resolvers spent serving faults
  /// Fault wait percentiles: from a resolver reading a fault message to the end of
  /// serving its block (pages mapped and the thread woken, or poisoned); see
  /// docs/observability.md. Log-scale buckets: within about 12%. 0 before any fault.
  std::uint64_t fault_wait_p50_ns = 0;
  std::uint64_t fault_wait_p99_ns = 0;
  std::uint64_t bytes_from_storage = 0; ///< storage->host bytes: pages read back (a mapped file, the spill file)
  std::uint64_t bytes_to_storage = 0;   ///< host->storage bytes: pages spilled, and written pages written back to a mapped file
  std::uint64_t spill_failures = 0;     ///< chunks the host budget could not spill (ENOSPC, EIO): their pages stayed in memory
  /// Host memory held by managed data now (the memfds' allocated pages; the host
  /// budget's UMPAGER_HOST_MEMORY bounds it).
  std::uint64_t host_bytes_in_use = 0;
  std::uint64_t io_queue_depth_max = 0; ///< most storage requests one batch kept in flight at once
  /// Storage read latency of faults: one batch of reads for a faulting block, from
  /// submission to the last completion. Same buckets as fault_wait. 0 before any.
  std::uint64_t storage_read_p50_ns = 0;
  std::uint64_t storage_read_p99_ns = 0;
  std::uint64_t device_bytes_in_use = 0;///< device memory mapped now
  /// The part of device_bytes_in_use past the end of its allocation: every allocation
  /// takes whole chunks (2 MiB), so small allocations waste most of theirs.
  std::uint64_t device_bytes_slack = 0;
  std::uint64_t managed_bytes = 0;      ///< bytes of live allocations
  std::uint64_t metadata_bytes = 0;     ///< runtime memory spent on their page tables and chunk records
  // Kernels reaching memory that is not resident (device_span.hpp):
  std::uint64_t remote_accesses = 0;    ///< accesses the accessors counted in host memory
  std::uint64_t remote_chunk_reaches = 0;  ///< chunks declarations readied to be reached in host memory (one per chunk and launch)
  std::uint64_t chunks_migrated = 0;    ///< chunks moved onto a device by their access counts (UMPAGER_MIGRATE_AFTER)
  std::uint64_t bytes_migrated = 0;     ///< the part of bytes_to_device those moves copied
};

}  // namespace umpager
