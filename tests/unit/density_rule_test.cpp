// Adaptive granularity on its own: how far a fault grows from the mapped bits of the
// page table (density.hpp), and a chunk's fault count since its last zap.
#include <gtest/gtest.h>

#include <mutex>
#include <vector>

#include "density.hpp"

namespace umpager::detail {
namespace {

constexpr std::size_t kChunkPages = 512;  // a 2 MiB chunk

fault missing(std::size_t page) { return fault{page, false, false, 0}; }
fault write_protect(std::size_t page) { return fault{page, true, true, 0}; }

struct held_chunk {
  explicit held_chunk(std::size_t index = 0) : lock{m, index} {}
  std::mutex m;
  chunk_lock lock;
};

void map(page_table& t, std::size_t first, std::size_t end, std::size_t step = 1) {
  for (std::size_t p = first; p < end; p += step) t.set_mapped(p, true);
}

TEST(density_rule, the_threshold_is_an_eighth_and_at_least_four_pages) {
  EXPECT_EQ(dense_threshold(16), 4u);
  EXPECT_EQ(dense_threshold(64), 8u);
  EXPECT_EQ(dense_threshold(512), 64u);
}

TEST(density_rule, a_fault_in_a_sparse_chunk_maps_its_own_page) {
  held_chunk h;
  page_table t(kChunkPages);
  const fault f[] = {missing(100)};
  EXPECT_EQ(dense_range(h.lock.token(), t, kChunkPages, f, false), std::make_pair(std::size_t{100}, std::size_t{101}));
}

TEST(density_rule, a_subtree_with_enough_mapped_pages_is_mapped_whole) {
  held_chunk h;
  page_table t(kChunkPages);
  // Three mapped and the faulting page: dense for the leaf [32, 48) and for its
  // 32-page parent (threshold 4 both), not for the 64-page level (threshold 8).
  map(t, 32, 35);
  const fault f[] = {missing(40)};
  EXPECT_EQ(dense_range(h.lock.token(), t, kChunkPages, f, false), std::make_pair(std::size_t{32}, std::size_t{64}));
}

TEST(density_rule, a_sparse_leaf_under_a_dense_parent_maps_the_parent) {
  held_chunk h;
  page_table t(kChunkPages);
  // Eight in a leaf of [64, 128): with the faulting page, nine, dense up to 64 pages.
  map(t, 64, 72);
  const fault f[] = {missing(90)};
  EXPECT_EQ(dense_range(h.lock.token(), t, kChunkPages, f, false), std::make_pair(std::size_t{64}, std::size_t{128}));
}

TEST(density_rule, the_largest_dense_subtree_wins_up_to_the_chunk) {
  held_chunk h;
  page_table t(kChunkPages);
  map(t, 0, kChunkPages, 8);  // one page in eight: every level is exactly dense
  const fault f[] = {missing(301)};
  EXPECT_EQ(dense_range(h.lock.token(), t, kChunkPages, f, false), std::make_pair(std::size_t{0}, kChunkPages));
}

TEST(density_rule, whole_maps_the_top_of_the_tree_even_where_nothing_is_mapped) {
  held_chunk h(1);
  page_table t(2 * kChunkPages);
  const fault f[] = {missing(kChunkPages + 7)};
  EXPECT_EQ(dense_range(h.lock.token(), t, kChunkPages, f, true), std::make_pair(kChunkPages, 2 * kChunkPages));
}

TEST(density_rule, the_tree_is_no_higher_than_a_small_chunk) {
  held_chunk h(1);
  page_table t(256);
  const fault f[] = {missing(70)};
  // 64-page chunks: `whole` stops at the chunk, not at 2 MiB.
  EXPECT_EQ(dense_range(h.lock.token(), t, 64, f, true), std::make_pair(std::size_t{64}, std::size_t{128}));
}

TEST(density_rule, write_protect_faults_map_nothing_and_several_faults_map_their_union) {
  held_chunk h;
  page_table t(kChunkPages);
  const fault f[] = {write_protect(5), missing(10), missing(200)};
  EXPECT_EQ(dense_range(h.lock.token(), t, kChunkPages, f, false), std::make_pair(std::size_t{10}, std::size_t{201}));
}

TEST(density_rule, a_fault_outside_the_chunk_held_aborts) {
  held_chunk h(0);
  page_table t(2 * kChunkPages);
  const fault f[] = {missing(kChunkPages + 7)};  // chunk 1's page, chunk 0's lock
  EXPECT_DEATH((void)dense_range(h.lock.token(), t, kChunkPages, f, false), "grown under chunk 0's lock");
}

TEST(chunk_density, sixteen_missing_faults_since_the_zap_make_the_chunk_dense) {
  chunk_density d;
  const fault one[] = {missing(1)};
  for (std::uint32_t i = 1; i < kDenseChunkFaults; ++i) EXPECT_FALSE(d.count(0, one)) << i;
  EXPECT_TRUE(d.count(0, one));
  EXPECT_TRUE(d.count(0, one));
}

TEST(chunk_density, write_protect_faults_are_not_counted) {
  chunk_density d;
  std::vector<fault> wp(2 * kDenseChunkFaults, write_protect(3));
  EXPECT_FALSE(d.count(0, wp));
}

TEST(chunk_density, a_zap_starts_the_count_again) {
  chunk_density d;
  std::vector<fault> many(kDenseChunkFaults - 1, missing(2));
  EXPECT_FALSE(d.count(0, many));
  const fault one[] = {missing(1)};
  EXPECT_FALSE(d.count(7, one));  // zapped at 7: the first fault since, not the 16th
  EXPECT_TRUE(d.count(7, many));
}

}  // namespace
}  // namespace umpager::detail
