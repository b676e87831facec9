// Entry points of the two compilations of transform.inl; called by kernels.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

namespace umpager::kernels::detail {

/// Thrust OpenMP backend; runs synchronously on the calling thread (plus OpenMP workers).
namespace omp {
void fill_index(std::uint32_t* data, std::size_t n, std::uint32_t seed);
void add(std::uint32_t* data, std::size_t n, std::uint32_t delta);
}  // namespace omp

/// Thrust CUDA backend; enqueued on `stream` (a cudaStream_t), asynchronous.
namespace cuda {
void fill_index(void* stream, std::uint32_t* data, std::size_t n, std::uint32_t seed);
void add(void* stream, std::uint32_t* data, std::size_t n, std::uint32_t delta);
}  // namespace cuda

}  // namespace umpager::kernels::detail
