// transform.inl for the simulated device: Thrust's OpenMP backend, host compiler.
#include <thrust/system/omp/execution_policy.h>

#define UMPAGER_KERNELS_BACKEND omp
#define UMPAGER_KERNELS_POLICY_PARAMS
#define UMPAGER_KERNELS_POLICY thrust::omp::par
#include "transform.inl"
