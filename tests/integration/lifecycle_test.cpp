// Lifecycle: fork, exit with faults in flight, free or shutdown while threads
// fault, the application zapping or unmapping part of a view, duplicate fault
// messages from signals. Each has a defined outcome (docs/lifecycle.md).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "runtime_fixture.hpp"
#include "sigbus_guard.hpp"

// These tests expect SIGSEGV/SIGBUS to kill or reach the test: sanitizers must not catch them.
#if defined(__SANITIZE_ADDRESS__)
extern "C" const char* __asan_default_options() { return "handle_segv=0:handle_sigbus=0"; }
#endif
#if defined(__SANITIZE_THREAD__)
extern "C" const char* __tsan_default_options() { return "handle_segv=0:handle_sigbus=0"; }
#endif

namespace umpager::testing {
namespace {

constexpr std::size_t kBytes = std::size_t{4} << 20;
constexpr std::size_t kWords = kBytes / 4;

/// A runtime whose device copies each take `delay_us`, so faults stay in flight.
std::unique_ptr<runtime> slow_runtime(unsigned delay_us, std::size_t block = 65536) {
  sim::sim_config sc;
  sc.memory_bytes = std::size_t{64} << 20;
  sc.faults.delay_us = [delay_us](copy_direction dir) { return dir == copy_direction::device_to_host ? delay_us : 0u; };
  return std::make_unique<runtime>(make_config(block, tracking_mode::automatic), sim::make_driver(sc));
}

void fill(std::uint32_t* w, std::uint32_t salt = 0) {
  for (std::size_t i = 0; i < kWords; ++i) w[i] = static_cast<std::uint32_t>(i ^ salt);
}

/// An allocation filled with i ^ salt and made resident on the device.
buffer device_resident(runtime& rt, std::uint32_t salt = 0) {
  buffer buf = rt.allocate(kBytes);
  fill(buf.as<std::uint32_t>(), salt);
  rt.prefetch(buf.data(), kBytes, location::device);
  return buf;
}

std::size_t mismatches(const std::uint32_t* w, std::uint32_t salt = 0) {
  std::size_t bad = 0;
  for (std::size_t i = 0; i < kWords; ++i) bad += w[i] != static_cast<std::uint32_t>(i ^ salt);
  return bad;
}

TEST(lifecycle, forked_child_does_not_inherit_managed_memory) {
  runtime rt(make_config(65536, tracking_mode::automatic), sim::make_driver({}));
  buffer buf = device_resident(rt);
  auto* w = buf.as<std::uint32_t>();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::alarm(10);
    volatile std::uint32_t v = w[5];  // MADV_DONTFORK: not mapped in the child
    (void)v;
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) << "status " << status;
  EXPECT_EQ(mismatches(w), 0u) << "the parent's data is untouched";
}

TEST(lifecycle, exit_with_faults_in_flight_does_not_hang) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        ::alarm(20);
        auto rt = slow_runtime(200'000);
        buffer buf = device_resident(*rt);
        auto* w = buf.as<std::uint32_t>();
        for (int t = 0; t < 3; ++t) {
          std::thread([w, t] { volatile std::uint32_t v = w[t * 100'000]; (void)v; }).detach();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(lifecycle, free_while_threads_fault_serves_or_segfaults_never_hangs) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        ::alarm(20);
        auto rt = slow_runtime(20'000);
        buffer buf = device_resident(*rt);
        auto* w = buf.as<std::uint32_t>();
        std::atomic<std::size_t> bad{0};
        std::thread reader([&] {
          for (;;) {  // until the freed view raises SIGSEGV
            for (std::size_t i = 0; i < kWords; i += 1024) bad += w[i] != static_cast<std::uint32_t>(i);
          }
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        buf.reset();
        reader.join();  // never returns: the reader dies first
      },
      ::testing::KilledBySignal(SIGSEGV), "");
}

TEST(lifecycle, shutdown_while_threads_are_blocked_returns) {
  auto rt = slow_runtime(100'000);
  buffer buf = device_resident(*rt);
  auto* w = buf.as<std::uint32_t>();
  std::atomic<int> signal_seen{-1};
  std::thread t([&] { signal_seen = guarded_read(w + 12345).signal; });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  buf.release();
  const auto t0 = std::chrono::steady_clock::now();
  rt->shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  t.join();
  // The blocked read was either served before the resolvers stopped, or it saw
  // the view vanish (SIGSEGV): never a hang and never a silent zero.
  EXPECT_TRUE(signal_seen == 0 || signal_seen == SIGSEGV) << signal_seen;
}

TEST(lifecycle, application_zapping_its_view_loses_nothing) {
  runtime rt(make_config(65536, tracking_mode::automatic), sim::make_driver({}));
  buffer buf = rt.allocate(kBytes);
  auto* w = buf.as<std::uint32_t>();
  fill(w, 0x55);
  ASSERT_EQ(::madvise(w, kBytes / 2, MADV_DONTNEED), 0);
  EXPECT_EQ(mismatches(w, 0x55), 0u) << "host pages map again without a copy";
  rt.prefetch(w, kBytes, location::device);
  ASSERT_EQ(::madvise(w, kBytes, MADV_DONTNEED), 0);
  EXPECT_EQ(mismatches(w, 0x55), 0u) << "device pages fault back";
  w[7] = 1;
  ASSERT_EQ(::madvise(w, kBytes, MADV_DONTNEED), 0);
  const auto before = rt.statistics().bytes_to_device;
  rt.prefetch(w, kBytes, location::device);
  EXPECT_EQ(rt.statistics().bytes_to_device - before, kPage) << "the zapped written page is still found";
  EXPECT_EQ(w[7], 1u);
}

TEST(lifecycle, application_unmapping_part_of_its_view_is_tolerated) {
  runtime rt(make_config(65536, tracking_mode::automatic), sim::make_driver({}));
  buffer buf = rt.allocate(kBytes);
  auto* w = buf.as<std::uint32_t>();
  fill(w);
  ASSERT_EQ(::munmap(buf.as<char>() + kBytes / 2, kPage), 0);
  rt.prefetch(w, kBytes / 2, location::device);
  rt.prefetch(w, kBytes, location::device);  // the hole is skipped, not an error
  std::size_t bad = 0;
  for (std::size_t i = 0; i < kWords / 2; ++i) bad += w[i] != static_cast<std::uint32_t>(i);
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(guarded_read(w + kWords / 2).signal, SIGSEGV);
  EXPECT_EQ(w[kWords - 1], static_cast<std::uint32_t>(kWords - 1));
}

void noop_handler(int) {}

TEST(lifecycle, signals_during_faults_cause_duplicates_that_are_tolerated) {
  struct sigaction sa {}, old{};
  sa.sa_handler = noop_handler;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGUSR1, &sa, &old);  // no SA_RESTART: faults are retried by the kernel anyway
  auto rt = slow_runtime(2'000, 4096);
  buffer buf = device_resident(*rt, 9);
  auto* w = buf.as<std::uint32_t>();
  std::atomic<bool> done{false};
  std::atomic<std::size_t> bad{0};
  std::thread reader([&] {
    for (std::size_t p = 0; p < 200; ++p) bad += w[p * kWordsPerPage] != static_cast<std::uint32_t>((p * kWordsPerPage) ^ 9);
    done = true;
  });
  const pthread_t h = reader.native_handle();
  while (!done) {
    ::pthread_kill(h, SIGUSR1);
    std::this_thread::sleep_for(std::chrono::microseconds(300));
  }
  reader.join();
  ::sigaction(SIGUSR1, &old, nullptr);
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GE(rt->statistics().read_faults, 200u);
}

}  // namespace
}  // namespace umpager::testing
