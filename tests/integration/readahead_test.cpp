// Sequential read-ahead (config::readahead_bytes): a CPU scan of device-resident
// data gets the next blocks mapped by idle resolvers, with the data exact; it is
// off for 4 KiB blocks and with readahead_bytes = 0; and a read-ahead queued before
// a prefetch to the device never maps that chunk afterwards (a kernel may be
// writing it), which would show the CPU stale data.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "runtime_fixture.hpp"

namespace umpager::testing {
namespace {

template <class Factory>
class readahead_test : public ::testing::Test {};
TYPED_TEST_SUITE(readahead_test, driver_factories, factory_names);

// 512 blocks of 64K, 16 of 2M: enough blocks that idle resolvers get ahead of the scan
// even on a loaded machine (with 4 blocks the CPU could fault on each one first).
constexpr std::size_t kBytes = std::size_t{32} << 20;
constexpr std::size_t kWords = kBytes / sizeof(std::uint32_t);

struct scan_case {
  std::size_t block;
  std::size_t readahead;
  bool expect_ahead;
};

TYPED_TEST(readahead_test, sequential_scan_is_exact_and_read_ahead_only_where_enabled) {
  const scan_case cases[] = {
      {65536, std::size_t{1} << 20, true},
      {std::size_t{2} << 20, std::size_t{16} << 20, true},
      {65536, 0, false},      // off
      {4096, std::size_t{16} << 20, false},  // 4 KiB blocks: never (docs/api.md)
  };
  for (const scan_case& c : cases) {
    SCOPED_TRACE("block " + std::to_string(c.block) + " readahead " + std::to_string(c.readahead));
    config cfg = make_config(c.block, tracking_mode::automatic);
    cfg.readahead_bytes = c.readahead;
    std::string why;
    auto rt = make_runtime<TypeParam>(cfg, &why);
    if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
    auto s = rt->create_stream();
    buffer buf = rt->allocate(kBytes);
    auto* w = buf.as<std::uint32_t>();
    for (std::size_t i = 0; i < kWords; ++i) w[i] = static_cast<std::uint32_t>(i);
    rt->prefetch(w, kBytes, location::device, s);
    kernels::add(rt->device_driver(), s.handle(), static_cast<std::uint32_t*>(buf.device_data()), kWords, 3);
    s.synchronize();

    const stats before = rt->statistics();
    // Every word of every page, in order: slow enough that idle resolvers get ahead.
    EXPECT_EQ(index_mismatches(w, kWords, 3), 0u);
    const stats after = rt->statistics();
    const std::uint64_t ahead = after.pages_read_ahead - before.pages_read_ahead;
    EXPECT_EQ(after.bytes_to_host - before.bytes_to_host, kBytes) << "every page came back exactly once";
    if (c.expect_ahead) {
      EXPECT_GT(ahead, 0u) << "two resolvers, a sequential scan: some blocks were mapped ahead";
      EXPECT_LT(after.read_faults - before.read_faults, kBytes / c.block) << "read-ahead saved faults";
    } else {
      EXPECT_EQ(ahead, 0u);
    }
    // The pages mapped ahead are write-protected copies: a write is still tracked.
    w[kWords - 1] = 7;
    rt->prefetch(w, kBytes, location::device, s);
    rt->prefetch(w, kBytes, location::host, s);
    EXPECT_EQ(w[kWords - 1], 7u);
    EXPECT_EQ(w[kWords - 2], static_cast<std::uint32_t>(kWords - 2 + 3));
  }
}

/// Blocks one device-to-host copy (of the page at `addr`) until released.
struct copy_gate {
  std::mutex m;
  std::condition_variable cv;
  std::atomic<std::uintptr_t> addr{0};
  bool entered = false, released = false;
};

TEST(readahead, queued_read_ahead_never_maps_a_chunk_zapped_after_its_fault) {
  // 1 MiB blocks, 2 MiB chunks: blocks 0-1 are chunk 0, blocks 2-3 chunk 1. A scan
  // of blocks 0 and 1 queues read-ahead of chunk 1. The one resolver is held inside
  // block 1's copy while chunk 1 is prefetched to the device (zap) and a kernel that
  // first sleeps is launched; then the resolver goes on and takes the read-ahead
  // item during the sleep. Mapping chunk 1 then would give the CPU the values from
  // before the kernel.
  constexpr std::size_t kBlock = std::size_t{1} << 20, kSize = std::size_t{4} << 20, kN = kSize / 4;
  auto gate = std::make_shared<copy_gate>();
  sim::sim_config sc;
  sc.memory_bytes = std::size_t{64} << 20;
  sc.faults.fail_copy = [gate](copy_direction dir, const copy_op& op) {
    const auto src = reinterpret_cast<std::uintptr_t>(op.src);
    const std::uintptr_t a = gate->addr;
    if (dir == copy_direction::device_to_host && a != 0 && a >= src && a < src + op.bytes) {
      std::unique_lock l(gate->m);
      gate->entered = true;
      gate->cv.notify_all();
      gate->cv.wait(l, [&] { return gate->released; });
    }
    return false;
  };
  config cfg = make_config(kBlock, tracking_mode::automatic);
  cfg.resolvers = 1;
  cfg.readahead_bytes = std::size_t{16} << 20;
  runtime rt(cfg, sim::make_driver(sc));
  auto s = rt.create_stream();
  buffer buf = rt.allocate(kSize);
  auto* w = buf.as<std::uint32_t>();
  auto* dev = static_cast<std::uint32_t*>(buf.device_data());
  for (std::size_t i = 0; i < kN; ++i) w[i] = static_cast<std::uint32_t>(i);
  rt.prefetch(w, kSize, location::device, s);

  gate->addr = reinterpret_cast<std::uintptr_t>(dev) + kBlock;  // block 1's copy waits
  std::thread scanner([&] {
    volatile std::uint32_t sink = w[0];        // block 0: not yet sequential
    sink = w[kBlock / 4];                      // block 1: sequential, queues chunk 1
    (void)sink;
  });
  {
    std::unique_lock l(gate->m);
    ASSERT_TRUE(gate->cv.wait_for(l, std::chrono::seconds(30), [&] { return gate->entered; }));
  }
  const std::size_t half = kSize / 2;
  rt.prefetch(buf.as<char>() + half, half, location::device, s);  // zaps chunk 1
  rt.launch([] { std::this_thread::sleep_for(std::chrono::milliseconds(300)); }, s);
  kernels::add(rt.device_driver(), s.handle(), dev + kN / 2, kN / 2, 5);
  {
    std::lock_guard l(gate->m);
    gate->released = true;
    gate->addr = 0;
  }
  gate->cv.notify_all();
  scanner.join();
  s.synchronize();
  std::size_t stale = 0;
  for (std::size_t i = kN / 2; i < kN; ++i) stale += w[i] != static_cast<std::uint32_t>(i + 5);
  EXPECT_EQ(stale, 0u) << "the CPU sees the kernel's writes, not a read-ahead copy from before them";
  EXPECT_EQ(w[1], 1u);
}

}  // namespace
}  // namespace umpager::testing
