// Sequential read-ahead (config::readahead_bytes): a CPU scan of device-resident
// data gets the next blocks mapped by idle resolvers, with the data exact; it is
// off for 4 KiB blocks and with readahead_bytes = 0; and a read-ahead queued before
// a prefetch to the device never maps that chunk afterwards (a kernel may be
// writing it), which would show the CPU stale data; for adaptive allocations too.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "copy_gate.hpp"
#include "page_flags.hpp"
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
    // Every word of every page, in order. How far idle resolvers get ahead of it depends
    // on the machine's load: the scan gives them a moment at each block it would fault on.
    std::size_t bad = 0;
    const std::size_t block_words = c.block / 4;
    for (std::size_t b = 0; b < kWords; b += block_words) {
      if (c.expect_ahead) let_read_ahead_reach(w + b, std::chrono::milliseconds(20));
      for (std::size_t i = b; i < b + block_words; ++i) bad += w[i] != static_cast<std::uint32_t>(i + 3);
    }
    EXPECT_EQ(bad, 0u);
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

/// A 4 MiB allocation of block `block` (0: adaptive), two 2 MiB chunks, one resolver.
/// `scan` reads pages of chunk 0 sequentially, which queues read-ahead of chunk 1; the
/// resolver is held inside the device-to-host copy of byte `gate_at` while chunk 1 is
/// prefetched to the device (zap) and a kernel that first sleeps is launched; then the
/// resolver goes on and takes what was queued during the sleep. Mapping chunk 1 then
/// would give the CPU the values from before the kernel (the zap-clock rule).
void zap_while_reading_ahead(std::size_t block, std::size_t gate_at,
                             const std::function<void(const std::uint32_t*)>& scan) {
  constexpr std::size_t kSize = std::size_t{4} << 20, kN = kSize / 4;
  auto gate = std::make_shared<copy_gate>();
  const sim::sim_config sc = gated_sim(gate, std::size_t{64} << 20);
  config cfg = make_config(block, tracking_mode::automatic);
  cfg.resolvers = 1;
  cfg.readahead_bytes = std::size_t{16} << 20;
  runtime rt(cfg, sim::make_driver(sc));
  auto s = rt.create_stream();
  buffer buf = rt.allocate(kSize);
  auto* w = buf.as<std::uint32_t>();
  auto* dev = static_cast<std::uint32_t*>(buf.device_data());
  for (std::size_t i = 0; i < kN; ++i) w[i] = static_cast<std::uint32_t>(i);
  rt.prefetch(w, kSize, location::device, s);

  gate->addr = reinterpret_cast<std::uintptr_t>(dev) + gate_at;
  std::thread scanner([&] { scan(w); });
  ASSERT_TRUE(gate->wait_entered(std::chrono::seconds(30)));
  const std::size_t half = kSize / 2;
  rt.prefetch(buf.as<char>() + half, half, location::device, s);  // zaps chunk 1
  // Straight to the driver: runtime::launch would declare the stream's prefetches and
  // wait for chunk 0's lock, which the gated resolver holds until this thread lets it go.
  rt.device_driver().launch(s.handle(), [] { std::this_thread::sleep_for(std::chrono::milliseconds(300)); });
  kernels::add(rt.device_driver(), s.handle(), dev + kN / 2, kN / 2, 5);
  gate->release();
  scanner.join();
  s.synchronize();
  std::size_t stale = 0;
  for (std::size_t i = kN / 2; i < kN; ++i) stale += w[i] != static_cast<std::uint32_t>(i + 5);
  EXPECT_EQ(stale, 0u) << "the CPU sees the kernel's writes, not a read-ahead copy from before them";
  EXPECT_EQ(index_mismatches(w, kN / 2, 0), 0u);
}

TEST(readahead, queued_read_ahead_never_maps_a_chunk_zapped_after_its_fault) {
  // 1 MiB blocks: blocks 0-1 are chunk 0. The fault on block 1 is sequential and queues
  // chunk 1; the resolver is held in block 1's copy.
  constexpr std::size_t kBlock = std::size_t{1} << 20;
  zap_while_reading_ahead(kBlock, kBlock, [](const std::uint32_t* w) {
    volatile std::uint32_t sink = w[0];  // block 0: not yet sequential
    sink = w[kBlock / 4];                // block 1: sequential, queues chunk 1
    (void)sink;
  });
}

TEST(readahead, adaptive_map_ahead_never_maps_a_chunk_zapped_after_its_fault) {
  // Adaptive (issue 10): a sequential scan of chunk 0 grows its faults and queues
  // read-ahead towards chunk 1; the resolver is held in a copy late in chunk 0 (a grown
  // fault's or a read-ahead's). Fails without the zap check in region::read_ahead.
  zap_while_reading_ahead(0, 384 * kPage, [](const std::uint32_t* w) {
    volatile std::uint32_t sink = 0;
    for (std::size_t p = 0; p < 512; ++p) sink = w[p * kWordsPerPage];
    (void)sink;
  });
}

TEST(readahead, a_fault_served_meanwhile_by_another_resolver_copies_nothing_more) {
  // Resolver 1 is held in the copy of block 0 (page 0's fault); page 1's fault is read
  // by resolver 2, which waits for the chunk's lock. Resolver 1 maps the block and wakes
  // both threads: resolver 2 then finds its page mapped and only wakes (counted stale),
  // copying nothing. Without that check it served the message as a new fault.
  constexpr std::size_t kSize = std::size_t{4} << 20, kN = kSize / 4, kBlock = 65536;
  auto gate = std::make_shared<copy_gate>();
  config cfg = make_config(kBlock, tracking_mode::automatic);
  cfg.resolvers = 2;
  cfg.readahead_bytes = 0;
  runtime rt(cfg, sim::make_driver(gated_sim(gate, std::size_t{64} << 20)));
  auto s = rt.create_stream();
  buffer buf = rt.allocate(kSize);
  auto* w = buf.as<std::uint32_t>();
  for (std::size_t i = 0; i < kN; ++i) w[i] = static_cast<std::uint32_t>(i);
  rt.prefetch(w, kSize, location::device, s);
  s.synchronize();
  const stats before = rt.statistics();
  gate->addr = reinterpret_cast<std::uintptr_t>(buf.device_data());
  std::atomic<std::uint32_t> first{0}, second{0};
  std::thread t1([&] { first = w[0]; });
  ASSERT_TRUE(gate->wait_entered(std::chrono::seconds(30)));
  std::thread t2([&] { second = w[kWordsPerPage + 1]; });
  // Page 1's message is read (counted as a message) before its resolver waits for the lock.
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (rt.statistics().fault_messages - before.fault_messages < 2 && std::chrono::steady_clock::now() < limit) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  gate->release();
  t1.join();
  t2.join();
  // Resolver 1's CONTINUE woke both threads: resolver 2 may still be on its message.
  const auto settle = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (rt.statistics().stale_faults == before.stale_faults && std::chrono::steady_clock::now() < settle) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const stats after = rt.statistics();
  EXPECT_EQ(first.load(), 0u);
  EXPECT_EQ(second.load(), static_cast<std::uint32_t>(kWordsPerPage + 1));
  ASSERT_EQ(after.fault_messages - before.fault_messages, 2u) << "both faults were read";
  EXPECT_EQ(after.read_faults - before.read_faults, 1u) << "one fault served, the other only woken";
  EXPECT_EQ(after.bytes_to_host - before.bytes_to_host, kBlock) << "block 0 came home once";
  EXPECT_EQ(after.stale_faults - before.stale_faults, 1u) << "page 1's fault found its page mapped";
  EXPECT_EQ(index_mismatches(w, kN, 0), 0u);
}

}  // namespace
}  // namespace umpager::testing
