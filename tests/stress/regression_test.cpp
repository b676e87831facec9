// Minimal repros of runtime bugs the stress found (docs/stress.md, "Known runtime
// bugs"). Disabled until the runtime is fixed: run them with
//   stress_test --gtest_also_run_disabled_tests --gtest_filter='stress_regression.*'
// The first two come from residency::take_chunk, which skips chunks whose lock is held
// (a resolver is copying them home) and then either evicts a chunk of the prefetch in
// progress or gives up; the sim's fault plan delays one device->host copy so that a
// resolver holds a chunk lock while the prefetch runs. The third is the fault path's
// read-ahead copying pages that a running kernel is writing.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include "sim/sim_driver.hpp"
#include "umpager/runtime.hpp"

namespace umpager::stress {
namespace {

using namespace std::chrono_literals;
constexpr std::size_t kChunk = std::size_t{2} << 20;

/// A runtime with a 2-chunk device budget whose next `slow` device->host copies each
/// take 300 ms (the resolver serving the fault holds its chunk's lock meanwhile).
struct slow_runtime {
  std::atomic<int> slow{0};
  std::unique_ptr<runtime> rt;
  explicit slow_runtime(unsigned resolvers) {
    config cfg;
    cfg.block_size = 64 * 1024;
    cfg.tracking = tracking_mode::automatic;
    cfg.device_memory = 2 * kChunk;
    cfg.resolvers = resolvers;
    sim::sim_config sc;
    sc.memory_bytes = std::size_t{1} << 30;
    sc.faults.delay_us = [this](copy_direction d) -> unsigned {
      if (d != copy_direction::device_to_host) return 0;
      int v = slow.load();
      while (v > 0 && !slow.compare_exchange_weak(v, v - 1)) {
      }
      return v > 0 ? 300000u : 0u;
    };
    rt = std::make_unique<runtime>(cfg, sim::make_driver(sc));
  }
};

// Was a bug: a prefetch to the device could evict a chunk of its own range when the
// least recently used chunk was locked by a resolver; the prefetch returned with part
// of its range off the device. Fixed: chunks a running prefetch made resident are
// pinned, and a locked victim is waited for.
TEST(stress_regression, prefetch_never_evicts_its_own_range) {
  slow_runtime s(1);
  buffer b = s.rt->allocate(3 * kChunk);
  auto* h = b.as<volatile std::uint32_t>();
  for (std::size_t i = 0; i < 3 * kChunk / 4; ++i) h[i] = static_cast<std::uint32_t>(i);
  s.rt->prefetch(b.data(), kChunk, location::device);  // chunk 0 resident
  s.slow = 1;
  std::thread reader([&] { (void)h[0]; });  // its resolver holds chunk 0's lock for 300 ms
  std::this_thread::sleep_for(50ms);
  const stats before = s.rt->statistics();
  s.rt->prefetch(b.as<char>() + kChunk, 2 * kChunk, location::device);  // chunks 1-2 = the budget
  const stats mid = s.rt->statistics();
  reader.join();
  // The only victim allowed is chunk 0, once its resolver let go of it.
  EXPECT_LE(mid.chunks_evicted - before.chunks_evicted, 1u) << "the prefetch evicted a chunk of its own range";
  // Nothing written since: prefetching the same range again must move nothing.
  s.rt->prefetch(b.as<char>() + kChunk, 2 * kChunk, location::device);
  const stats after = s.rt->statistics();
  EXPECT_EQ(after.bytes_to_device - mid.bytes_to_device, 0u) << "the range was not resident after its prefetch";
}

// Was a bug: a prefetch that fits the budget failed with out_of_memory when every
// resident chunk was locked by a resolver serving a CPU fault, a transient condition.
// Fixed: the prefetch waits for a chunk to become evictable.
TEST(stress_regression, prefetch_waits_for_chunks_locked_by_resolvers) {
  slow_runtime s(2);
  buffer b = s.rt->allocate(3 * kChunk);
  auto* h = b.as<volatile std::uint32_t>();
  for (std::size_t i = 0; i < 3 * kChunk / 4; ++i) h[i] = static_cast<std::uint32_t>(i);
  s.rt->prefetch(b.data(), kChunk, location::device);
  s.rt->prefetch(b.as<char>() + kChunk, kChunk, location::device);  // chunks 0 and 1: the whole budget
  s.slow = 2;
  std::thread r0([&] { (void)h[0]; });  // one resolver holds chunk 0's lock for 300 ms...
  std::this_thread::sleep_for(50ms);
  std::thread r1([&] { (void)h[kChunk / 4]; });  // ...so the other serves this one: chunk 1's lock
  std::this_thread::sleep_for(50ms);
  EXPECT_NO_THROW(s.rt->prefetch(b.as<char>() + 2 * kChunk, kChunk, location::device));
  r0.join();
  r1.join();
}

// The documented contract (docs/api.md): while a kernel writes an allocation, the CPU
// may touch it only with 4 KiB read-ahead blocks, since a larger block's read-ahead
// maps neighbouring pages from the device copy as it is at that moment. Here the CPU
// touches page 0 while a kernel works on pages 8-15: with 4 KiB blocks, page 8 is
// still faulted in fresh after the kernel. (With 64 KiB blocks it would be stale.)
TEST(stress_regression, four_k_blocks_allow_cpu_access_beside_a_running_kernel) {
  config cfg;
  cfg.block_size = 4096;
  cfg.resolvers = 1;
  sim::sim_config sc;
  sc.memory_bytes = std::size_t{1} << 30;
  runtime rt(cfg, sim::make_driver(sc));
  buffer b = rt.allocate(64 * 1024);
  auto* h = b.as<volatile std::uint32_t>();
  for (std::size_t i = 0; i < 64 * 1024 / 4; ++i) h[i] = 7;
  rt.prefetch(b.data(), 64 * 1024, location::device);
  auto s = rt.create_stream();
  auto* dev = static_cast<std::uint32_t*>(b.device_data());
  rt.launch(
      [dev] {
        std::this_thread::sleep_for(100ms);
        for (std::size_t i = 8 * 1024; i < 16 * 1024; ++i) dev[i] += 1;
      },
      s);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(h[0], 7u);  // a page the kernel does not use
  s.synchronize();
  EXPECT_EQ(h[8 * 1024], 8u) << "page 8 must be faulted in after the kernel wrote it";
}

}  // namespace
}  // namespace umpager::stress
