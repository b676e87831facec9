// Kernels written once (umpager/kernels/portable.hpp), through the public API:
// for_each_n and transform over device pointers of resident data, and launch_n,
// which declares what the kernel touches, on managed data larger than the device
// budget. This file is compiled by the host compiler: on the CUDA driver every
// call must refuse with a clear error (there is no device code here).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "runtime_fixture.hpp"
#include "umpager/kernels/portable.hpp"

namespace umpager::testing {
namespace {

template <class Factory>
class portable_kernels_test : public ::testing::Test {};
TYPED_TEST_SUITE(portable_kernels_test, driver_factories, factory_names);

struct square_plus {
  std::uint32_t* out;
  const std::uint32_t* in;
  std::uint32_t k;
  UMPAGER_HOST_DEVICE void operator()(std::size_t i) const { out[i] = in[i] * in[i] + k; }
};

struct times_three {
  UMPAGER_HOST_DEVICE std::uint32_t operator()(std::uint32_t v) const { return 3 * v; }
};

constexpr std::size_t kBytes = std::size_t{4} << 20;
constexpr std::size_t kWords = kBytes / sizeof(std::uint32_t);

/// On a driver this (host-compiled) file cannot run kernels for, the error says why.
template <class Fn>
bool refused_without_nvcc(runtime& rt, Fn&& fn) {
  if (rt.device_driver().info().name != "cuda") return false;
  try {
    fn();
    ADD_FAILURE() << "a host-compiled kernel ran on the CUDA driver";
  } catch (const invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("nvcc"), std::string::npos) << e.what();
  }
  return true;
}

TYPED_TEST(portable_kernels_test, for_each_n_and_transform_on_resident_data) {
  std::string why;
  auto rt = make_runtime<TypeParam>(make_config(65536, tracking_mode::automatic), &why);
  if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
  auto s = rt->create_stream();
  buffer in = rt->allocate(kBytes), out = rt->allocate(kBytes);
  auto* hin = in.as<std::uint32_t>();
  for (std::size_t i = 0; i < kWords; ++i) hin[i] = static_cast<std::uint32_t>(i);
  rt->prefetch(hin, kBytes, location::device, s);
  rt->prefetch(out.data(), kBytes, location::device, s);
  auto* din = static_cast<std::uint32_t*>(in.device_data());
  auto* dout = static_cast<std::uint32_t*>(out.device_data());
  if (refused_without_nvcc(*rt, [&] { kernels::for_each_n(rt->device_driver(), s.handle(), kWords, square_plus{dout, din, 7}); })) {
    GTEST_SKIP() << "CUDA driver: refused with a clear error, as a host-compiled file must";
  }
  kernels::for_each_n(rt->device_driver(), s.handle(), kWords, square_plus{dout, din, 7});
  s.synchronize();
  const auto* hout = out.as<std::uint32_t>();
  std::size_t bad = 0;
  for (std::size_t i = 0; i < kWords; ++i) bad += hout[i] != static_cast<std::uint32_t>(i * i + 7);
  EXPECT_EQ(bad, 0u);

  rt->prefetch(out.data(), kBytes, location::device, s);
  kernels::transform(rt->device_driver(), s.handle(), din, kWords, dout, times_three{});
  s.synchronize();
  bad = 0;
  for (std::size_t i = 0; i < kWords; ++i) bad += hout[i] != static_cast<std::uint32_t>(3 * i);
  EXPECT_EQ(bad, 0u);
  kernels::for_each_n(rt->device_driver(), s.handle(), 0, square_plus{nullptr, nullptr, 0});  // n == 0: nothing
  EXPECT_THROW(kernels::transform(rt->device_driver(), s.handle(), din, 4, static_cast<std::uint32_t*>(nullptr),
                                  times_three{}),
               invalid_argument);
}

TYPED_TEST(portable_kernels_test, launch_n_declares_and_oversubscribes) {
  // 4 allocations of 4 MiB through an 8 MiB budget: every launch must make its own
  // ranges resident (evicting the previous ones) and leave the results where the CPU sees them.
  std::string why;
  auto rt = make_runtime<TypeParam>(make_config(65536, tracking_mode::automatic, 8 << 20), &why);
  if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
  auto s = rt->create_stream();
  std::vector<buffer> bufs;
  for (int b = 0; b < 4; ++b) {
    bufs.push_back(rt->allocate(kBytes));
    auto* h = bufs.back().as<std::uint32_t>();
    for (std::size_t i = 0; i < kWords; ++i) h[i] = static_cast<std::uint32_t>(i + b);
  }
  const auto launch = [&](int src, int dst) {
    const access set[] = {{bufs[src].data(), kBytes, access_mode::read}, {bufs[dst].data(), kBytes, access_mode::write}};
    auto* din = static_cast<const std::uint32_t*>(rt->device_pointer(bufs[src].data()));
    auto* dout = static_cast<std::uint32_t*>(rt->device_pointer(bufs[dst].data()));
    kernels::launch_n(*rt, s, set, kWords, square_plus{dout, din, 1});
  };
  if (refused_without_nvcc(*rt, [&] { launch(0, 1); })) GTEST_SKIP() << "CUDA driver: refused with a clear error";
  for (int round = 0; round < 2; ++round) {
    launch(0, 1);
    launch(2, 3);
  }
  s.synchronize();
  for (int dst : {1, 3}) {
    const auto* h = bufs[dst].as<std::uint32_t>();
    std::size_t bad = 0;
    for (std::size_t i = 0; i < kWords; ++i) {
      const auto v = static_cast<std::uint32_t>(i + dst - 1);
      bad += h[i] != v * v + 1;
    }
    EXPECT_EQ(bad, 0u) << "buffer " << dst;
  }
  EXPECT_GT(rt->statistics().chunks_evicted, 0u) << "the budget was smaller than the data";
}

}  // namespace
}  // namespace umpager::testing
