// The full cycle through the public API, for every driver, block size and
// tracking mode: CPU writes, prefetch to device, a kernel changes the data, CPU
// reads fault it back, CPU writes some pages, and the next prefetch uploads
// exactly those pages.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "runtime_fixture.hpp"

namespace umpager::testing {
namespace {

template <class Factory>
class cycle_test : public ::testing::Test {};
TYPED_TEST_SUITE(cycle_test, driver_factories, factory_names);

const std::vector<cycle_case> kCases = {
    {4096, tracking_mode::wp_async},    {4096, tracking_mode::sync},
    {65536, tracking_mode::wp_async},   {65536, tracking_mode::sync},
    {2u << 20, tracking_mode::wp_async}, {2u << 20, tracking_mode::sync},
};

constexpr std::size_t kBytes = std::size_t{6} << 20;  // 3 chunks, several blocks each
constexpr std::size_t kWords = kBytes / sizeof(std::uint32_t);

TYPED_TEST(cycle_test, uploads_exactly_the_written_pages) {
  for (const cycle_case& c : kCases) {
    SCOPED_TRACE(describe(c));
    std::string why;
    auto rt = make_runtime<TypeParam>(make_config(c.block, c.tracking), &why);
    if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
    ASSERT_EQ(rt->tracking(), c.tracking);
    auto s = rt->create_stream();
    buffer buf = rt->allocate(kBytes);
    auto* host = buf.as<std::uint32_t>();
    auto* dev = static_cast<std::uint32_t*>(buf.device_data());

    for (std::size_t i = 0; i < kWords; ++i) host[i] = static_cast<std::uint32_t>(i);
    stats s0 = rt->statistics();
    rt->prefetch(host, kBytes, location::device, s);
    stats s1 = rt->statistics();
    EXPECT_EQ(s1.bytes_to_device - s0.bytes_to_device, kBytes) << "first upload moves everything";

    kernels::add(rt->device_driver(), s.handle(), dev, kWords, 1);
    s.synchronize();

    ASSERT_EQ(index_mismatches(host, kWords, 1), 0u) << "CPU reads see the kernel's writes";
    stats s2 = rt->statistics();
    EXPECT_EQ(s2.bytes_to_host - s1.bytes_to_host, kBytes) << "every page came back once";
    EXPECT_GT(s2.read_faults, s1.read_faults);
    EXPECT_LE(s2.read_faults - s1.read_faults, kBytes / c.block) << "at most one fault per block";

    const std::set<std::size_t> written = {0, 1, 7, 300, 511, 512, 1000, kBytes / kPage - 1};
    for (std::size_t p : written) host[p * kWordsPerPage + 3] = 0xC0FFEE;
    rt->prefetch(host, kBytes, location::device, s);
    stats s3 = rt->statistics();
    EXPECT_EQ(s3.bytes_to_device - s2.bytes_to_device, written.size() * kPage) << "exactly the written pages";
    if (c.tracking == tracking_mode::sync) {
      EXPECT_EQ(s3.wp_faults - s2.wp_faults, written.size());
    } else {
      EXPECT_EQ(s3.written_pages_found - s2.written_pages_found, written.size());
    }

    // The device holds both the uploaded pages and the ones it kept.
    kernels::add(rt->device_driver(), s.handle(), dev, kWords, 1);
    s.synchronize();
    std::size_t bad = 0;
    for (std::size_t i = 0; i < kWords; ++i) {
      const std::size_t p = i / kWordsPerPage;
      const bool poked = written.count(p) != 0 && i % kWordsPerPage == 3;
      bad += host[i] != (poked ? 0xC0FFEEu + 1 : static_cast<std::uint32_t>(i + 2));
    }
    EXPECT_EQ(bad, 0u);
  }
}

TYPED_TEST(cycle_test, tracking_off_uploads_every_page_not_on_the_device) {
  std::string why;
  config cfg = make_config(65536, tracking_mode::off);
  cfg.readahead_bytes = 0;  // exactly the touched half comes back
  auto rt = make_runtime<TypeParam>(cfg, &why);
  if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
  buffer buf = rt->allocate(kBytes);
  auto* host = buf.as<std::uint32_t>();
  for (std::size_t i = 0; i < kWords; ++i) host[i] = static_cast<std::uint32_t>(i);
  rt->prefetch(host, kBytes, location::device);
  std::uint64_t sum = 0;
  for (std::size_t p = 0; p < kBytes / kPage / 2; ++p) sum += host[p * kWordsPerPage];  // half comes back
  EXPECT_GT(sum, 0u);
  stats before = rt->statistics();
  rt->prefetch(host, kBytes, location::device);
  stats after = rt->statistics();
  EXPECT_EQ(after.bytes_to_device - before.bytes_to_device, kBytes / 2) << "untracked pages are all uploaded";
}

TYPED_TEST(cycle_test, prefetch_to_host_maps_without_faults) {
  std::string why;
  auto rt = make_runtime<TypeParam>(make_config(65536, tracking_mode::automatic), &why);
  if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
  buffer buf = rt->allocate(kBytes);
  auto* host = buf.as<std::uint32_t>();
  for (std::size_t i = 0; i < kWords; ++i) host[i] = static_cast<std::uint32_t>(i * 3);
  rt->prefetch(host, kBytes, location::device);
  rt->prefetch(host, kBytes, location::host);
  stats before = rt->statistics();
  std::size_t bad = 0;
  for (std::size_t i = 0; i < kWords; ++i) bad += host[i] != static_cast<std::uint32_t>(i * 3);
  EXPECT_EQ(bad, 0u);
  stats after = rt->statistics();
  EXPECT_EQ(after.read_faults, before.read_faults) << "prefetched pages are mapped already";
  // Untouched, the device copy is still valid: nothing to upload.
  rt->prefetch(host, kBytes, location::device);
  EXPECT_EQ(rt->statistics().bytes_to_device, after.bytes_to_device);
}

TYPED_TEST(cycle_test, page_table_costs_at_most_8_bytes_per_page) {
  std::string why;
  auto rt = make_runtime<TypeParam>(make_config(65536, tracking_mode::automatic), &why);
  if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
  buffer buf = rt->allocate(std::size_t{256} << 20);
  stats s = rt->statistics();
  EXPECT_EQ(s.managed_bytes, std::size_t{256} << 20);
  EXPECT_LE(s.metadata_bytes, 8 * (s.managed_bytes / kPage));
}

}  // namespace
}  // namespace umpager::testing
