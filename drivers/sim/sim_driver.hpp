// The simulated accelerator: device memory in a host memfd, a device VA range
// per region with chunks mapped in and out (touching an unmapped chunk is a
// SIGSEGV, like an illegal address on a GPU), copy engines with optional
// bandwidth/latency model, and kernels as host callables run in stream order.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "umpager/driver.hpp"

namespace umpager::sim {

/// Faults the simulator can inject (issue 4); each is consulted per copy.
struct fault_plan {
  /// Called for every copy op before it runs; return true to make that op fail.
  std::function<bool(copy_direction, const copy_op&)> fail_copy;
  /// Extra delay (microseconds) before a copy batch completes.
  std::function<unsigned(copy_direction)> delay_us;
  /// Microseconds before a copy batch's bytes land (0 = at once): a DMA still in
  /// flight when the runtime gives up on it writes its destination later, as on a GPU.
  /// Cut short (the bytes never land) only when its stream or the driver is destroyed.
  std::function<unsigned(copy_direction)> land_after_us;
};

struct sim_config {
  std::size_t memory_bytes = std::size_t{4} << 30;  ///< device capacity
  std::size_t chunk_bytes = std::size_t{2} << 20;   ///< physical chunk granularity
  double bandwidth_gbps = 0;                        ///< per copy engine; 0 = full speed (memcpy)
  double latency_us = 0;                            ///< added per copy batch
  std::string local_cpus;                           ///< reported as the CPUs near the device
  fault_plan faults;
  /// Called with each profiler range the runtime opens (driver::range_push); tests.
  std::function<void(const char*)> on_range;
};

std::unique_ptr<driver> make_driver(const sim_config& cfg);

}  // namespace umpager::sim
