// The algorithm of the Thrust sample, one source for both devices: y = a*x + y, then
// the sum of y, with Thrust algorithms over device pointers of managed memory. Included
// by thrust_managed.cpp (host compiler, thrust::omp::par: the simulated device) and
// thrust_managed_cuda.cu (nvcc, thrust::cuda::par on the stream: a GPU).
#include <thrust/functional.h>
#include <thrust/reduce.h>
#include <thrust/transform.h>

#include <cstddef>

#if defined(__CUDACC__)
#define SAMPLE_HD __host__ __device__
#else
#define SAMPLE_HD
#endif

struct saxpy_op {
  float a;
  SAMPLE_HD float operator()(float x, float y) const { return a * x + y; }
};

template <class Policy>
double saxpy_then_sum(Policy&& policy, float a, const float* x, float* y, std::size_t n) {
  thrust::transform(policy, x, x + n, y, y, saxpy_op{a});
  return thrust::reduce(policy, y, y + n, 0.0, thrust::plus<double>());
}

#undef SAMPLE_HD
