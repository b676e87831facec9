// Portable device code used by samples, benchmarks and tests: each call
// enqueues one kernel on `s` (asynchronous, in stream order; synchronize the
// stream before reading the result). One Thrust source serves both devices:
//   - "sim": compiled by the host compiler for Thrust's OpenMP backend and run
//     through driver::launch, on the simulated device's worker thread;
//   - "cuda": compiled by nvcc, launched on the driver's native cudaStream_t
//     (only when umpager was built with CUDA).
// Pointers are device pointers of `d` (inside a mapped device range).
// Throws umpager::invalid_argument for another driver, or "cuda" in a build
// without CUDA, or a null pointer with n > 0; n == 0 does nothing.
#pragma once

#include <cstddef>
#include <cstdint>

#include "umpager/driver.hpp"

namespace umpager::kernels {

/// data[i] = i + seed (mod 2^32) for i in [0, n).
void fill_index(driver& d, stream_handle s, std::uint32_t* data, std::size_t n, std::uint32_t seed);

/// data[i] += delta (mod 2^32) for i in [0, n).
void add(driver& d, stream_handle s, std::uint32_t* data, std::size_t n, std::uint32_t delta);

/// True when this build can run kernels on a driver named `driver_name`.
[[nodiscard]] bool supports(const char* driver_name) noexcept;

}  // namespace umpager::kernels
