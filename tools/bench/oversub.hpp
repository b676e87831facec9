// umpager-bench oversub: the workloads of kernels/workloads (triad, GUPS, stencil,
// SpMV, matmul) at data sizes around the device budget, under each eviction
// policy, with Belady's MIN as the reference for traffic (docs/bench.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "umpager/kernels/workloads.hpp"

namespace umpager::bench {

enum class oversub_format { table, json, csv };

struct oversub_options {
  std::vector<kernels::workloads::kind> workloads;  ///< empty: all
  std::vector<unsigned> ratios;                     ///< data as % of the budget; empty: the default six
  std::vector<std::string> policies;                ///< empty: every policy the runtime has
  std::size_t budget = std::size_t{32} << 20;       ///< device memory umpager may use (UMPAGER_DEVICE_MEMORY)
  std::size_t tile = 0;                             ///< bytes per launch; 0 = budget / 8
  unsigned passes = 2;
  unsigned repeat = 1;                              ///< timed runs per cell; seconds are their median
  unsigned in_flight = 1;                           ///< launches in flight (workloads::params::in_flight)
  bool baseline = true;                             ///< plain device buffers where the data fits
  bool overlap = true;                              ///< the triad pipeline's hidden copy time (sim driver)
  double overlap_gbps = 0.25;                        ///< copy-engine bandwidth of that measurement's simulated device
  double overlap_kernel_gbps = 0.36;                 ///< its kernels' floor: set bytes at this rate (0: none)
  std::uint64_t seed = 1;
  oversub_format format = oversub_format::table;
  std::string output_dir;                           ///< results.json, results.csv and oversub.svg go here
  bool progress = true;                             ///< a progress bar on stderr when it is a terminal
};

/// One (workload, ratio, policy) cell; a JSON row.
struct oversub_row {
  std::string workload, policy, driver;
  unsigned ratio = 0;
  std::size_t data_bytes = 0;
  std::size_t launches = 0;
  double seconds = 0;
  std::uint64_t bytes_to_device = 0, bytes_to_host = 0, opt_bytes = 0;
  std::uint64_t evictions = 0, thrashing_events = 0, cpu_faults = 0;
  /// Accessor workloads: accesses reached in host memory, and the bytes moves by
  /// access counts copied (part of bytes_to_device).
  std::uint64_t remote_accesses = 0, migrated_bytes = 0;
  /// A host-memory access counted as one 64-byte transfer (what migrate_after's auto assumes).
  [[nodiscard]] std::uint64_t remote_bytes() const { return remote_accesses * 64; }
  std::optional<double> baseline_seconds;  ///< plain device buffers; absent where the data does not fit
  std::optional<double> uvm_hinted_seconds, uvm_seconds;  ///< cudaMallocManaged; CUDA driver only
  bool correct = false;
  std::string error;  ///< the workload's check, or the failure, when not correct
  [[nodiscard]] std::uint64_t bytes_moved() const { return bytes_to_device + bytes_to_host; }
  [[nodiscard]] std::optional<double> over_opt() const {
    return opt_bytes ? std::optional<double>(double(bytes_to_device) / double(opt_bytes)) : std::nullopt;
  }
};

/// The triad pipeline on a simulated device with a copy bandwidth model: pairs of
/// runs, one with copies at `gbps` and one with copies at memcpy speed, interleaved.
struct overlap_result {
  unsigned ratio = 0;
  std::string policy;
  double gbps = 0;                 ///< the model's per-engine copy bandwidth
  double kernel_gbps = 0;          ///< the kernels' floor (0: none)
  unsigned pairs = 0;              ///< pairs of runs measured
  double seconds = 0;              ///< the runs with copies at `gbps` (T, median)
  double fast_seconds = 0;         ///< the runs with copies at memcpy speed (F, median)
  double kernel_seconds = 0;       ///< time the tiles' kernels ran in the slow runs (median)
  double fast_kernel_seconds = 0;  ///< and in the fast runs (median)
  double copy_seconds = 0;         ///< host-to-device bytes at the model's bandwidth (C, median)
  double hidden_seconds = 0;       ///< median over pairs of C - (T - F): upload time that did not lengthen the run
  double hidden_min = 0;           ///< spread of hidden_seconds over the pairs
  double hidden_max = 0;
  double hidden_fraction = 0;      ///< hidden_seconds / C, clamped to [0, 1]
  double hidden_bound = 0;         ///< what an ideal pipeline of the same launches, as deep, hides (0: no kernel model)
};

struct oversub_report {
  std::string driver;
  std::size_t budget = 0;
  double first_touch_us = 0;  ///< baselines.hpp first_touch_us: the VM's page-table fill cost
  std::vector<oversub_row> rows;
  std::optional<overlap_result> overlap;
};

/// How accessor workloads (workloads::reaches) place their data: counters (the
/// default, UMPAGER_MIGRATE_AFTER=auto), remote (never), migrate (1: on first touch,
/// as UVM) and resident (declared resident, today's rule; only where the data fits).
[[nodiscard]] std::vector<std::string> reach_policies();

/// Policies of the runtime, the default first.
[[nodiscard]] std::vector<std::string> known_policies();
[[nodiscard]] std::string default_policy();

/// Runs the suite; `progress(done, total, what)` is called before each run.
oversub_report run_oversub(const oversub_options& o,
                           const std::function<void(std::size_t, std::size_t, const std::string&)>& progress);

/// The `oversub` command: argv after "oversub". Returns the exit status.
int oversub_main(int argc, char** argv);
/// `umpager-bench mapfile` (mapfile.cpp).
int mapfile_main(int argc, char** argv);

}  // namespace umpager::bench
