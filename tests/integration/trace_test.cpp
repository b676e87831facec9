// Profiler ranges: the runtime opens a named range (driver::range_push, NVTX on
// CUDA) around each fault, read-ahead, eviction and prefetch, balanced per thread.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "runtime_fixture.hpp"

namespace umpager::testing {
namespace {

struct seen_ranges {
  std::mutex m;
  std::map<std::string, int> count;
};

TEST(trace, faults_read_ahead_evictions_and_prefetches_open_ranges) {
  auto seen = std::make_shared<seen_ranges>();
  sim::sim_config sc;
  sc.memory_bytes = std::size_t{4} << 20;  // two chunks: the second half evicts the first
  sc.on_range = [seen](const char* name) {
    std::lock_guard g(seen->m);
    ++seen->count[name];
  };
  config cfg = make_config(65536, tracking_mode::automatic);
  runtime rt(cfg, sim::make_driver(sc));
  constexpr std::size_t kSize = std::size_t{8} << 20, kHalf = kSize / 2;
  buffer buf = rt.allocate(kSize);
  auto* w = buf.as<std::uint32_t>();
  for (std::size_t i = 0; i < kSize / 4; ++i) w[i] = static_cast<std::uint32_t>(i);
  rt.prefetch(w, kHalf, location::device);
  std::uint64_t sum = 0;
  for (std::size_t p = 0; p < kHalf / kPage; ++p) sum += w[p * kWordsPerPage];  // faults, read-ahead
  rt.prefetch(buf.as<char>() + kHalf, kHalf, location::device);                // evicts the first half
  rt.prefetch(buf.as<char>() + kHalf, kHalf, location::host);
  EXPECT_GT(sum, 0u);
  const stats st = rt.statistics();
  std::lock_guard g(seen->m);
  EXPECT_EQ(seen->count["umpager prefetch to device"], 2);
  EXPECT_EQ(seen->count["umpager prefetch to host"], 1);
  EXPECT_GE(seen->count["umpager fault"], 1);
  EXPECT_EQ(static_cast<std::uint64_t>(seen->count["umpager evict"]), st.chunks_evicted);
  EXPECT_GE(seen->count["umpager evict"], 1);
  if (st.pages_read_ahead > 0) {
    EXPECT_GE(seen->count["umpager read-ahead"], 1);
  }
}

}  // namespace
}  // namespace umpager::testing
