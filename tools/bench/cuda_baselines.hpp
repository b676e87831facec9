// The GPU's own limits on a scan, measured with the CUDA runtime API only (no
// kernels, no libcuda): pinned device-to-host cudaMemcpy, and the same touch pass
// over cudaMallocManaged memory prefetched to the GPU (UVM). Run only when the
// run's driver is "cuda"; in a build without CUDA every function is a stub. See
// docs/bench.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "touch.hpp"

namespace umpager::bench {

struct cuda_result {
  std::optional<double> pinned_d2h_seconds;  ///< one cudaMemcpy D2H of the bytes into pinned memory (best of 3)
  std::optional<touch_result> uvm;           ///< the touch pass over prefetched managed memory
  std::string note;                          ///< why a part was not measured (empty when all were)
};

/// True when this build has the CUDA baselines (UMPAGER_HAVE_CUDA).
[[nodiscard]] bool cuda_baselines_built() noexcept;

/// For --baselines-only (no umpager pass to ask): whether the runtime would choose
/// the CUDA driver (UMPAGER_DRIVER is not `sim` and umpager::cuda::probe() says
/// usable). False without CUDA in the build.
[[nodiscard]] bool cuda_driver_chosen();

/// The CUDA baselines on device 0 with the run's plan, access and seed (the data
/// pattern and write salt of the umpager pass). std::nullopt in a build without
/// CUDA. A part that cannot run (too little free device memory, no concurrent
/// managed access, a CUDA error) is left empty with the reason in `note`; a UVM
/// read pass that returns other data than was written throws data_error.
[[nodiscard]] std::optional<cuda_result> run_cuda_baselines(const touch_plan& plan, access a,
                                                            std::uint64_t seed);

}  // namespace umpager::bench
