// The resolver's adaptive spin bound: grows with frequent faults, decays to zero
// when they stop, never exceeds UMPAGER_RESOLVER_SPIN_US.
#include <gtest/gtest.h>

#include "spin_budget.hpp"

namespace umpager::detail {
namespace {

constexpr std::uint64_t kMax = 50'000;

TEST(spin_budget, starts_asleep) { EXPECT_EQ(spin_budget(kMax).next(), 0u); }

TEST(spin_budget, a_short_gap_after_sleeping_starts_a_spin) {
  spin_budget s(kMax);
  s.slept(5'000);
  EXPECT_GE(s.next(), 10'000u);  // twice the gap: the next such fault is caught
  EXPECT_LE(s.next(), kMax);
}

TEST(spin_budget, long_gaps_never_start_a_spin) {
  spin_budget s(kMax);
  s.slept(kMax);
  s.slept(1'000'000);
  EXPECT_EQ(s.next(), 0u);
}

TEST(spin_budget, never_above_the_bound) {
  spin_budget s(kMax);
  for (int i = 0; i < 10; ++i) s.caught(kMax);
  EXPECT_EQ(s.next(), kMax);
}

TEST(spin_budget, caught_faults_keep_it_and_misses_decay_it_to_zero) {
  spin_budget s(kMax);
  s.slept(10'000);
  const auto grown = s.next();
  s.caught(1'000);  // a quicker fault does not shorten it
  EXPECT_EQ(s.next(), grown);
  int misses = 0;
  while (s.next() != 0) {
    s.missed();
    ++misses;
    ASSERT_LT(misses, 64);
  }
  // Halving: idle costs a few ever shorter spins, then none at all.
  EXPECT_LE(misses, 6);
}

TEST(spin_budget, zero_bound_never_spins) {
  spin_budget s(0);
  s.slept(0);
  s.caught(0);
  EXPECT_EQ(s.next(), 0u);
}

}  // namespace
}  // namespace umpager::detail
