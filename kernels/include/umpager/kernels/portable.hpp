// Kernels of one's own, written once: a __host__ __device__ functor runs on the
// simulated device and on a GPU, over device pointers of managed memory, on a
// stream (docs/kernels.md).
//
//   struct scale {                                   // the kernel body
//     float* y; const float* x; float a;
//     UMPAGER_HOST_DEVICE void operator()(std::size_t i) const { y[i] = a * x[i]; }
//   };
//   umpager::kernels::for_each_n(drv, s, n, scale{dy, dx, 2.f});   // data already resident
//   umpager::kernels::launch_n(rt, s, set, n, scale{dy, dx, 2.f});  // declares `set` first
//
// Header-only, built on Thrust (CCCL, shipped with the CUDA toolkit):
//   - compiled by the host compiler (g++, THRUST_DEVICE_SYSTEM_OMP, -fopenmp), it
//     runs on the "sim" driver: Thrust's OpenMP backend inside driver::launch, so the
//     loop runs in stream order on the simulated device's worker;
//   - compiled by nvcc (a .cu file), it also runs on the "cuda" driver: Thrust's
//     CUDA backend on the stream's native cudaStream_t, enqueued and not waited for.
// A translation unit not compiled by nvcc has no device code: given the CUDA
// driver it throws umpager::invalid_argument saying so (compile that file as CUDA).
// Link umpager::kernels (CMake) for the include paths and flags.
#pragma once

#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

#include <cstddef>
#include <string>
#include <utility>

#include "umpager/access.hpp"
#include "umpager/driver.hpp"
#include "umpager/error.hpp"
#include "umpager/runtime.hpp"
#include "umpager/span.hpp"

#if defined(__CUDACC__)
#include <cuda_runtime_api.h>
#include <thrust/system/cuda/execution_policy.h>
/// Marks a kernel body callable on the host (simulated device) and on a GPU.
#define UMPAGER_HOST_DEVICE __host__ __device__
#else
#define UMPAGER_HOST_DEVICE
#endif
#if defined(_OPENMP)
#include <thrust/system/omp/execution_policy.h>
#else
#include <thrust/system/cpp/execution_policy.h>
#endif

namespace umpager::kernels {
namespace detail {

enum class target { host, cuda };

/// Where kernels for `d` run; a clear error where this translation unit cannot run them.
inline target pick_target(const driver& d, const char* what) {
  const std::string& name = d.info().name;
  if (name == "sim") return target::host;
  if (name == "cuda") {
#if defined(__CUDACC__)
    return target::cuda;
#else
    throw invalid_argument(std::string("umpager::kernels::") + what +
                           ": the driver is CUDA but this translation unit was not compiled by nvcc, so it has "
                           "no device code; compile the file that calls it as CUDA (.cu, or LANGUAGE CUDA)");
#endif
  }
  throw invalid_argument(std::string("umpager::kernels::") + what + ": no portable kernels for driver \"" + name +
                         "\"");
}

/// The host backend: OpenMP threads when compiled with -fopenmp, else sequential.
template <class F>
void host_for_each_n(std::size_t n, const F& f) {
#if defined(_OPENMP)
  thrust::for_each_n(thrust::omp::par, thrust::counting_iterator<std::size_t>(0), n, f);
#else
  thrust::for_each_n(thrust::cpp::par, thrust::counting_iterator<std::size_t>(0), n, f);
#endif
}

#if defined(__CUDACC__)
/// Enqueues f(0..n-1) on a native CUDA stream; Thrust's errors become driver_error.
template <class F>
void cuda_for_each_n(void* stream, std::size_t n, const F& f, const char* what) {
  UMPAGER_EXPECTS(stream != nullptr, std::string("umpager::kernels::") + what + ": no CUDA stream for this handle");
  try {
    // par_nosync: enqueue and return, like every other stream operation.
    thrust::for_each_n(thrust::cuda::par_nosync.on(static_cast<cudaStream_t>(stream)),
                       thrust::counting_iterator<std::size_t>(0), n, f);
  } catch (const std::exception& e) {
    throw driver_error(std::string("umpager::kernels::") + what + " on CUDA: " + e.what());
  }
}
#endif

template <class In, class Out, class F>
struct transform_op {
  const In* in;
  Out* out;
  F f;
  UMPAGER_HOST_DEVICE void operator()(std::size_t i) const { out[i] = f(in[i]); }
};

}  // namespace detail

/// Enqueues f(i) for every i in [0, n) on stream `s` of driver `d` (asynchronous, in
/// stream order). The functor holds device pointers of data already resident on `d`
/// (after a prefetch, or inside launch_n). n == 0 does nothing.
template <class F>
void for_each_n(driver& d, stream_handle s, std::size_t n, F f) {
  const detail::target t = detail::pick_target(d, "for_each_n");
  if (n == 0) return;
  if (t == detail::target::host) {
    d.launch(s, [n, f = std::move(f)] { detail::host_for_each_n(n, f); });
    return;
  }
#if defined(__CUDACC__)
  detail::cuda_for_each_n(d.native_stream(s), n, f, "for_each_n");
#endif
}

/// out[i] = f(in[i]) for i in [0, n), like thrust::transform, on device pointers.
template <class In, class Out, class F>
void transform(driver& d, stream_handle s, const In* in, std::size_t n, Out* out, F f) {
  UMPAGER_EXPECTS((in != nullptr && out != nullptr) || n == 0, "umpager::kernels::transform: null pointer");
  for_each_n(d, s, n, detail::transform_op<In, Out, F>{in, out, std::move(f)});
}

/// The launch that says what it touches: makes the ranges of `set` (host pointers of
/// managed memory) resident on `device`, pins them until the kernel has run, runs
/// f(i) for i in [0, n) on `s`, and afterwards treats the written ranges as device
/// copies (runtime::launch on the simulated device; runtime::declare around the
/// native kernel on CUDA). The functor uses runtime::device_pointer addresses.
/// On CUDA `s` must be a stream from runtime::create_stream (it needs a native stream).
template <class F>
void launch_n(runtime& rt, stream_view s, span<const access> set, std::size_t n, F f, unsigned device = 0) {
  driver& d = rt.device_driver(device);
  const detail::target t = detail::pick_target(d, "launch_n");
  if (t == detail::target::host) {
    rt.launch([n, f = std::move(f)] { detail::host_for_each_n(n, f); }, s, set, device);
    return;
  }
#if defined(__CUDACC__)
  UMPAGER_EXPECTS(!s.is_default(), "umpager::kernels::launch_n on CUDA: pass a stream from runtime::create_stream()");
  auto declared = rt.declare(set, s, device);
  if (n != 0) detail::cuda_for_each_n(d.native_stream(s.handle()), n, f, "launch_n");
  declared.close();
#endif
}

}  // namespace umpager::kernels
