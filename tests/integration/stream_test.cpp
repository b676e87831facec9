// Streams of a runtime: their lifetime against the runtime's (a stream may outlive
// it and becomes inert), and how failures of asynchronous work on them surface.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "runtime_fixture.hpp"

namespace umpager::testing {
namespace {

template <class Factory>
class stream_test : public ::testing::Test {};
TYPED_TEST_SUITE(stream_test, driver_factories, factory_names);

constexpr std::size_t kMiB = std::size_t{1} << 20;

TYPED_TEST(stream_test, a_stream_outliving_its_runtime_is_inert) {
  std::string why;
  auto rt = make_runtime<TypeParam>(make_config(65536, tracking_mode::automatic, 8 * kMiB), &why);
  if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
  stream kept = rt->create_stream();
  stream moved_into = rt->create_stream();
  stream other = rt->create_stream();
  buffer buf = rt->allocate(2 * kMiB);
  rt->prefetch(buf.data(), buf.size(), location::device, kept);
  kept.synchronize();
  EXPECT_TRUE(kept.valid());
  buf = buffer{};
  rt->shutdown();  // the driver, and with it every stream, is gone
  EXPECT_FALSE(kept.valid());
  EXPECT_EQ(kept.native(), nullptr);
  EXPECT_THROW(kept.synchronize(), closed_error);
  EXPECT_THROW(kept.launch([] {}), closed_error);
  moved_into = std::move(other);  // releasing the old handle must not reach the driver either
  EXPECT_FALSE(moved_into.valid());
  // The destructors run here, after the driver: they must leave it alone.
}

TYPED_TEST(stream_test, a_stream_outliving_a_destroyed_runtime_is_inert) {
  std::string why;
  auto rt = make_runtime<TypeParam>(make_config(65536, tracking_mode::automatic, 8 * kMiB), &why);
  if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
  auto s = std::make_unique<stream>(rt->create_stream());
  s->launch([] {});
  rt.reset();
  EXPECT_FALSE(s->valid());
  s.reset();
}

}  // namespace
}  // namespace umpager::testing
