// Error checking for CUDA calls, after RMM's RMM_CUDA_TRY: a failing call
// throws an umpager exception naming the call, the CUDA error and the place.
// Allocation failures become umpager::out_of_memory, anything else
// umpager::driver_error (or the type given to the _AS variants).
#pragma once

#include <cuda.h>
#include <cuda_runtime_api.h>

#include <string>

#include "umpager/error.hpp"

namespace umpager::cuda::detail {

/// "cudaErrorInvalidValue (invalid argument)"
std::string describe(cudaError_t err);
/// "CUDA_ERROR_OUT_OF_MEMORY (out of memory)"; works without a driver too.
std::string describe(CUresult res);

std::string failure_message(const std::string& error, const char* expr, const char* file, int line);

template <class Exception>
[[noreturn]] void throw_as(cudaError_t err, const char* expr, const char* file, int line) {
  throw Exception(failure_message(describe(err), expr, file, line));
}
template <class Exception>
[[noreturn]] void throw_as(CUresult res, const char* expr, const char* file, int line) {
  throw Exception(failure_message(describe(res), expr, file, line));
}

[[noreturn]] inline void throw_error(cudaError_t err, const char* expr, const char* file, int line) {
  if (err == cudaErrorMemoryAllocation) throw_as<::umpager::out_of_memory>(err, expr, file, line);
  throw_as<::umpager::driver_error>(err, expr, file, line);
}
[[noreturn]] inline void throw_error(CUresult res, const char* expr, const char* file, int line) {
  if (res == CUDA_ERROR_OUT_OF_MEMORY) throw_as<::umpager::out_of_memory>(res, expr, file, line);
  throw_as<::umpager::driver_error>(res, expr, file, line);
}

inline bool failed(cudaError_t err) noexcept {
  if (err == cudaSuccess) return false;
  (void)cudaGetLastError();  // clear a non-sticky error so later calls do not report it
  return true;
}
inline bool failed(CUresult res) noexcept { return res != CUDA_SUCCESS; }

}  // namespace umpager::cuda::detail

/// Evaluates a runtime-API (cudaError_t) or driver-API (CUresult) call and
/// throws on failure: out_of_memory for allocation failures, else driver_error.
#define UMPAGER_CUDA_TRY(call)                                                          \
  do {                                                                                  \
    const auto umpager_cuda_status_ = (call);                                           \
    if (::umpager::cuda::detail::failed(umpager_cuda_status_))                          \
      ::umpager::cuda::detail::throw_error(umpager_cuda_status_, #call, __FILE__, __LINE__); \
  } while (0)

/// Same, throwing `exception` (an umpager exception type) for every failure.
#define UMPAGER_CUDA_TRY_AS(call, exception)                                            \
  do {                                                                                  \
    const auto umpager_cuda_status_ = (call);                                           \
    if (::umpager::cuda::detail::failed(umpager_cuda_status_))                          \
      ::umpager::cuda::detail::throw_as<exception>(umpager_cuda_status_, #call, __FILE__, __LINE__); \
  } while (0)

/// For teardown (noexcept) paths: evaluates the call and discards a failure.
#define UMPAGER_CUDA_IGNORE(call)                                                       \
  do {                                                                                  \
    (void)::umpager::cuda::detail::failed(call);                                        \
  } while (0)
