// transform.inl for a GPU: Thrust's CUDA backend on the caller's stream. The only
// nvcc translation unit of umpager: keep it so (nvcc takes ~25 s per Thrust file).
#include <cuda_runtime_api.h>
#include <thrust/system/cuda/execution_policy.h>

// par_nosync: enqueue and return, like every other stream operation of the
// driver (thrust::cuda::par would synchronize the stream after each algorithm).
#define UMPAGER_KERNELS_BACKEND cuda
#define UMPAGER_KERNELS_POLICY_PARAMS void *stream,
#define UMPAGER_KERNELS_POLICY thrust::cuda::par_nosync.on(static_cast<cudaStream_t>(stream))
#include "transform.inl"
