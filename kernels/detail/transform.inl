// The kernels' single source, included by transform_omp.cpp (host compiler,
// THRUST_DEVICE_SYSTEM_OMP) and transform_cuda.cu (nvcc). Each backend file
// defines UMPAGER_KERNELS_POLICY_PARAMS / _POLICY (how to get the execution
// policy) and UMPAGER_KERNELS_BACKEND (the namespace of its entry points).
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

#include <cstddef>
#include <cstdint>

#include "backends.hpp"

#if defined(__CUDACC__)
#define UMPAGER_HD __host__ __device__
#else
#define UMPAGER_HD
#endif

namespace umpager::kernels::detail {
namespace {

struct fill_index_op {
  std::uint32_t* data;
  std::uint32_t seed;
  UMPAGER_HD void operator()(std::size_t i) const { data[i] = static_cast<std::uint32_t>(i) + seed; }
};

struct add_op {
  std::uint32_t* data;
  std::uint32_t delta;
  UMPAGER_HD void operator()(std::size_t i) const { data[i] += delta; }
};

template <class Policy, class Op>
void for_each_index(Policy&& policy, std::size_t n, Op op) {
  thrust::for_each(policy, thrust::counting_iterator<std::size_t>(0), thrust::counting_iterator<std::size_t>(n), op);
}

}  // namespace

namespace UMPAGER_KERNELS_BACKEND {

void fill_index(UMPAGER_KERNELS_POLICY_PARAMS std::uint32_t* data, std::size_t n, std::uint32_t seed) {
  for_each_index(UMPAGER_KERNELS_POLICY, n, fill_index_op{data, seed});
}

void add(UMPAGER_KERNELS_POLICY_PARAMS std::uint32_t* data, std::size_t n, std::uint32_t delta) {
  for_each_index(UMPAGER_KERNELS_POLICY, n, add_op{data, delta});
}

}  // namespace UMPAGER_KERNELS_BACKEND
}  // namespace umpager::kernels::detail

#undef UMPAGER_HD
