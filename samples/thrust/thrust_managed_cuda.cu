// saxpy.inl on a GPU: Thrust's CUDA backend on the stream of the umpager runtime.
#include <cuda_runtime_api.h>
#include <thrust/system/cuda/execution_policy.h>

#include "saxpy.inl"

double saxpy_then_sum_cuda(void* stream, float a, const float* x, float* y, std::size_t n) {
  return saxpy_then_sum(thrust::cuda::par.on(static_cast<cudaStream_t>(stream)), a, x, y, n);
}
