// The resolver's adaptive spin bound: grows with frequent faults, decays to zero
// when they stop, never exceeds UMPAGER_RESOLVER_SPIN_US.
#include <gtest/gtest.h>

#include "spin_budget.hpp"

namespace umpager::detail {
namespace {

constexpr std::uint64_t kMax = 50'000;

TEST(spin_budget, starts_asleep) { EXPECT_EQ(spin_budget(kMax).next(0), 0u); }

TEST(spin_budget, a_short_gap_after_sleeping_starts_a_spin) {
  spin_budget s(kMax);
  s.slept(5'000);
  EXPECT_GE(s.next(0), 10'000u);  // twice the gap: the next such fault is caught
  EXPECT_LE(s.next(0), kMax);
}

TEST(spin_budget, long_gaps_never_start_a_spin) {
  spin_budget s(kMax);
  s.slept(kMax);
  s.slept(1'000'000);
  EXPECT_EQ(s.next(0), 0u);
}

TEST(spin_budget, never_above_the_bound) {
  spin_budget s(kMax);
  for (int i = 0; i < 10; ++i) s.caught(kMax);
  EXPECT_EQ(s.next(0), kMax);
}

TEST(spin_budget, caught_faults_keep_it_and_misses_decay_it_to_zero) {
  spin_budget s(kMax);
  s.slept(10'000);
  const auto grown = s.next(0);
  s.caught(1'000);  // a quicker fault does not shorten it
  EXPECT_EQ(s.next(0), grown);
  int misses = 0;
  while (s.next(0) != 0) {
    s.missed();
    ++misses;
    ASSERT_LT(misses, 64);
  }
  // Halving: idle costs a few ever shorter spins, then none at all.
  EXPECT_LE(misses, 6);
}

/// A budget that spins (a fault caught 5 us after the last).
spin_budget spinning() {
  spin_budget s(kMax);
  s.slept(5'000);
  return s;
}

TEST(spin_budget, pressure_is_read_only_before_a_spin_and_once_a_window) {
  spin_budget idle(kMax);
  EXPECT_FALSE(idle.wants_pressure(0)) << "not spinning: nothing to judge";
  spin_budget s = spinning();
  constexpr std::uint64_t t = 1'000'000'000;
  EXPECT_TRUE(s.wants_pressure(t));
  s.pressure(t, 0);  // opens a window
  EXPECT_FALSE(s.wants_pressure(t + spin_budget::kWindowNs - 1));
  EXPECT_TRUE(s.wants_pressure(t + spin_budget::kWindowNs));
}

TEST(spin_budget, tasks_waiting_for_a_cpu_while_it_spun_hold_it_off) {
  spin_budget s = spinning();
  constexpr std::uint64_t t = 1'000'000'000, w = spin_budget::kWindowNs;
  s.pressure(t, 1'000);
  s.pressure(t + w, 1'000 + w / 1000 / 10);  // waited 10% of the window: spin on
  EXPECT_GT(s.next(t + w), 0u);
  s.pressure(t + 2 * w, 1'000 + w / 1000 / 10 + w / 1000 / 4);  // 25%: held off 10 ms
  EXPECT_EQ(s.next(t + 2 * w), 0u);
  EXPECT_EQ(s.next(t + 2 * w + spin_budget::kMinHold - 1), 0u);
  EXPECT_GT(s.next(t + 2 * w + spin_budget::kMinHold), 0u) << "the hold-off ends";
}

TEST(spin_budget, the_hold_off_doubles_while_contention_lasts_and_halves_without_it) {
  spin_budget s = spinning();
  std::uint64_t t = 1'000'000'000, stall = 0;
  const std::uint64_t w = spin_budget::kWindowNs;
  std::uint64_t hold = 0;
  for (int i = 0; i < 12; ++i) {
    s.pressure(t, stall);  // reopens the window after a hold-off
    t += w;
    stall += w / 1000;  // tasks waited the whole window
    s.pressure(t, stall);
    ASSERT_EQ(s.next(t), 0u);
    std::uint64_t h = 0;
    while (s.next(t + h) == 0) h += 1'000'000;
    EXPECT_GE(h, hold) << "round " << i;
    hold = h;
    t += h;
  }
  EXPECT_EQ(hold, spin_budget::kMaxHold) << "bounded";
  // Uncontended windows bring it down again.
  for (int i = 0; i < 12; ++i) {
    s.pressure(t, stall);
    t += w;
    s.pressure(t, stall);
    ASSERT_GT(s.next(t), 0u);
  }
  t += w;
  s.pressure(t, stall + w / 1000);
  EXPECT_EQ(s.next(t + spin_budget::kMinHold - 1), 0u);
  EXPECT_GT(s.next(t + spin_budget::kMinHold), 0u) << "back to the shortest hold-off";
}

TEST(spin_budget, more_faulting_threads_than_leave_a_cpu_stop_the_spin) {
  spin_budget s(kMax, 1);  // 2 CPUs, 1 resolver: one faulting thread leaves a CPU to spin on
  s.slept(5'000);
  constexpr std::uint64_t t = 1'000'000'000;
  s.faulted(101, t);
  s.faulted(101, t + 1'000);
  EXPECT_GT(s.next(t + 2'000), 0u) << "one thread: spin";
  s.faulted(102, t + 3'000);
  EXPECT_EQ(s.next(t + 4'000), 0u) << "two threads: each wants a CPU";
  s.faulted(101, t + spin_budget::kTouchersNs + 4'000);
  EXPECT_GT(s.next(t + spin_budget::kTouchersNs + 5'000), 0u) << "the second stopped faulting";
}

TEST(spin_budget, zero_bound_never_spins) {
  spin_budget s(0);
  s.slept(0);
  s.caught(0);
  EXPECT_EQ(s.next(0), 0u);
}

}  // namespace
}  // namespace umpager::detail
