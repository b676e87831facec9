// The ideal pipeline umpager-bench oversub compares its overlap figure with
// (tools/bench/pipeline_bound.hpp): hand-worked schedules.
#include <gtest/gtest.h>

#include "pipeline_bound.hpp"

namespace umpager::bench {
namespace {

using kernels::workloads::trace;
constexpr double GB = 1e9;

// A launch whose set is `kernel` GB and whose declaration uploaded `upload` GB: at
// 1 GB/s both ways, seconds equal gigabytes.
trace::step launch(double kernel, double upload) {
  trace::step st;
  st.uses.push_back({0, 0, static_cast<std::size_t>(kernel * GB), access_mode::read});
  st.uploaded = static_cast<std::uint64_t>(upload * GB);
  return st;
}

double bound(std::initializer_list<trace::step> steps, unsigned depth) {
  trace t;
  t.steps.assign(steps.begin(), steps.end());
  return hidden_bound(t, 1.0, 1.0, depth);
}

TEST(pipeline_bound, one_deep_hides_nothing) {
  // Each launch's uploads wait for the kernel before: uploads 3 s, kernels 3 s, run 6 s.
  EXPECT_NEAR(bound({launch(1, 1), launch(1, 1), launch(1, 1)}, 1), 0.0, 1e-9);
}

TEST(pipeline_bound, two_deep_hides_all_but_the_first_upload) {
  // Uploads 0-1, 1-2, 2-3; kernels 1-2, 2-3, 3-4: run 4 s, so 3 - (4 - 3) = 2 s hidden.
  EXPECT_NEAR(bound({launch(1, 1), launch(1, 1), launch(1, 1)}, 2), 2.0, 1e-9);
}

TEST(pipeline_bound, uneven_tiles_hide_less_than_the_shorter_total) {
  // Upload-bound first, kernel-bound after: uploads 2+2+0+0, kernels 1 each.
  // Uploads 0-2, 2-4; kernels 2-3, 4-5, 5-6, 6-7: run 7 s, 4 - (7 - 4) = 1 s hidden,
  // though min(uploads, kernels) is 4 s.
  EXPECT_NEAR(bound({launch(1, 2), launch(1, 2), launch(1, 0), launch(1, 0)}, 2), 1.0, 1e-9);
}

TEST(pipeline_bound, cpu_phases_and_empty_traces_cost_nothing) {
  trace::step cpu = launch(5, 5);
  cpu.cpu = true;
  EXPECT_NEAR(bound({launch(1, 1), cpu, launch(1, 1)}, 2), 1.0, 1e-9);
  EXPECT_EQ(bound({}, 2), 0.0);
}

}  // namespace
}  // namespace umpager::bench
