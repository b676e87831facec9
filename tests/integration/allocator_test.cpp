// umpager::allocator: std::vector storage in managed memory, on a given runtime
// (every driver) and on the default one.
#include <gtest/gtest.h>

#include <cstdlib>
#include <numeric>
#include <vector>

#include "runtime_fixture.hpp"
#include "umpager/allocator.hpp"

namespace umpager::testing {
namespace {

template <class Factory>
class allocator_test : public ::testing::Test {};
TYPED_TEST_SUITE(allocator_test, driver_factories, factory_names);

using managed_vector = std::vector<std::uint32_t, allocator<std::uint32_t>>;

TYPED_TEST(allocator_test, vector_lives_in_managed_memory_and_kernels_use_it) {
  std::string why;
  auto rt = make_runtime<TypeParam>(make_config(64 * 1024, tracking_mode::automatic), &why);
  if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
  constexpr std::size_t n = 1 << 20;
  const std::size_t managed_before = rt->statistics().managed_bytes;
  {
    managed_vector v(n, 0, allocator<std::uint32_t>(*rt));
    std::iota(v.begin(), v.end(), 0u);
    EXPECT_GE(rt->statistics().managed_bytes, managed_before + n * sizeof(std::uint32_t));
    auto s = rt->create_stream();
    rt->prefetch(v.data(), n * sizeof(std::uint32_t), location::device, s);
    kernels::add(rt->device_driver(), s.handle(), static_cast<std::uint32_t*>(rt->device_pointer(v.data())), n, 3);
    s.synchronize();
    EXPECT_EQ(index_mismatches(v.data(), n, 3), 0u);
    EXPECT_GT(rt->statistics().read_faults, 0u) << "the CPU read the kernel's result through faults";
    v.resize(2 * n, 7);  // reallocates: a new allocation, the old one freed
    EXPECT_EQ(index_mismatches(v.data(), n, 3), 0u);
    EXPECT_EQ(v[2 * n - 1], 7u);
  }
  EXPECT_EQ(rt->statistics().managed_bytes, managed_before) << "every allocation was freed";
}

TEST(allocator, compares_by_runtime_and_rebinds) {
  allocator<int> a;
  allocator<double> b(a);
  EXPECT_TRUE(a == b);
  EXPECT_EQ(b.resource(), nullptr) << "the default runtime";
  EXPECT_EQ(a.allocate(0), nullptr);
  a.deallocate(nullptr, 0);
  EXPECT_THROW((void)a.allocate(std::size_t(-1) / 2), std::bad_array_new_length);
}

TEST(allocator, default_runtime_is_used_without_a_runtime) {
  ::setenv("UMPAGER_DRIVER", "sim", 1);
  ::setenv("UMPAGER_DEVICE_MEMORY", "64M", 1);
  std::vector<int, allocator<int>> v(100000, 5);
  EXPECT_EQ(std::accumulate(v.begin(), v.end(), 0), 500000);
  EXPECT_GE(default_runtime().statistics().managed_bytes, v.size() * sizeof(int));
  int foreign = 0;
  EXPECT_THROW(default_runtime().free(&foreign), invalid_argument);
}

}  // namespace
}  // namespace umpager::testing
