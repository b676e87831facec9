// Eviction policies against Belady's MIN on cyclic tile scans (declared launches,
// deterministic traffic), a throwing plug-in, policy changes and thrashing.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <type_traits>
#include <set>
#include <vector>

#include "runtime_fixture.hpp"

namespace umpager::testing {
namespace {

template <class Factory>
class policy_test : public ::testing::Test {};
TYPED_TEST_SUITE(policy_test, driver_factories, factory_names);

constexpr std::size_t kBudget = 32;  // chunks

/// Traffic is counted in chunks, so the simulated device uses 64 KiB chunks here (the
/// same policy decisions, 32x fewer bytes to copy); a GPU has its 2 MiB.
template <class Factory>
std::unique_ptr<runtime> budget_runtime(const config& cfg, std::string* why) {
  if constexpr (std::is_same_v<Factory, sim_factory>) {
    sim::sim_config sc;
    sc.memory_bytes = std::size_t{1} << 30;
    sc.chunk_bytes = 64 * 1024;
    config c = cfg;
    c.device_memory = kBudget * sc.chunk_bytes;
    return std::make_unique<runtime>(c, sim::make_driver(sc));
  } else {
    config c = cfg;
    c.device_memory = kBudget * (std::size_t{2} << 20);
    return make_runtime<Factory>(c, why);
  }
}

/// Misses of Belady's MIN over `trace` with room for `capacity` chunks.
std::size_t min_misses(const std::vector<std::size_t>& trace, std::size_t capacity) {
  std::vector<std::size_t> next(trace.size());
  std::map<std::size_t, std::size_t> last;
  for (std::size_t i = trace.size(); i-- > 0;) {
    auto it = last.find(trace[i]);
    next[i] = it == last.end() ? SIZE_MAX : it->second;
    last[trace[i]] = i;
  }
  std::map<std::size_t, std::size_t> cache;  // chunk -> next use
  std::size_t misses = 0;
  for (std::size_t i = 0; i < trace.size(); ++i) {
    if (cache.count(trace[i]) == 0) {
      ++misses;
      if (cache.size() == capacity) {
        auto victim = std::max_element(cache.begin(), cache.end(),
                                       [](const auto& a, const auto& b) { return a.second < b.second; });
        cache.erase(victim);
      }
    }
    cache[trace[i]] = next[i];
  }
  return misses;
}

struct scan_result {
  std::uint64_t bytes_to_device;
  std::uint64_t min_bytes;
  std::uint64_t thrashing;
};

/// `arrays` arrays of `n` chunks; tile i is a declared launch reading chunk i of
/// each; `passes` cyclic passes. Every miss uploads one chunk (reads leave the host
/// copy valid, so evictions copy nothing back). Checks the data at the end.
template <class Factory>
scan_result cyclic_scan(policy_kind p, std::size_t arrays, std::size_t n, int passes, std::string* why) {
  config cfg = make_config(65536, tracking_mode::automatic);
  cfg.policy = p;
  auto rt = budget_runtime<Factory>(cfg, why);
  if (!rt) return {};
  const std::size_t kChunk = rt->device_driver().info().chunk_bytes;
  std::vector<buffer> a;
  for (std::size_t k = 0; k < arrays; ++k) {
    a.push_back(rt->allocate(n * kChunk));
    auto* w = a.back().as<std::uint32_t>();
    for (std::size_t i = 0; i < n * kChunk / 4; ++i) w[i] = static_cast<std::uint32_t>(i);
  }
  auto s = rt->create_stream();
  std::vector<std::size_t> trace;
  for (int pass = 0; pass < passes; ++pass) {
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<access> set;
      for (std::size_t k = 0; k < arrays; ++k) {
        set.push_back({a[k].as<char>() + i * kChunk, kChunk, access_mode::read});
        trace.push_back(k * n + i);
      }
      rt->launch([] {}, s, set);
    }
  }
  s.synchronize();
  for (const buffer& b : a) EXPECT_EQ(index_mismatches(b.as<std::uint32_t>(), b.size() / 4, 0), 0u);
  const stats st = rt->statistics();
  return {st.bytes_to_device, min_misses(trace, kBudget) * kChunk, st.thrashing_events};
}

TYPED_TEST(policy_test, default_policy_stays_near_belady_min_on_cyclic_scans) {
  EXPECT_EQ(config{}.policy, policy_kind::adaptive);
  for (double ratio : {1.25, 2.0}) {
    for (std::size_t arrays : {std::size_t{1}, std::size_t{2}}) {
      const auto n = static_cast<std::size_t>(kBudget * ratio) / arrays;
      std::map<policy_kind, scan_result> r;
      for (policy_kind p : {policy_kind::lru, policy_kind::fifo, policy_kind::clock, policy_kind::adaptive}) {
        std::string why;
        r[p] = cyclic_scan<TypeParam>(p, arrays, n, 4, &why);
        if (!why.empty()) GTEST_SKIP() << why;
        std::printf("ratio %.2f arrays %zu %-8s bytes_to_device %6.0f MiB = %.3f x MIN\n", ratio, arrays,
                    to_string(p), r[p].bytes_to_device / 1048576.0,
                    static_cast<double>(r[p].bytes_to_device) / static_cast<double>(r[p].min_bytes));
      }
      const double adaptive = static_cast<double>(r[policy_kind::adaptive].bytes_to_device);
      EXPECT_LE(adaptive, 1.15 * static_cast<double>(r[policy_kind::adaptive].min_bytes)) << "ratio " << ratio;
      EXPECT_LT(adaptive, static_cast<double>(r[policy_kind::lru].bytes_to_device)) << "ratio " << ratio;
      // The same sequence always moves the same bytes.
      std::string why;
      EXPECT_EQ(cyclic_scan<TypeParam>(policy_kind::adaptive, arrays, n, 4, &why).bytes_to_device,
                r[policy_kind::adaptive].bytes_to_device);
    }
  }
}

TYPED_TEST(policy_test, thrashing_is_counted_mitigated_and_reported_once) {
  ::testing::internal::CaptureStderr();
  std::string why;
  const scan_result r = cyclic_scan<TypeParam>(policy_kind::lru, 1, kBudget * 5 / 4, 6, &why);
  const std::string err = ::testing::internal::GetCapturedStderr();
  if (!why.empty()) GTEST_SKIP() << why;
  EXPECT_GT(r.thrashing, 0u);
  EXPECT_NE(err.find("is thrashing"), std::string::npos) << err;
  EXPECT_NE(err.find("most recently used first"), std::string::npos) << err;
  const auto first = err.find("is thrashing");
  EXPECT_EQ(err.find("is thrashing", first + 1), std::string::npos) << "warned more than once";
  // The mitigation makes LRU beat plain LRU's traffic (2.5x MIN at 125% without it).
  EXPECT_LT(static_cast<double>(r.bytes_to_device), 2.0 * static_cast<double>(r.min_bytes));
}

/// Throws from next_victim after `ok_calls` calls.
class throwing_policy final : public eviction_policy {
 public:
  std::string name() const override { return "throws"; }
  void on_insert(chunk_id) override {}
  void on_use(chunk_id) override {}
  void on_evict(chunk_id) override {}
  std::optional<chunk_id> next_victim(const std::function<bool(chunk_id)>&) override {
    throw std::runtime_error("plug-in bug");
  }
};

TYPED_TEST(policy_test, a_throwing_policy_falls_back_to_lru_and_loses_nothing) {
  std::string why;
  auto rt = make_runtime<TypeParam>(make_config(65536, tracking_mode::automatic, 16 << 20), &why);
  if (!rt) GTEST_SKIP() << why;
  const std::size_t kChunk = rt->device_driver().info().chunk_bytes;
  rt->set_policy(std::make_unique<throwing_policy>());
  EXPECT_THROW(rt->set_policy(nullptr), invalid_argument);
  buffer x = rt->allocate(24 * kChunk);
  auto* w = x.as<std::uint32_t>();
  for (std::size_t i = 0; i < x.size() / 4; ++i) w[i] = static_cast<std::uint32_t>(i);
  ::testing::internal::CaptureStderr();
  auto s = rt->create_stream();
  for (std::size_t c = 0; c < 24; c += 4) {
    const access set[] = {{x.as<char>() + c * kChunk, 4 * kChunk, access_mode::read_write}};
    rt->launch([] {}, s, set);
    kernels::add(rt->device_driver(), s.handle(), static_cast<std::uint32_t*>(x.device_data()) + c * kChunk / 4,
                 0, 0);
  }
  s.synchronize();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("threw (plug-in bug)"), std::string::npos) << err;
  EXPECT_GE(rt->statistics().policy_failures, 1u);
  EXPECT_EQ(index_mismatches(w, x.size() / 4, 0), 0u);
  // Policies change while data is resident.
  for (policy_kind p : {policy_kind::fifo, policy_kind::clock, policy_kind::adaptive, policy_kind::lru}) {
    rt->set_policy(p);
    rt->prefetch(x.data(), 8 * kChunk, location::device, s);
    kernels::add(rt->device_driver(), s.handle(), static_cast<std::uint32_t*>(x.device_data()), 8 * kChunk / 4, 1);
    rt->prefetch(x.as<char>() + 8 * kChunk, 8 * kChunk, location::device, s);
  }
  s.synchronize();
  EXPECT_EQ(index_mismatches(w, 8 * kChunk / 4, 4), 0u);
  EXPECT_THROW(rt->set_policy(static_cast<policy_kind>(42)), invalid_argument);
}

}  // namespace
}  // namespace umpager::testing
