// Adaptive fault granularity and write read-ahead (issue 10), through the public API:
// dense access maps ahead (far fewer faults than pages), sparse access moves about the
// pages it touches, pages only mapped ahead are never uploaded again (bytes_to_device
// exact), a write scan mapped ahead keeps the dirty set exact, the per-allocation
// override works both ways. (A map-ahead queued before a zap: readahead_test.)
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "runtime_fixture.hpp"

namespace umpager::testing {
namespace {

template <class Factory>
class density_test : public ::testing::Test {};
TYPED_TEST_SUITE(density_test, driver_factories, factory_names);

constexpr std::size_t kBytes = std::size_t{16} << 20;  // 8 chunks of 2 MiB
constexpr std::size_t kPages = kBytes / kPage;
constexpr std::size_t kWords = kBytes / sizeof(std::uint32_t);

config adaptive_config(tracking_mode t) {
  config cfg = make_config(0, t);  // block_size 0: adaptive
  return cfg;
}

std::vector<std::size_t> shuffled_pages(std::size_t n, std::uint64_t seed) {
  std::vector<std::size_t> v(n);
  std::iota(v.begin(), v.end(), std::size_t{0});
  std::mt19937_64 rng(seed);
  std::shuffle(v.begin(), v.end(), rng);
  return v;
}

/// Fills w with index + 0 on the CPU, then moves it to the device and adds `delta` there.
void device_resident(runtime& rt, stream& s, buffer& buf, std::uint32_t delta) {
  auto* w = buf.as<std::uint32_t>();
  const std::size_t n = buf.size() / sizeof(std::uint32_t);
  for (std::size_t i = 0; i < n; ++i) w[i] = static_cast<std::uint32_t>(i);
  rt.prefetch(w, buf.size(), location::device, s);
  kernels::add(rt.device_driver(), s.handle(), static_cast<std::uint32_t*>(buf.device_data()), n, delta);
  s.synchronize();
}

/// Reads the first word of each page in `order`; the number of wrong ones.
std::size_t read_pages(const std::uint32_t* w, const std::vector<std::size_t>& order, std::uint32_t delta) {
  std::size_t bad = 0;
  for (std::size_t p : order) {
    const std::size_t i = p * kWordsPerPage;
    bad += w[i] != static_cast<std::uint32_t>(i + delta);
  }
  return bad;
}

std::uint64_t faults(const stats& a, const stats& b) {
  return (a.read_faults + a.write_faults + a.wp_faults) - (b.read_faults + b.write_faults + b.wp_faults);
}

TYPED_TEST(density_test, dense_random_access_maps_ahead_and_fixed_4k_does_not) {
  for (const bool adaptive : {true, false}) {
    SCOPED_TRACE(adaptive ? "adaptive" : "fixed 4K");
    std::string why;
    auto rt = make_runtime<TypeParam>(adaptive_config(tracking_mode::automatic), &why);
    if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
    auto s = rt->create_stream();
    // The config is adaptive: 0 takes it, 4096 overrides it per allocation.
    buffer buf = rt->allocate(kBytes, adaptive ? 0 : 4096);
    device_resident(*rt, s, buf, 3);
    const auto order = shuffled_pages(kPages, 7);
    const stats before = rt->statistics();
    EXPECT_EQ(read_pages(buf.as<std::uint32_t>(), order, 3), 0u);
    const stats after = rt->statistics();
    EXPECT_EQ(after.bytes_to_host - before.bytes_to_host, kBytes) << "every page came home exactly once";
    if (adaptive) {
      // Scattered mapped pages keep subtrees sparse for long; a chunk that took
      // kDenseChunkFaults (16) faults is fetched whole by its next one: 17 faults a
      // chunk (~136 here), where growing by mapped density alone took 180-230.
      EXPECT_LT(faults(after, before), kPages / 24) << "a chunk with many faults is fetched whole";
    } else {
      EXPECT_EQ(faults(after, before), kPages) << "a fixed 4K block maps only the faulting page";
    }
    // Everything is mapped now: a second pass faults nowhere and reads the same.
    const stats again = rt->statistics();
    EXPECT_EQ(index_mismatches(buf.as<std::uint32_t>(), kWords, 3), 0u);
    EXPECT_EQ(faults(rt->statistics(), again), 0u);
    if (!adaptive) continue;
    // After a zap a chunk's fault count starts again: a few faults map only their pages.
    rt->prefetch(buf.data(), kBytes, location::device, s);
    s.synchronize();
    const stats z = rt->statistics();
    const auto few = shuffled_pages(kPages, 23);
    EXPECT_EQ(read_pages(buf.as<std::uint32_t>(), {few.begin(), few.begin() + 8}, 3), 0u);
    EXPECT_EQ(rt->statistics().bytes_to_host - z.bytes_to_host, 8 * kPage) << "the fault count was reset by the zap";
  }
}

TYPED_TEST(density_test, per_allocation_adaptive_overrides_a_fixed_config) {
  std::string why;
  auto rt = make_runtime<TypeParam>(make_config(4096, tracking_mode::automatic), &why);
  if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
  auto s = rt->create_stream();
  buffer buf = rt->allocate(kBytes, adaptive_block);
  device_resident(*rt, s, buf, 1);
  const stats before = rt->statistics();
  EXPECT_EQ(read_pages(buf.as<std::uint32_t>(), shuffled_pages(kPages, 3), 1), 0u);
  EXPECT_LT(faults(rt->statistics(), before), kPages / 4);
  EXPECT_THROW((void)rt->allocate(kBytes, 3000), invalid_argument);
}

TYPED_TEST(density_test, sparse_random_access_moves_about_the_pages_it_touches) {
  std::string why;
  auto rt = make_runtime<TypeParam>(adaptive_config(tracking_mode::automatic), &why);
  if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
  auto s = rt->create_stream();
  constexpr std::size_t kBig = std::size_t{64} << 20;
  buffer buf = rt->allocate(kBig);
  device_resident(*rt, s, buf, 5);
  auto order = shuffled_pages(kBig / kPage, 11);
  order.resize(order.size() / 100);  // 1% of the pages, at random
  const stats before = rt->statistics();
  EXPECT_EQ(read_pages(buf.as<std::uint32_t>(), order, 5), 0u);
  const stats after = rt->statistics();
  const std::uint64_t touched = order.size() * kPage;
  EXPECT_GE(after.bytes_to_host - before.bytes_to_host, touched);
  EXPECT_LE(after.bytes_to_host - before.bytes_to_host, 2 * touched) << "sparse access is not grown";
}

struct write_case {
  std::size_t block;  // 0: adaptive
  tracking_mode tracking;
};

TYPED_TEST(density_test, pages_mapped_ahead_are_not_uploaded_again_and_writes_ahead_stay_exact) {
  const write_case cases[] = {{0, tracking_mode::automatic}, {0, tracking_mode::sync},
                              {65536, tracking_mode::automatic}, {65536, tracking_mode::sync}};
  for (const write_case& c : cases) {
    SCOPED_TRACE(describe(cycle_case{c.block, c.tracking}));
    config cfg = make_config(c.block, c.tracking);
    std::string why;
    auto rt = make_runtime<TypeParam>(cfg, &why);
    if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
    auto s = rt->create_stream();
    buffer buf = rt->allocate(kBytes);
    auto* w = buf.as<std::uint32_t>();
    device_resident(*rt, s, buf, 2);

    // A sequential write pass over the first half, one word per page: write faults
    // map ahead write-protected (into the second half too), and the first write to
    // each such page is still seen.
    const std::size_t half = kPages / 2;
    const stats before = rt->statistics();
    for (std::size_t p = 0; p < half; ++p) w[p * kWordsPerPage] = 0xdead0000u + static_cast<std::uint32_t>(p);
    const stats mid = rt->statistics();
    EXPECT_LT(mid.write_faults - before.write_faults, half) << "write faults map more than the faulting page";
    // Then reads of the rest: nothing written there.
    std::size_t bad = 0;
    for (std::size_t i = half * kWordsPerPage; i < kWords; ++i) bad += w[i] != static_cast<std::uint32_t>(i + 2);
    EXPECT_EQ(bad, 0u);

    // Back to the device: exactly the written half goes up, not the pages only mapped.
    const stats up0 = rt->statistics();
    rt->prefetch(w, kBytes, location::device, s);
    s.synchronize();
    EXPECT_EQ(rt->statistics().bytes_to_device - up0.bytes_to_device, half * kPage) << "the dirty set is exact";

    // And the device saw every write: add 1 there, read back on the CPU.
    kernels::add(rt->device_driver(), s.handle(), static_cast<std::uint32_t*>(buf.device_data()), kWords, 1);
    s.synchronize();
    EXPECT_EQ(scan_mismatches(w, kWords, half, 0xdead0000u, 3, 1), 0u);
  }
}

TYPED_TEST(density_test, sequential_adaptive_scan_reads_ahead) {
  // A sequential scan of an adaptive allocation gets both: faults grown to whole
  // chunks and read-ahead of the next ones (readahead_test holds such a read-ahead
  // across a zap).
  std::string why;
  auto rt = make_runtime<TypeParam>(adaptive_config(tracking_mode::automatic), &why);
  if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
  auto s = rt->create_stream();
  buffer buf = rt->allocate(kBytes);
  device_resident(*rt, s, buf, 4);
  const stats before = rt->statistics();
  EXPECT_EQ(index_mismatches(buf.as<std::uint32_t>(), kWords, 4), 0u);
  const stats after = rt->statistics();
  EXPECT_EQ(after.bytes_to_host - before.bytes_to_host, kBytes);
  EXPECT_GT(after.pages_read_ahead - before.pages_read_ahead, 0u);
  EXPECT_LT(faults(after, before), kPages / 32) << "a few faults per chunk at most";
}

}  // namespace
}  // namespace umpager::testing
