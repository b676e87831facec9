// Streams of a runtime: their lifetime against the runtime's (a stream may outlive
// it and becomes inert), and how failures of asynchronous work on them surface.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>

#include "failing_driver.hpp"
#include "runtime_fixture.hpp"
#include "sim/sim_driver.hpp"

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

/// A simulated device whose uploads fail while `fail` is set, behind failing_driver
/// (which counts the calls the runtime makes).
struct failing_uploads {
  std::shared_ptr<std::atomic<bool>> fail = std::make_shared<std::atomic<bool>>(false);
  failing_driver* drv = nullptr;
  std::unique_ptr<runtime> rt;
  failing_uploads() {
    sim::sim_config sc;
    sc.memory_bytes = 64 * kMiB;
    sc.faults.fail_copy = [f = fail](copy_direction d, const copy_op&) {
      return d == copy_direction::host_to_device && f->load();
    };
    auto d = std::make_unique<failing_driver>(sim::make_driver(sc));
    drv = d.get();
    rt = std::make_unique<runtime>(make_config(65536, tracking_mode::automatic, 16 * kMiB), std::move(d));
  }
};

bool says_upload_failed(const driver_error& e) { return std::strstr(e.what(), "upload") != nullptr; }

TEST(stream_failures, a_failed_upload_surfaces_at_its_completion_and_at_the_streams_synchronize) {
  failing_uploads f;
  runtime& rt = *f.rt;
  stream s = rt.create_stream();
  buffer buf = rt.allocate(4 * kMiB);
  std::memset(buf.data(), 1, buf.size());
  f.fail->store(true);
  completion done = rt.prefetch(buf.data(), buf.size(), location::device, s);
  // The stream waits for the copies by event: they ran on the runtime's upload stream.
  EXPECT_GT(f.drv->calls(call::wait), 0u);
  try {
    done.synchronize();
    ADD_FAILURE() << "completion::synchronize returned after a failed upload";
  } catch (const driver_error& e) {
    EXPECT_TRUE(says_upload_failed(e)) << e.what();
  }
  EXPECT_THROW(s.synchronize(), driver_error);  // the stream that waited for the upload fails too
  f.fail->store(false);
  buffer other = rt.allocate(2 * kMiB);
  EXPECT_NO_THROW(rt.prefetch(other.data(), other.size(), location::device, s).synchronize());
  EXPECT_NO_THROW(s.synchronize());
}

TEST(stream_failures, a_failed_move_home_on_a_stream_loses_nothing) {
  auto fail = std::make_shared<std::atomic<bool>>(false);
  sim::sim_config sc;
  sc.memory_bytes = 64 * kMiB;
  sc.faults.fail_copy = [fail](copy_direction d, const copy_op&) {
    return d == copy_direction::device_to_host && fail->load();
  };
  runtime rt(make_config(65536, tracking_mode::automatic, 16 * kMiB), sim::make_driver(sc));
  stream s = rt.create_stream();
  buffer buf = rt.allocate(4 * kMiB);
  auto* w = buf.as<std::uint32_t>();
  for (std::size_t i = 0; i < buf.size() / 4; ++i) w[i] = static_cast<std::uint32_t>(i);
  const access set[] = {{buf.data(), buf.size(), access_mode::read_write}};
  auto* dev = static_cast<std::uint32_t*>(buf.device_data());
  const std::size_t n = buf.size() / 4;
  rt.launch([dev, n] { for (std::size_t i = 0; i < n; ++i) dev[i] += 1; }, s, set);
  fail->store(true);
  completion home = rt.prefetch(buf.data(), buf.size(), location::host, s);
  try {
    home.synchronize();
    ADD_FAILURE() << "completion::synchronize returned after failed copies home";
  } catch (const driver_error& e) {
    EXPECT_NE(std::string(e.what()).find("stay on the device"), std::string::npos) << e.what();
  }
  EXPECT_THROW(s.synchronize(), driver_error);  // the stream that carried them reports them too
  fail->store(false);
  // The device copy is still the valid one: a touch brings it.
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < n; ++i) wrong += w[i] != static_cast<std::uint32_t>(i) + 1 ? 1 : 0;
  EXPECT_EQ(wrong, 0u) << "a failed copy home lost the kernel's result";
  EXPECT_NO_THROW(rt.prefetch(buf.data(), buf.size(), location::host, s).synchronize());
}

TEST(stream_failures, a_failed_stream_ordered_upload_loses_nothing) {
  failing_uploads f;
  runtime& rt = *f.rt;
  stream s = rt.create_stream();
  buffer buf = rt.allocate(6 * kMiB);
  auto* w = buf.as<std::uint32_t>();
  const std::size_t n = buf.size() / 4;
  for (std::size_t i = 0; i < n; ++i) w[i] = static_cast<std::uint32_t>(i * 3);
  f.fail->store(true);
  (void)rt.prefetch(buf.data(), buf.size(), location::device, s);  // its copies fail when they run
  EXPECT_THROW(s.synchronize(), driver_error);
  f.fail->store(false);
  // The host copy was never touched: the CPU reads it back, not the device's garbage.
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < n; ++i) wrong += w[i] != static_cast<std::uint32_t>(i * 3);
  EXPECT_EQ(wrong, 0u) << "a failed upload lost the host's data";
  // A declared kernel after it gets the data uploaded again, and its result is right.
  const access set[] = {{buf.data(), buf.size(), access_mode::read_write}};
  auto* dev = static_cast<std::uint32_t*>(buf.device_data());
  try {
    rt.launch([dev, n] { for (std::size_t i = 0; i < n; ++i) dev[i] += 1; }, s, set);
  } catch (const driver_error& e) {
    EXPECT_TRUE(says_upload_failed(e)) << e.what();  // the failure is reported once, here if not before
    rt.launch([dev, n] { for (std::size_t i = 0; i < n; ++i) dev[i] += 1; }, s, set);
  }
  s.synchronize();
  wrong = 0;
  for (std::size_t i = 0; i < n; ++i) wrong += w[i] != static_cast<std::uint32_t>(i * 3 + 1);
  EXPECT_EQ(wrong, 0u);
}

TEST(stream_failures, a_failed_upload_fails_the_next_stream_ordered_call_on_the_device) {
  failing_uploads f;
  runtime& rt = *f.rt;
  stream s = rt.create_stream();
  buffer buf = rt.allocate(4 * kMiB);
  buffer other = rt.allocate(2 * kMiB);
  f.fail->store(true);
  (void)rt.prefetch(buf.data(), buf.size(), location::device, s);  // nobody waits for this one
  EXPECT_THROW(s.synchronize(), driver_error);  // after it, the upload stream is idle
  f.fail->store(false);  // (the copies fail when they run, not when enqueued)
  const access set[] = {{other.data(), other.size(), access_mode::read_write}};
  try {
    rt.launch([] {}, s, set);
    ADD_FAILURE() << "a declared launch after a failed upload did not report it";
  } catch (const driver_error& e) {
    EXPECT_TRUE(says_upload_failed(e)) << e.what();
  }
  // Reported once: the device goes on.
  EXPECT_NO_THROW(rt.launch([] {}, s, set));
  EXPECT_NO_THROW(s.synchronize());
}

}  // namespace
}  // namespace umpager::testing
