// The accessor in device code, on a GPU: a native kernel and a Thrust reduction over
// device_span on a set larger than the device budget, declared reachable. Skips
// (with the probe's reason) without a GPU; compiled by nvcc in every CUDA build, so
// device_span keeps compiling as device code.
#include <cuda_runtime.h>
#include <gtest/gtest.h>
#include <thrust/execution_policy.h>
#include <thrust/reduce.h>

#include <cstdint>
#include <string>

#include "runtime_fixture.hpp"

namespace umpager::testing {
namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;

__global__ void add_one(device_span<std::uint32_t> s) {
  for (std::size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < s.size(); i += gridDim.x * blockDim.x) s[i] += 1;
}

TEST(reach_cuda, a_native_kernel_and_thrust_reach_a_set_larger_than_the_budget) {
  std::string why;
  config cfg = make_config(65536, tracking_mode::automatic);
  cfg.device_memory = 8 * kMiB;
  auto rt = make_runtime<cuda_factory>(cfg, &why);
  if (!rt) GTEST_SKIP() << "cuda: " << why;
  constexpr std::size_t bytes = 20 * kMiB, n = bytes / sizeof(std::uint32_t);
  buffer x = rt->allocate(bytes);
  auto* w = x.as<std::uint32_t>();
  for (std::size_t i = 0; i < n; ++i) w[i] = static_cast<std::uint32_t>(i);
  auto s = rt->create_stream();
  rt->prefetch(w, 4 * kMiB, location::device, s);
  auto span = rt->reach(w, n);
  const access set[] = {{w, bytes, access_mode::read_write, access_kind::reachable}};
  auto native = static_cast<cudaStream_t>(s.native());
  {
    declaration d = rt->declare(set, s);
    add_one<<<256, 256, 0, native>>>(span);
    ASSERT_EQ(cudaGetLastError(), cudaSuccess);
    d.close();
  }
  std::uint64_t sum = 0;
  {
    const access read[] = {{w, bytes, access_mode::read, access_kind::reachable}};
    declaration d = rt->declare(read, s);
    sum = thrust::reduce(thrust::cuda::par.on(native), span.begin(), span.end(), std::uint64_t{0});
    d.close();
  }
  s.synchronize();
  EXPECT_EQ(sum, std::uint64_t{n} * (n + 1) / 2);
  EXPECT_EQ(index_mismatches(w, n, 1), 0u);
}

}  // namespace
}  // namespace umpager::testing
