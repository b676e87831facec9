// Atomic counters behind umpager::stats (relaxed: they are statistics, not synchronisation).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>

#include "umpager/stats.hpp"
#include "wait_histogram.hpp"

namespace umpager::detail {

struct counters {
  static constexpr unsigned kMaxResolvers = 64;  ///< config::resolvers' limit
  std::atomic<std::uint64_t> written_pages_found{0}, pages_continued{0}, pages_poisoned{0}, pages_read_ahead{0},
      stale_faults{0}, bytes_to_device{0}, bytes_to_host{0}, chunks_evicted{0};
  /// What each resolver counts per fault, on its own cache line (resolver i writes only
  /// line i), so resolvers serving faults on different chunks share no counter; summed
  /// by snapshot(). Indexed by resolver number.
  struct alignas(64) resolver_counts {
    std::atomic<std::uint64_t> read_faults{0}, write_faults{0}, wp_faults{0}, busy_ns{0}, messages{0};
  };
  std::array<resolver_counts, kMaxResolvers> per_resolver;

  std::atomic<std::uint64_t> bytes_read_ahead{0};
  std::atomic<std::uint64_t> bytes_device_to_device{0};
  std::atomic<std::uint64_t> thrashing_events{0}, policy_failures{0}, stale_launches{0};
  std::atomic<std::uint64_t> bytes_from_storage{0}, bytes_to_storage{0}, io_queue_depth_max{0};
  std::atomic<std::uint64_t> spill_failures{0};
  std::atomic<std::uint64_t> remote_chunk_reaches{0}, chunks_migrated{0}, bytes_migrated{0};
  wait_histogram storage_read;  ///< per batch of storage reads serving a fault
  void note_queue_depth(std::uint64_t d) noexcept {
    std::uint64_t cur = io_queue_depth_max.load(std::memory_order_relaxed);
    while (d > cur && !io_queue_depth_max.compare_exchange_weak(cur, d, std::memory_order_relaxed)) {
    }
  }
  /// Guards bytes_to_host and bytes_read_ahead together where read-ahead adds to both,
  /// so a snapshot's bytes_to_host - bytes_read_ahead (what faults and prefetches copied)
  /// is exact.
  mutable std::mutex read_ahead_mutex;
  /// Fault wait times, one histogram per resolver (indexed by resolver number).
  std::array<wait_histogram, kMaxResolvers> fault_wait;

  static void add(std::atomic<std::uint64_t>& c, std::uint64_t v) noexcept {
    c.fetch_add(v, std::memory_order_relaxed);
  }
  void add_read_ahead_copy(std::uint64_t bytes) noexcept {
    std::lock_guard g(read_ahead_mutex);
    add(bytes_to_host, bytes);
    add(bytes_read_ahead, bytes);
  }
  [[nodiscard]] stats snapshot() const noexcept {
    auto g = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
    stats s;
    for (const resolver_counts& r : per_resolver) {
      s.read_faults += g(r.read_faults);
      s.write_faults += g(r.write_faults);
      s.wp_faults += g(r.wp_faults);
      s.resolver_busy_ns += g(r.busy_ns);
      s.fault_messages += g(r.messages);
    }
    s.written_pages_found = g(written_pages_found);
    s.pages_continued = g(pages_continued);
    s.pages_poisoned = g(pages_poisoned);
    s.stale_faults = g(stale_faults);
    s.pages_read_ahead = g(pages_read_ahead);
    s.bytes_device_to_device = g(bytes_device_to_device);
    s.bytes_to_device = g(bytes_to_device);
    {
      std::lock_guard l(read_ahead_mutex);
      s.bytes_to_host = g(bytes_to_host);
      s.bytes_read_ahead = g(bytes_read_ahead);
    }
    s.chunks_evicted = g(chunks_evicted);
    wait_histogram::counts waits{};
    for (const wait_histogram& h : fault_wait) h.merge_into(waits);
    s.fault_wait_p50_ns = wait_histogram::quantile(waits, 0.50);
    s.fault_wait_p99_ns = wait_histogram::quantile(waits, 0.99);
    s.thrashing_events = g(thrashing_events);
    s.policy_failures = g(policy_failures);
    s.stale_launches = g(stale_launches);
    s.bytes_from_storage = g(bytes_from_storage);
    s.bytes_to_storage = g(bytes_to_storage);
    s.io_queue_depth_max = g(io_queue_depth_max);
    s.spill_failures = g(spill_failures);
    s.remote_chunk_reaches = g(remote_chunk_reaches);
    s.chunks_migrated = g(chunks_migrated);
    s.bytes_migrated = g(bytes_migrated);
    wait_histogram::counts reads{};
    storage_read.merge_into(reads);
    s.storage_read_p50_ns = wait_histogram::quantile(reads, 0.50);
    s.storage_read_p99_ns = wait_histogram::quantile(reads, 0.99);
    return s;
  }
};

}  // namespace umpager::detail
