// The oversubscription workloads (kernels/workloads) through the public API: each
// computes the right answer on managed memory larger than the device budget (its
// own check compares every result with a host reference), on plain device buffers,
// and records a trace whose launches name only ranges inside their allocations.
#include <gtest/gtest.h>

#include "runtime_fixture.hpp"
#include "umpager/kernels/workloads.hpp"

namespace umpager::testing {
namespace {

namespace wl = kernels::workloads;

class workloads_test : public ::testing::TestWithParam<wl::kind> {};

wl::params small(std::size_t data) {
  wl::params p;
  p.data_bytes = data;
  p.tile_bytes = std::size_t{1} << 20;
  p.passes = 2;
  return p;
}

TEST_P(workloads_test, correct_when_oversubscribed) {
  std::string why;
  // 32 MiB of data through a 16 MiB budget (a launch's ranges may need a chunk more
  // each than their bytes: they start anywhere in a chunk).
  auto rt = make_runtime<sim_factory>(make_config(65536, tracking_mode::automatic, 16 << 20), &why);
  ASSERT_TRUE(rt) << why;
  auto s = rt->create_stream();
  wl::trace t;
  const wl::result r = wl::run_managed(GetParam(), small(32 << 20), *rt, s, &t);
  EXPECT_TRUE(r.correct) << r.error;
  EXPECT_GT(r.launches, 4u);
  EXPECT_GT(r.data_bytes, std::size_t{16} << 20);
  EXPECT_GT(rt->statistics().chunks_evicted, 0u);
  std::size_t launches = 0, cpu = 0;
  for (const auto& st : t.steps) {
    (st.cpu ? cpu : launches) += 1;
    for (const auto& u : st.uses) {
      ASSERT_LT(u.alloc, t.alloc_bytes.size());
      EXPECT_LE(u.offset + u.bytes, t.alloc_bytes[u.alloc]);
    }
  }
  EXPECT_EQ(launches, r.launches);
  EXPECT_GT(cpu, 0u) << "each workload has a CPU phase between device phases";
}

TEST_P(workloads_test, correct_on_plain_device_buffers) {
  auto d = sim_factory::make(nullptr, std::size_t{64} << 20);
  const wl::result r = wl::run_plain(GetParam(), small(12 << 20), *d);
  EXPECT_TRUE(r.correct) << r.error;
}

TEST(workloads, names_round_trip_and_bad_params) {
  for (wl::kind k : wl::all_kinds) EXPECT_EQ(wl::parse_kind(wl::name(k)), k);
  EXPECT_FALSE(wl::parse_kind("nope"));
  auto d = sim_factory::make(nullptr, std::size_t{64} << 20);
  wl::params p = small(4 << 20);
  p.passes = 0;
  EXPECT_THROW((void)wl::run_plain(wl::kind::triad, p, *d), invalid_argument);
  if (!wl::uvm_built()) {
    EXPECT_THROW((void)wl::run_uvm(wl::kind::triad, small(4 << 20), true), invalid_argument);
  }
}

INSTANTIATE_TEST_SUITE_P(all, workloads_test, ::testing::ValuesIn(wl::all_kinds),
                         [](const auto& info) { return std::string(wl::name(info.param)); });

}  // namespace
}  // namespace umpager::testing
