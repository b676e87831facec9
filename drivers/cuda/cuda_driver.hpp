// The CUDA driver: device VA reserved with cuMemAddressReserve, physical 2 MiB
// chunks from cuMemCreate kept in a pool, mapped with cuMemMap/cuMemSetAccess;
// the alias view pinned with cudaHostRegister; copies on non-blocking streams.
//
// The library never links libcuda: driver-API calls are reached through
// cudaGetDriverEntryPointByVersion, so a binary that contains this driver loads
// and runs on a machine without the NVIDIA driver; probe() then says why the
// driver cannot be used and make_driver() throws umpager::driver_error.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "umpager/driver.hpp"

namespace umpager::cuda {

struct cuda_config {
  int device = 0;                ///< CUDA device ordinal
  std::size_t memory_bytes = 0;  ///< device memory the runtime may use; 0 = 90% of free memory
};

struct probe_result {
  bool usable = false;
  std::string reason;  ///< why not usable (empty when usable)
};

/// Checks that a CUDA driver and `device` are present and support virtual
/// memory management. Never throws; safe without an NVIDIA driver.
probe_result probe(int device = 0) noexcept;

/// Throws umpager::invalid_argument for a negative or absent device number,
/// umpager::driver_error with probe()'s reason when CUDA cannot be used.
std::unique_ptr<driver> make_driver(const cuda_config& cfg);

/// RAII NVTX range (a no-op unless a profiler is attached).
class nvtx_range {
 public:
  explicit nvtx_range(const char* name) noexcept;
  ~nvtx_range();
  nvtx_range(const nvtx_range&) = delete;
  nvtx_range& operator=(const nvtx_range&) = delete;
};

}  // namespace umpager::cuda
