// Bad input through the C++ API: each call gets a clear error, nothing crashes
// or hangs, and another allocation is unaffected.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "runtime_fixture.hpp"

namespace umpager::testing {
namespace {

template <class Factory>
class bad_input_test : public ::testing::Test {};
TYPED_TEST_SUITE(bad_input_test, driver_factories, factory_names);

/// Fills a bystander allocation, runs `fn`, checks the bystander.
template <class Fn>
void with_bystander(runtime& rt, Fn&& fn) {
  buffer keep = rt.allocate(1 << 20);
  auto* k = keep.as<std::uint32_t>();
  for (std::size_t i = 0; i < (1 << 20) / 4; ++i) k[i] = static_cast<std::uint32_t>(i ^ 0x5a5a);
  rt.prefetch(k, 1 << 20, location::device);
  fn();
  std::size_t bad = 0;
  for (std::size_t i = 0; i < (1 << 20) / 4; ++i) bad += k[i] != static_cast<std::uint32_t>(i ^ 0x5a5a);
  EXPECT_EQ(bad, 0u) << "bystander allocation changed";
}

TYPED_TEST(bad_input_test, each_call_reports_a_clear_error) {
  std::string why;
  auto rt = make_runtime<TypeParam>(make_config(65536, tracking_mode::automatic), &why);
  if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
  with_bystander(*rt, [&] {
    EXPECT_THROW((void)rt->allocate(0), invalid_argument);
    EXPECT_THROW((void)rt->allocate(std::size_t{1} << 62), out_of_memory);
    EXPECT_THROW((void)rt->allocate(4096, 3000), invalid_argument);
    EXPECT_THROW((void)rt->allocate(4096, std::size_t{4} << 20), invalid_argument);

    buffer b = rt->allocate(1 << 20);
    std::vector<char> foreign(8192);
    EXPECT_THROW(rt->free(nullptr), invalid_argument);
    EXPECT_THROW(rt->free(foreign.data()), invalid_argument);
    EXPECT_THROW(rt->free(b.as<char>() + 4096), invalid_argument) << "interior pointer";
    EXPECT_THROW((void)rt->device_pointer(nullptr), invalid_argument);
    EXPECT_THROW((void)rt->device_pointer(foreign.data()), invalid_argument);
    EXPECT_EQ(rt->device_pointer(b.as<char>() + 5), static_cast<char*>(b.device_data()) + 5);
    EXPECT_THROW(rt->prefetch(b.as<char>() + 1, 4096, location::device), invalid_argument) << "unaligned";
    EXPECT_THROW(rt->prefetch(b.data(), 0, location::device), invalid_argument);
    EXPECT_THROW(rt->prefetch(b.data(), (1 << 20) + 4096, location::device), invalid_argument) << "past the end";
    EXPECT_THROW(rt->prefetch(foreign.data(), 4096, location::device), invalid_argument);
    EXPECT_THROW(rt->launch({}), invalid_argument);
    // map_file of a descriptor (storage_fd_test has every case): not open; open but
    // read-only for read_write, and an offset off a page.
    EXPECT_THROW((void)rt->map_file(-1, file_access::read_only), system_error);
    const int exe = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    EXPECT_THROW((void)rt->map_file(exe, file_access::read_write), invalid_argument);
    EXPECT_THROW((void)rt->map_file(exe, file_access::read_only, 100), invalid_argument);
    ::close(exe);

    void* freed = b.data();
    b.reset();
    EXPECT_THROW(rt->free(freed), invalid_argument) << "double free";
    EXPECT_THROW(rt->prefetch(freed, 4096, location::device), invalid_argument) << "freed";
    EXPECT_THROW((void)rt->device_pointer(freed), invalid_argument) << "freed";
  });
}

TYPED_TEST(bad_input_test, messages_name_the_problem) {
  std::string why;
  auto rt = make_runtime<TypeParam>(make_config(65536, tracking_mode::automatic), &why);
  if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
  try {
    rt->prefetch(reinterpret_cast<void*>(4096), 4096, location::device);
    FAIL() << "no error";
  } catch (const invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("not inside a live allocation"), std::string::npos) << e.what();
  }
}

TYPED_TEST(bad_input_test, calls_after_shutdown_throw_closed_error) {
  std::string why;
  auto rt = make_runtime<TypeParam>(make_config(65536, tracking_mode::automatic), &why);
  if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
  buffer b = rt->allocate(1 << 20);
  void* p = b.data();
  b.release();  // freed by shutdown
  rt->shutdown();
  EXPECT_THROW((void)rt->allocate(4096), closed_error);
  EXPECT_THROW(rt->free(p), closed_error);
  EXPECT_THROW(rt->prefetch(p, 4096, location::device), closed_error);
  EXPECT_THROW((void)rt->device_pointer(p), closed_error);
  EXPECT_THROW(rt->synchronize(), closed_error);
  EXPECT_THROW((void)rt->statistics(), closed_error);
  EXPECT_THROW((void)rt->create_stream(), closed_error);
  rt->shutdown();  // twice is fine
}

TEST(config_validation, bad_values_are_rejected) {
  config c;
  c.block_size = 3000;
  EXPECT_THROW(c.validate(), invalid_argument);
  c.block_size = 65536;
  c.resolvers = 65;
  EXPECT_THROW(c.validate(), invalid_argument);
  c.resolvers = 1;
  c.cpuset = "9999";
  EXPECT_THROW(runtime{c}, invalid_argument);
}

}  // namespace
}  // namespace umpager::testing
