// Model-based randomized stress of the whole runtime (issue 4, item 1).
//
// CPU threads read and write managed pages (owned pages, read-only pages and
// lock-guarded counter pages as in the kernel's uffd-stress), a controller moves
// data with prefetches in both directions (also while the CPU threads run), runs
// kernels on the device, frees and allocates, with device memory smaller than the
// data, while a signal thread interrupts threads blocked in faults. Every value is
// checked against a shadow model. See docs/stress.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "umpager/config.hpp"
#include "umpager/stats.hpp"

namespace umpager::stress {

struct stress_options {
  std::uint64_t seed = 1;
  double seconds = 10;                                   ///< wall-clock budget of the epoch loop
  unsigned cpu_threads = 4;                              ///< CPU worker threads
  std::size_t device_memory = std::size_t{16} << 20;     ///< runtime device budget (config::device_memory)
  tracking_mode tracking = tracking_mode::wp_async;
  std::size_t block = 64 * 1024;                         ///< config::block_size (0: adaptive)
  unsigned resolvers = 2;
  /// Simulated devices (peers): prefetches and kernels pick one at random, so chunks
  /// move between devices by peer copies while CPU threads fault.
  unsigned devices = 1;
  /// Host budget (config::host_memory, 0 = none): past it pages spill to a file in
  /// $TMPDIR and come back on touch, while everything else goes on (issue 11).
  std::size_t host_memory = 0;
  unsigned allocations = 3;                              ///< live allocations at any time
  std::size_t min_alloc_bytes = std::size_t{8} << 20;
  std::size_t max_alloc_bytes = std::size_t{16} << 20;
  unsigned locked_pages = 8;                             ///< shared counter pages per epoch
  bool signals = true;                                   ///< SIGUSR1 to CPU workers at random times
  bool concurrent_prefetch = true;                       ///< prefetches while CPU threads run
  bool syscalls = true;                                  ///< managed memory passed to read(2)/write(2)
  /// Kernels on a window of pages no worker touches, while the workers run. Off by
  /// default: it hits runtime bugs 1 and 3 of docs/stress.md (stress_regression.*).
  bool concurrent_kernels = false;
  /// Driver calls made by prefetches fail at random (1 in 64) with driver_error,
  /// out_of_memory, std::invalid_argument, std::bad_alloc or std::runtime_error (issue
  /// 12); a failed prefetch must change no data and is retried. Faults never fail here.
  bool inject_failures = false;
  /// Issue 8's calls: declared kernels on several streams while another stream
  /// prefetches asynchronously and evicts, advice, attach and policy changes
  /// (stress_residency.cpp). --no-residency turns them off.
  bool residency = true;
  double watchdog_seconds = 10;                          ///< an op stuck longer aborts the process
  bool verbose = false;                                  ///< a line per 100 epochs on stderr
};

struct stress_result {
  std::uint64_t ops = 0;             ///< checked operations (CPU + controller), see docs/stress.md
  std::uint64_t cpu_reads = 0;       ///< word/run reads, each compared with the model
  std::uint64_t cpu_writes = 0;      ///< word/run writes (checked by later reads)
  std::uint64_t locked_increments = 0;
  std::uint64_t syscall_ops = 0;     ///< read(2)/write(2) with a managed buffer
  std::uint64_t syscall_retries = 0; ///< short/EFAULT transfers retried (signals during kernel faults)
  std::uint64_t prefetches = 0;      ///< by the controller, both directions, concurrent ones included
  std::uint64_t prefetch_failures = 0;  ///< prefetches that failed by an injected driver failure and were retried
  std::uint64_t kernels = 0;         ///< add / fill_index launches
  std::uint64_t declared = 0;        ///< declared kernels (residency ops)
  std::uint64_t reached = 0;         ///< of them, kernels through the accessor on a reachable range
  std::uint64_t hints = 0;           ///< advice, attach and policy changes
  std::uint64_t device_checks = 0;   ///< device copies compared with the model by a launched function
  std::uint64_t reallocations = 0;   ///< free + allocate
  std::uint64_t words_checked = 0;   ///< 32-bit words compared with the model
  std::uint64_t epochs = 0;
  std::uint64_t signals_sent = 0;
  std::uint64_t mismatches = 0;      ///< values that differ from the model
  std::uint64_t invariant_failures = 0;  ///< budget, statistics, exceptions, counters
  std::uint64_t faults = 0;          ///< read + write + wp faults counted by the runtime
  std::uint64_t max_op_ns = 0;       ///< slowest single CPU op (a fault included)
  std::uint64_t slow_ops = 0;        ///< CPU ops slower than 100 ms
  std::uint64_t max_device_bytes = 0;///< highest device_bytes_in_use seen
  double elapsed_s = 0;
  std::string first_mismatch;        ///< empty when none
  std::string first_failure;         ///< empty when none
  stats final_stats{};

  [[nodiscard]] bool ok() const noexcept { return mismatches == 0 && invariant_failures == 0; }
  /// One line: seed, mode, ops, ops/s, mismatches, faults, latency.
  [[nodiscard]] std::string summary(const stress_options& o) const;
};

/// The umpager-stress command line that re-runs `o` (same seed, same operation mix).
std::string repro_command(const stress_options& o);

/// Runs the stress for `o.seconds`. Never hangs: a stuck op aborts the process
/// after printing the seed (watchdog). Throws only if the runtime cannot start.
stress_result run_stress(const stress_options& o);

}  // namespace umpager::stress
