// Write read-ahead (issue 10, region_write_ahead.cpp): under wp_async tracking a
// sequential write scan gets the pages ahead of it mapped writable (so its writes take
// no fault at all), and the dirty set stays exact: pages only mapped ahead, and pages
// written with the bytes they already had, are not uploaded again, including in chunks
// retired behind a scan longer than the speculation window.
#include <gtest/gtest.h>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

#include "page_flags.hpp"
#include "runtime_fixture.hpp"

namespace umpager::testing {
namespace {

template <class Factory>
class write_ahead_test : public ::testing::Test {};
TYPED_TEST_SUITE(write_ahead_test, driver_factories, factory_names);

// 16 chunks of 2 MiB and a 4 MiB read-ahead window: the speculation bound (window + 2
// chunks) is passed, so chunks behind the scan are retired while it runs.
constexpr std::size_t kBytes = std::size_t{32} << 20;
constexpr std::size_t kPages = kBytes / kPage;
constexpr std::size_t kWords = kBytes / sizeof(std::uint32_t);

struct fixture {
  std::unique_ptr<runtime> rt;
  std::optional<stream> s;
  std::optional<buffer> buf;
};

/// A wp_async runtime (null: skip, with `why`) and a device-resident allocation
/// holding index + 2 (written on the CPU, then +2 by a device kernel).
template <class Factory>
fixture make_fixture(std::string& why) {
  config cfg = make_config(65536, tracking_mode::wp_async);
  cfg.readahead_bytes = std::size_t{4} << 20;
  fixture f;
  f.rt = make_runtime<Factory>(cfg, &why);
  if (!f.rt) return f;
  if (f.rt->tracking() != tracking_mode::wp_async) {
    why = "wp_async tracking not available";
    f.rt.reset();
    return f;
  }
  f.s.emplace(f.rt->create_stream());
  f.buf.emplace(f.rt->allocate(kBytes));
  auto* w = f.buf->template as<std::uint32_t>();
  for (std::size_t i = 0; i < kWords; ++i) w[i] = static_cast<std::uint32_t>(i);
  f.rt->prefetch(w, kBytes, location::device, *f.s);
  kernels::add(f.rt->device_driver(), f.s->handle(), static_cast<std::uint32_t*>(f.buf->device_data()), kWords, 2);
  f.s->synchronize();
  return f;
}

TYPED_TEST(write_ahead_test, write_scan_maps_ahead_writable_and_uploads_only_written_pages) {
  std::string why;
  fixture f = make_fixture<TypeParam>(why);
  if (!f.rt) GTEST_SKIP() << TypeParam::name << ": " << why;
  runtime& rt = *f.rt;
  auto* w = f.buf->template as<std::uint32_t>();

  // A sequential write pass over the first 3/4, one word per page.
  const std::size_t front = kPages * 3 / 4;
  for (std::size_t p = 0; p < front; ++p) w[p * kWordsPerPage] = 0xbeef0000u + static_cast<std::uint32_t>(p);

  // Idle resolvers map ahead of the front writable (the kernel sees them as written:
  // no write-protect left for the next write to hit). Wait for the queued items.
  std::size_t ahead = 0;
  for (int i = 0; i < 200 && ahead == 0; ++i) {
    ahead = writable_pages(w + front * kWordsPerPage, kBytes - front * kPage);
    if (ahead == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GT(ahead, 0u) << "a write scan's read-ahead maps writable";

  // Back to the device: exactly the written pages go up, not those only mapped ahead
  // (behind the scan, chunks retired meanwhile were compared when they left the window).
  const stats up0 = rt.statistics();
  rt.prefetch(w, kBytes, location::device, *f.s);
  f.s->synchronize();
  EXPECT_EQ(rt.statistics().bytes_to_device - up0.bytes_to_device, front * kPage) << "the dirty set is exact";

  // The device saw every write: add 1 there, read everything back on the CPU.
  kernels::add(rt.device_driver(), f.s->handle(), static_cast<std::uint32_t*>(f.buf->device_data()), kWords, 1);
  f.s->synchronize();
  EXPECT_EQ(scan_mismatches(w, kWords, front, 0xbeef0000u, 3, 1), 0u);
}

TYPED_TEST(write_ahead_test, pages_written_with_their_own_bytes_are_not_uploaded) {
  std::string why;
  fixture f = make_fixture<TypeParam>(why);
  if (!f.rt) GTEST_SKIP() << TypeParam::name << ": " << why;
  runtime& rt = *f.rt;
  auto* w = f.buf->template as<std::uint32_t>();

  // Every page written with the value it holds: the pages mapped ahead keep their
  // bytes, so the device copy stays valid. Only pages the faults themselves mapped
  // (the faulting page writable, the rest of its block write-protected and then
  // written) count as written.
  // How much of the scan is read ahead depends on how fast idle resolvers run beside
  // it (a sanitizer build under load: a fifth). The scan gives them a moment at each
  // block it finds unmapped, and the check below needs only some pages mapped ahead:
  // were those uploaded again, the upload would exceed its bound.
  const stats s0 = rt.statistics();
  constexpr std::size_t kBlockPages = 65536 / kPage;
  for (std::size_t p = 0; p < kPages; ++p) {
    const std::size_t i = p * kWordsPerPage;
    if (p % kBlockPages == 0) let_read_ahead_reach(w + i, std::chrono::milliseconds(5));
    w[i] = static_cast<std::uint32_t>(i + 2);
  }
  const stats s1 = rt.statistics();
  const std::uint64_t mapped_ahead = s1.pages_read_ahead - s0.pages_read_ahead;
  EXPECT_GT(mapped_ahead, 0u) << "the scan was read ahead";
  rt.prefetch(w, kBytes, location::device, *f.s);
  f.s->synchronize();
  EXPECT_LE(rt.statistics().bytes_to_device - s1.bytes_to_device, (kPages - mapped_ahead) * kPage)
      << "unchanged pages mapped ahead are uploaded again";
  EXPECT_EQ(index_mismatches(w, kWords, 2), 0u);
}

}  // namespace
}  // namespace umpager::testing
