// Several CPU threads faulting the same and different pages at once.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "runtime_fixture.hpp"

namespace umpager::testing {
namespace {

template <class Factory>
class concurrency_test : public ::testing::Test {};
TYPED_TEST_SUITE(concurrency_test, driver_factories, factory_names);

constexpr std::size_t kBytes = std::size_t{8} << 20;
constexpr std::size_t kPages = kBytes / kPage;

TYPED_TEST(concurrency_test, threads_fault_same_and_different_pages) {
  for (tracking_mode t : {tracking_mode::wp_async, tracking_mode::sync}) {
    for (std::size_t block : {std::size_t{4096}, std::size_t{65536}}) {
      SCOPED_TRACE(describe({block, t}));
      std::string why;
      auto rt = make_runtime<TypeParam>(make_config(block, t), &why);
      if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
      buffer buf = rt->allocate(kBytes);
      auto* w = buf.as<std::uint32_t>();
      for (std::size_t i = 0; i < kBytes / 4; ++i) w[i] = static_cast<std::uint32_t>(i);
      auto s = rt->create_stream();
      for (int round = 0; round < 3; ++round) {
        rt->prefetch(w, kBytes, location::device, s);
        kernels::add(rt->device_driver(), s.handle(), static_cast<std::uint32_t*>(buf.device_data()), kBytes / 4, 1);
        s.synchronize();
        // 4 readers walk every page in different orders; 2 writers own disjoint pages.
        std::atomic<std::size_t> bad{0};
        std::vector<std::thread> threads;
        for (int r = 0; r < 4; ++r) {
          threads.emplace_back([&, r] {
            for (std::size_t k = 0; k < kPages; ++k) {
              const std::size_t p = (k * (2 * r + 1) + 977 * r) % kPages;
              const std::size_t i = p * kWordsPerPage + 1;
              // Pages of writer 0 may hold the writer's value already.
              const std::uint32_t v = std::atomic_ref<std::uint32_t>(w[i]).load(std::memory_order_relaxed);
              const std::uint32_t expect = static_cast<std::uint32_t>(i + round + 1);
              if (v != expect && !(p % 8 == 0 && v == 0xF00D0000u + round)) bad.fetch_add(1);
            }
          });
        }
        for (int wr = 0; wr < 2; ++wr) {
          threads.emplace_back([&, wr] {
            for (std::size_t p = wr * 4; p < kPages; p += 8) {
              if (wr == 0) {
                std::atomic_ref<std::uint32_t>(w[p * kWordsPerPage + 1]).store(0xF00D0000u + round, std::memory_order_relaxed);
              }
              else w[p * kWordsPerPage + 2] += 0;  // a write fault on a page nobody changes
            }
          });
        }
        for (auto& th : threads) th.join();
        ASSERT_EQ(bad.load(), 0u) << "round " << round;
        // Restore writer 0's pages for the next round's expectation, through the CPU.
        for (std::size_t p = 0; p < kPages; p += 8) w[p * kWordsPerPage + 1] = static_cast<std::uint32_t>(p * kWordsPerPage + 1 + round + 1);
      }
      EXPECT_EQ(index_mismatches(w, kBytes / 4, 3), 0u);
    }
  }
}

TYPED_TEST(concurrency_test, eviction_keeps_every_byte) {
  std::string why;
  // 4 chunks of device memory for 16 MiB of data: prefetches must evict.
  auto rt = make_runtime<TypeParam>(make_config(65536, tracking_mode::automatic, std::size_t{8} << 20), &why);
  if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
  constexpr std::size_t bytes = std::size_t{16} << 20;
  buffer buf = rt->allocate(bytes);
  auto* w = buf.as<std::uint32_t>();
  for (std::size_t i = 0; i < bytes / 4; ++i) w[i] = static_cast<std::uint32_t>(i);
  auto s = rt->create_stream();
  constexpr std::size_t piece = std::size_t{4} << 20;
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t off = 0; off < bytes; off += piece) {
      rt->prefetch(buf.as<char>() + off, piece, location::device, s);
      kernels::add(rt->device_driver(), s.handle(), static_cast<std::uint32_t*>(buf.device_data()) + off / 4, piece / 4, 1);
      s.synchronize();
      EXPECT_LE(rt->statistics().device_bytes_in_use, std::size_t{8} << 20) << "device budget";
    }
  }
  EXPECT_GT(rt->statistics().chunks_evicted, 0u);
  EXPECT_EQ(index_mismatches(w, bytes / 4, 2), 0u);
  // A prefetch larger than the device is a clear error.
  EXPECT_THROW(rt->prefetch(w, bytes, location::device, s), out_of_memory);
}

}  // namespace
}  // namespace umpager::testing
