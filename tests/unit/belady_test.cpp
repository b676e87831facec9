// Belady's MIN as umpager-bench oversub computes opt_bytes (tools/bench/belady.hpp):
// hand-checked traces.
#include <gtest/gtest.h>

#include "belady.hpp"
#include "umpager/error.hpp"

namespace umpager::bench {
namespace {

using kernels::workloads::trace;
constexpr std::size_t MiB = std::size_t{1} << 20, chunk = 2 * MiB;

trace::step launch(std::initializer_list<trace::use> uses) { return {false, uses}; }
trace::step cpu(std::initializer_list<trace::use> uses) { return {true, uses}; }
trace::use whole(unsigned c) { return {0, c * chunk, chunk, access_mode::read}; }

belady_model budget(std::size_t chunks) {
  belady_model m{};
  m.capacity_bytes = chunks * chunk;
  return m;
}

TEST(belady, cyclic_scan_keeps_what_is_reused_soonest) {
  trace t{{3 * chunk}, {}};
  for (int pass = 0; pass < 2; ++pass) {
    for (unsigned c = 0; c < 3; ++c) t.steps.push_back(launch({whole(c)}));
  }
  // 0 1 2 0 1 2 with room for two: misses 0 1 2 (evicts 1, used after 0) 1 (evicts 0) = 4;
  // LRU would miss all six.
  const belady_result r = belady_min(t, budget(2));
  EXPECT_EQ(r.misses, 4u);
  EXPECT_EQ(r.bytes_to_device, 4 * chunk);
  EXPECT_EQ(r.evictions, 2u);
  EXPECT_EQ(belady_min(t, budget(3)).bytes_to_device, 3 * chunk) << "everything fits: each chunk once";
}

TEST(belady, cpu_writes_cost_their_pages_and_reads_nothing) {
  trace t{{chunk}, {}};
  t.steps.push_back(launch({whole(0)}));
  t.steps.push_back(cpu({{0, 100, 8000, access_mode::read}}));        // read: the device copy stays valid
  t.steps.push_back(launch({whole(0)}));
  t.steps.push_back(cpu({{0, 4096, 5000, access_mode::read_write}}));  // pages 1 and 2
  t.steps.push_back(launch({whole(0)}));
  EXPECT_EQ(belady_min(t, budget(1)).bytes_to_device, chunk + 2 * 4096);
}

TEST(belady, pages_not_chunks_are_uploaded) {
  trace t{{2 * chunk, chunk}, {}};
  t.steps.push_back(launch({{0, chunk - 4096, 8192, access_mode::read}, {1, 0, 10, access_mode::read}}));
  const belady_result r = belady_min(t, budget(4));
  EXPECT_EQ(r.misses, 3u) << "a range across a chunk boundary uses both chunks";
  EXPECT_EQ(r.bytes_to_device, 3 * 4096u);
  belady_model no_write_upload = budget(4);
  no_write_upload.write_only_uploads = false;
  trace w{{chunk}, {launch({{0, 0, chunk, access_mode::write}})}};
  EXPECT_EQ(belady_min(w, no_write_upload).bytes_to_device, 0u);
  EXPECT_EQ(belady_min(w, budget(4)).bytes_to_device, chunk);
}

TEST(belady, bad_traces_are_errors) {
  trace t{{3 * chunk}, {launch({whole(0), whole(1), whole(2)})}};
  EXPECT_THROW((void)belady_min(t, budget(2)), invalid_argument) << "one launch larger than the budget";
  trace out{{chunk}, {launch({{0, chunk - 10, 20, access_mode::read}})}};
  EXPECT_THROW((void)belady_min(out, budget(2)), invalid_argument) << "a range past its allocation";
}

}  // namespace
}  // namespace umpager::bench
