// The per-resolver fault counters (counters.hpp): each resolver adds to its own
// cache line, and statistics sum every line, so faults counted by any resolver reach
// the totals.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "counters.hpp"

namespace umpager::detail {
namespace {

TEST(counters, per_resolver_lines_are_separate_and_summed) {
  static_assert(alignof(counters::resolver_counts) >= 64, "one cache line per resolver");
  auto c = std::make_unique<counters>();
  const auto* a = reinterpret_cast<const char*>(&c->per_resolver[0]);
  const auto* b = reinterpret_cast<const char*>(&c->per_resolver[1]);
  EXPECT_GE(b - a, 64);

  // Every resolver counts on its own line, concurrently.
  std::vector<std::thread> threads;
  for (unsigned r = 0; r < counters::kMaxResolvers; ++r) {
    threads.emplace_back([&c, r] {
      counters::resolver_counts& mine = c->per_resolver[r];
      for (unsigned i = 0; i < 1000; ++i) counters::add(mine.read_faults, 1);
      counters::add(mine.write_faults, r);
      counters::add(mine.wp_faults, 2);
      counters::add(mine.busy_ns, 10);
    });
  }
  for (auto& t : threads) t.join();
  const stats s = c->snapshot();
  const std::uint64_t n = counters::kMaxResolvers;
  EXPECT_EQ(s.read_faults, 1000 * n);
  EXPECT_EQ(s.write_faults, n * (n - 1) / 2);
  EXPECT_EQ(s.wp_faults, 2 * n);
  EXPECT_EQ(s.resolver_busy_ns, 10 * n);
}

}  // namespace
}  // namespace umpager::detail
