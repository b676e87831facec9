// The read-ahead's sequential detector: which faults count as a scan, and how its
// window grows (2 units, doubling, up to the maximum) and restarts.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "sequential_detector.hpp"

namespace umpager::detail {
namespace {

using step = sequential_detector::step;

constexpr std::size_t kPages = 1 << 16;

bool queues_nothing(const step& s) { return s.queue_from >= s.queue_to; }

TEST(sequential_detector, the_first_fault_is_not_sequential) {
  sequential_detector d(kPages, 16, 4096);
  const step s = d.observe(100, 116);
  EXPECT_TRUE(queues_nothing(s));
  EXPECT_EQ(s.ahead, 116u);
}

TEST(sequential_detector, the_window_starts_at_two_units_and_doubles_up_to_the_maximum) {
  sequential_detector d(kPages, 16, 128);
  (void)d.observe(0, 16);
  step s = d.observe(16, 32);
  EXPECT_EQ(s.queue_from, 32u);
  EXPECT_EQ(s.queue_to, 32u + 32);
  EXPECT_EQ(s.ahead, 64u);
  // The scan reaches the queued pages: sequential, the window doubles from its end.
  s = d.observe(64, 80);
  EXPECT_EQ(s.queue_from, 80u);
  EXPECT_EQ(s.queue_to, 80u + 64);
  s = d.observe(144, 160);
  EXPECT_EQ(s.queue_to, 160u + 128);
  s = d.observe(288, 304);
  EXPECT_EQ(s.queue_to, 304u + 128);  // at the maximum
}

TEST(sequential_detector, a_fault_inside_the_queued_window_queues_only_what_is_new) {
  sequential_detector d(kPages, 16, 1024);
  (void)d.observe(0, 16);
  step s = d.observe(16, 32);  // queues [32, 64)
  ASSERT_EQ(s.queue_to, 64u);
  s = d.observe(40, 56);  // window 64 from 56: [64, 120)
  EXPECT_EQ(s.queue_from, 64u);
  EXPECT_EQ(s.queue_to, 120u);
  EXPECT_EQ(s.ahead, 120u);
}

TEST(sequential_detector, nothing_new_to_queue_reports_the_window_already_queued) {
  sequential_detector d(kPages, 16, 32);
  (void)d.observe(0, 16);
  ASSERT_EQ(d.observe(16, 32).queue_to, 64u);
  // Behind the queued end by more than the window: nothing to add, the window stands.
  const step s = d.observe(20, 24);
  EXPECT_TRUE(queues_nothing(s));
  EXPECT_EQ(s.ahead, 64u);
}

TEST(sequential_detector, a_backward_or_distant_fault_restarts_the_window) {
  sequential_detector d(kPages, 16, 1024);
  (void)d.observe(0, 16);
  (void)d.observe(16, 32);
  (void)d.observe(64, 80);  // window 64
  step s = d.observe(10, 26);  // backwards
  EXPECT_TRUE(queues_nothing(s));
  EXPECT_EQ(s.ahead, 26u);
  s = d.observe(26, 42);  // sequential again: two units, not the old window doubled
  EXPECT_EQ(s.queue_to, 42u + 32);
  s = d.observe(5000, 5016);  // far past what is mapped or queued
  EXPECT_TRUE(queues_nothing(s));
  EXPECT_EQ(s.ahead, 5016u);
}

TEST(sequential_detector, the_same_page_again_is_not_sequential) {
  sequential_detector d(kPages, 16, 1024);
  (void)d.observe(0, 16);
  EXPECT_TRUE(queues_nothing(d.observe(0, 16)));
}

TEST(sequential_detector, the_window_stops_at_the_end_of_the_region) {
  sequential_detector d(100, 16, 1024);
  (void)d.observe(60, 76);
  step s = d.observe(76, 92);
  EXPECT_EQ(s.queue_from, 92u);
  EXPECT_EQ(s.queue_to, 100u);
  s = d.observe(92, 100);
  EXPECT_TRUE(queues_nothing(s));
  EXPECT_EQ(s.ahead, 100u);
}

TEST(sequential_detector, the_maximum_is_whole_units_and_at_least_one) {
  EXPECT_EQ(sequential_detector(kPages, 16, 100).max_window(), 96u);
  EXPECT_EQ(sequential_detector(kPages, 16, 3).max_window(), 16u);
  // A maximum below two units caps the first window too.
  sequential_detector d(kPages, 16, 16);
  (void)d.observe(0, 16);
  EXPECT_EQ(d.observe(16, 32).queue_to, 48u);
}

TEST(sequential_detector, concurrent_faults_queue_only_after_their_own_end_and_within_the_window) {
  // Resolvers call it at once; interleaved scans may restart the window, but what is
  // queued always lies past the fault's own end and within the maximum.
  constexpr std::size_t kMax = 256;
  sequential_detector d(kPages, 16, kMax);
  std::vector<std::thread> threads;
  std::atomic<bool> bad{false};
  for (std::size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t at = 16 * t; at + 16 <= kPages; at += 64) {
        const step s = d.observe(at, at + 16);
        if (queues_nothing(s)) continue;
        if (s.queue_from < at + 16 || s.queue_to > at + 16 + kMax || s.queue_to > kPages) bad = true;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(bad.load());
}

}  // namespace
}  // namespace umpager::detail
