// Advice (read-mostly, preferred location, accessed-by), range queries, stream
// attachment, and the same calls through the C API, with their bad input.
#include <gtest/gtest.h>

#include <cerrno>
#include <vector>

#include "runtime_fixture.hpp"
#include "umpager/umpager.h"

namespace umpager::testing {
namespace {

template <class Factory>
class advice_test : public ::testing::Test {};
TYPED_TEST_SUITE(advice_test, driver_factories, factory_names);

constexpr std::size_t kMiB = std::size_t{1} << 20;

#define MAKE_RT(var, device_bytes)                                                                            \
  std::string var##_why;                                                                                      \
  auto var = make_runtime<TypeParam>(make_config(65536, tracking_mode::automatic, device_bytes), &var##_why); \
  if (!var) GTEST_SKIP() << TypeParam::name << ": " << var##_why

std::size_t count(const range_info& q, page_where w) {
  std::size_t n = 0;
  for (const page_residence& p : q.pages) n += p.where == w;
  return n;
}

TYPED_TEST(advice_test, read_mostly_keeps_both_copies_and_a_cpu_write_invalidates_one_page) {
  MAKE_RT(rt, 64 * kMiB);
  buffer x = rt->allocate(2 * kMiB);
  auto* w = x.as<std::uint32_t>();
  for (std::size_t i = 0; i < x.size() / 4; ++i) w[i] = static_cast<std::uint32_t>(i);
  rt->advise(x.data(), x.size(), advice::set_read_mostly);
  auto s = rt->create_stream();
  rt->prefetch(x.data(), x.size(), location::device, s).synchronize();
  range_info q = rt->query(x.data(), x.size());
  EXPECT_TRUE(q.read_mostly);
  EXPECT_EQ(count(q, page_where::shared), x.size() / kPage);
  const stats before = rt->statistics();
  EXPECT_EQ(index_mismatches(w, x.size() / 4, 0), 0u);
  EXPECT_EQ(rt->statistics().bytes_to_host, before.bytes_to_host) << "reads of a read-mostly range copied data";
  w[3 * kWordsPerPage] = 99;  // one CPU write: that page's device copy is stale
  rt->prefetch(x.data(), x.size(), location::device, s).synchronize();
  EXPECT_EQ(rt->statistics().bytes_to_device - before.bytes_to_device, kPage) << "only the written page moves";
  // The device copy is the CPU's: a kernel reading it (read-only declaration) sees 99.
  q = rt->query(x.data(), x.size());
  EXPECT_EQ(count(q, page_where::shared), x.size() / kPage);
  rt->advise(x.data(), x.size(), advice::unset_read_mostly);
  EXPECT_FALSE(rt->query(x.data(), x.size()).read_mostly);
  rt->prefetch(x.data(), x.size(), location::device, s).synchronize();
  EXPECT_EQ(count(rt->query(x.data(), kPage), page_where::device), 1u);
  EXPECT_EQ(w[3 * kWordsPerPage], 99u);
}

TYPED_TEST(advice_test, preferred_location_orders_eviction_and_queries_report_it) {
  MAKE_RT(rt, 8 * kMiB);  // four chunks
  buffer host_pref = rt->allocate(4 * kMiB), dev_pref = rt->allocate(4 * kMiB), other = rt->allocate(4 * kMiB);
  rt->advise(dev_pref.data(), dev_pref.size(), advice::set_preferred_location, location::device, 0);
  rt->advise(host_pref.data(), host_pref.size(), advice::set_preferred_location, location::host);
  // dev_pref is the least recently used, yet host_pref leaves first.
  rt->prefetch(dev_pref.data(), dev_pref.size(), location::device);
  rt->prefetch(host_pref.data(), host_pref.size(), location::device);
  rt->prefetch(other.data(), other.size(), location::device);
  range_info q = rt->query(dev_pref.data(), dev_pref.size());
  EXPECT_EQ(count(q, page_where::host), 0u) << "the device-preferred range was evicted";
  EXPECT_EQ(q.preferred_location, (placement{false, 0}));
  EXPECT_EQ(q.last_prefetch, (placement{false, 0}));
  q = rt->query(host_pref.data(), host_pref.size());
  EXPECT_EQ(count(q, page_where::host), host_pref.size() / kPage);
  EXPECT_EQ(q.preferred_location, (placement{true, 0}));
  rt->advise(host_pref.data(), host_pref.size(), advice::unset_preferred_location);
  EXPECT_FALSE(rt->query(host_pref.data(), host_pref.size()).preferred_location.has_value());
  // Last prefetch: host after a move home; mixed chunks agree on nothing.
  rt->prefetch(other.data(), 2 * kMiB, location::host);
  EXPECT_EQ(rt->query(other.data(), 2 * kMiB).last_prefetch, (placement{true, 0}));
  EXPECT_FALSE(rt->query(other.data(), other.size()).last_prefetch.has_value());
  // Like cudaMemRangeAttributeLastPrefetchLocation: where the last prefetch moved it, even if evicted since.
  EXPECT_EQ(rt->query(host_pref.data(), kPage).last_prefetch, (placement{false, 0}));
}

TYPED_TEST(advice_test, attach_decides_which_streams_may_declare_an_allocation) {
  MAKE_RT(rt, 64 * kMiB);
  buffer x = rt->allocate(2 * kMiB);
  auto s1 = rt->create_stream(), s2 = rt->create_stream();
  const access set[] = {{x.data(), x.size(), access_mode::read_write}};
  rt->attach(x.data(), attach_to::host);
  EXPECT_THROW(rt->launch([] {}, s1, set), invalid_argument);
  // Attached to the host, the CPU uses it while kernels run elsewhere: nothing zaps it.
  x.as<std::uint32_t>()[0] = 5;
  EXPECT_EQ(x.as<std::uint32_t>()[0], 5u);
  rt->attach(x.as<char>() + 4096, attach_to::single, s1);  // any address inside
  rt->launch([] {}, s1, set);
  EXPECT_THROW(rt->launch([] {}, s2, set), invalid_argument);
  rt->attach(x.data(), attach_to::global);
  rt->launch([] {}, s2, set);
  rt->device_synchronize();
  EXPECT_EQ(x.as<std::uint32_t>()[0], 5u);
}

TYPED_TEST(advice_test, bad_advice_and_queries_are_clear_errors) {
  MAKE_RT(rt, 64 * kMiB);
  buffer x = rt->allocate(2 * kMiB);
  int local = 0;
  EXPECT_THROW(rt->advise(x.data(), x.size(), advice::set_accessed_by, location::device, 7), invalid_argument);
  EXPECT_THROW(rt->advise(&local, 4096, advice::set_read_mostly), invalid_argument);
  EXPECT_THROW(rt->advise(x.as<char>() + 1, 4096, advice::set_read_mostly), invalid_argument);
  EXPECT_THROW(rt->advise(x.data(), 0, advice::set_read_mostly), invalid_argument);
  EXPECT_THROW(rt->advise(x.data(), x.size() + 4096, advice::set_read_mostly), invalid_argument);
  EXPECT_THROW(rt->advise(x.data(), 4096, advice::set_preferred_location, location::device, 7), invalid_argument);
  EXPECT_THROW(rt->advise(x.data(), 4096, static_cast<advice>(77)), invalid_argument);
  EXPECT_THROW((void)rt->query(&local, 4096), invalid_argument);
  EXPECT_THROW((void)rt->query(x.as<char>() + 8, 4096), invalid_argument);
  EXPECT_THROW(rt->attach(&local, attach_to::host), invalid_argument);
  const access bad_mode[] = {{x.data(), 4096, static_cast<access_mode>(9)}};
  EXPECT_THROW((void)rt->declare(bad_mode, {}), invalid_argument);
  void* freed = x.data();
  x.reset();
  EXPECT_THROW((void)rt->query(freed, 4096), invalid_argument);
  EXPECT_THROW(rt->advise(freed, 4096, advice::set_read_mostly), invalid_argument);
  const access gone[] = {{freed, 4096, access_mode::read}};
  EXPECT_THROW(rt->launch([] {}, {}, gone), invalid_argument);
}

TEST(advice_c_api, the_residency_calls_round_trip) {
  umpager_config cfg;
  ASSERT_EQ(umpager_config_from_env(&cfg), 0) << umpager_last_error();
  cfg.driver = UMPAGER_DRIVER_SIM;
  cfg.device_memory = 8 * kMiB;
  cfg.policy = UMPAGER_POLICY_LRU;
  umpager_runtime* rt = nullptr;
  ASSERT_EQ(umpager_runtime_create(&cfg, &rt), 0) << umpager_last_error();
  void* p = nullptr;
  ASSERT_EQ(umpager_alloc(rt, 4 * kMiB, 0, &p), 0);
  auto* w = static_cast<std::uint32_t*>(p);
  for (std::size_t i = 0; i < kMiB; ++i) w[i] = static_cast<std::uint32_t>(i);
  umpager_stream* s = nullptr;
  ASSERT_EQ(umpager_stream_create(rt, &s), 0);
  umpager_completion* c = nullptr;
  ASSERT_EQ(umpager_prefetch_async(rt, p, 4 * kMiB, UMPAGER_LOCATION_DEVICE, s, &c), 0) << umpager_last_error();
  ASSERT_EQ(umpager_completion_synchronize(c), 0);
  int done = 0;
  ASSERT_EQ(umpager_completion_query(c, &done), 0);
  EXPECT_EQ(done, 1);
  EXPECT_EQ(umpager_completion_destroy(c), 0);
  umpager_access set[] = {{p, 4 * kMiB, UMPAGER_ACCESS_READ_WRITE}};
  static int calls = 0;
  ASSERT_EQ(umpager_launch(rt, [](void* a) { ++*static_cast<int*>(a); }, &calls, s, set, 1), 0) << umpager_last_error();
  umpager_declaration* d = nullptr;
  ASSERT_EQ(umpager_declare_begin(rt, set, 1, s, &d), 0) << umpager_last_error();
  ASSERT_EQ(umpager_declare_end(d), 0);
  ASSERT_EQ(umpager_device_synchronize(rt), 0);
  EXPECT_EQ(calls, 1);
  std::vector<umpager_page_info> pages(4 * kMiB / 4096);
  umpager_range_info info{};
  ASSERT_EQ(umpager_query(rt, p, 4 * kMiB, &info, pages.data()), 0);
  EXPECT_EQ(pages[0].where, UMPAGER_PAGE_DEVICE);
  EXPECT_EQ(info.last_prefetch, 0);
  EXPECT_EQ(info.preferred_location, UMPAGER_PLACE_NONE);
  ASSERT_EQ(umpager_advise(rt, p, 4 * kMiB, UMPAGER_ADVISE_SET_PREFERRED_LOCATION, UMPAGER_LOCATION_HOST, 0), 0);
  ASSERT_EQ(umpager_advise(rt, p, 4 * kMiB, UMPAGER_ADVISE_SET_READ_MOSTLY, UMPAGER_LOCATION_HOST, 0), 0);
  ASSERT_EQ(umpager_query(rt, p, 4 * kMiB, &info, nullptr), 0);
  EXPECT_EQ(info.preferred_location, UMPAGER_PLACE_HOST);
  EXPECT_EQ(info.read_mostly, 1);
  EXPECT_EQ(umpager_advise(rt, p, 4096, UMPAGER_ADVISE_SET_ACCESSED_BY, UMPAGER_LOCATION_DEVICE, 0), 0);
  EXPECT_EQ(umpager_advise(rt, p, 4096, UMPAGER_ADVISE_SET_ACCESSED_BY, UMPAGER_LOCATION_DEVICE, 5), -EINVAL);
  EXPECT_EQ(umpager_advise(rt, p, 4096, 42, UMPAGER_LOCATION_DEVICE, 0), -EINVAL);
  EXPECT_EQ(umpager_attach(rt, p, UMPAGER_ATTACH_HOST, nullptr), 0);
  EXPECT_EQ(umpager_launch(rt, [](void*) {}, nullptr, s, set, 1), -EINVAL);
  EXPECT_EQ(umpager_attach(rt, p, 9, nullptr), -EINVAL);
  EXPECT_EQ(umpager_set_policy(rt, UMPAGER_POLICY_ADAPTIVE), 0);
  EXPECT_EQ(umpager_set_policy(rt, 17), -EINVAL);
  umpager_access big[] = {{p, 4 * kMiB, UMPAGER_ACCESS_READ}};
  void* q = nullptr;
  ASSERT_EQ(umpager_alloc(rt, 6 * kMiB, 0, &q), 0);
  umpager_access too_big[] = {{q, 6 * kMiB, UMPAGER_ACCESS_READ}, {p, 4 * kMiB, UMPAGER_ACCESS_READ}};
  EXPECT_EQ(umpager_attach(rt, p, UMPAGER_ATTACH_GLOBAL, nullptr), 0);
  EXPECT_EQ(umpager_declare_begin(rt, too_big, 2, s, &d), -ENOMEM);
  EXPECT_EQ(umpager_declare_begin(rt, big, 1, s, nullptr), -EINVAL);
  umpager_stats st{};
  ASSERT_EQ(umpager_get_stats(rt, &st), 0);
  EXPECT_EQ(st.device_bytes_slack, 0u);
  EXPECT_EQ(umpager_config_from_env(&cfg), 0);
  EXPECT_EQ(cfg.policy, UMPAGER_POLICY_ADAPTIVE);
  cfg.policy = 12;
  umpager_runtime* bad = nullptr;
  EXPECT_EQ(umpager_runtime_create(&cfg, &bad), -EINVAL);
  EXPECT_EQ(umpager_stream_destroy(s), 0);
  EXPECT_EQ(umpager_runtime_destroy(rt), 0);
}

}  // namespace
}  // namespace umpager::testing
