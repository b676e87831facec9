// What only the simulated device does: fault injection, the bandwidth model,
// kernels that touch device memory, and its own configuration and bookkeeping.
// The contract every driver shares is in driver_test.cpp.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "sim/sim_driver.hpp"
#include "umpager/error.hpp"

namespace {

using umpager::chunk_handle;
using umpager::copy_direction;
using umpager::copy_op;
using umpager::driver;
namespace sim = umpager::sim;

constexpr std::size_t mib = std::size_t{1} << 20;

sim::sim_config small_config() {
  sim::sim_config cfg;
  cfg.memory_bytes = 16 * mib;
  return cfg;
}

/// One reserved range with every chunk mapped; torn down in reverse.
struct mapped_range {
  mapped_range(driver& d, std::size_t n) : d(d), bytes(n * d.info().chunk_bytes), base(d.reserve(bytes)) {
    for (std::size_t i = 0; i < n; ++i) {
      chunks.push_back(d.create_chunk());
      d.map_chunk(at(i * d.info().chunk_bytes), chunks.back());
    }
  }
  ~mapped_range() {
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      d.unmap_chunk(at(i * d.info().chunk_bytes));
      d.destroy_chunk(chunks[i]);
    }
    d.release(base, bytes);
  }
  [[nodiscard]] std::byte* at(std::size_t off) const { return static_cast<std::byte*>(base) + off; }

  driver& d;
  std::size_t bytes;
  void* base;
  std::vector<chunk_handle> chunks;
};

TEST(sim_driver, info_reports_config) {
  auto cfg = small_config();
  cfg.memory_bytes = 5 * mib;  // rounded down to whole chunks
  cfg.local_cpus = "0-1";
  auto d = sim::make_driver(cfg);
  EXPECT_EQ(d->info().name, "sim");
  EXPECT_EQ(d->info().device_name, "simulated device");
  EXPECT_EQ(d->info().chunk_bytes, 2 * mib);
  EXPECT_EQ(d->info().memory_bytes, 4 * mib);
  EXPECT_EQ(d->info().local_cpus, "0-1");
  auto s = d->create_stream();
  EXPECT_EQ(d->native_stream(s), nullptr);
  d->destroy_stream(s);
}

TEST(sim_driver, bad_config_is_invalid_argument) {
  auto cfg = small_config();
  cfg.chunk_bytes = 3 * mib;
  EXPECT_THROW(sim::make_driver(cfg), umpager::invalid_argument);
  cfg = small_config();
  cfg.memory_bytes = mib;  // less than one chunk
  EXPECT_THROW(sim::make_driver(cfg), umpager::invalid_argument);
  cfg = small_config();
  cfg.bandwidth_gbps = -1;
  EXPECT_THROW(sim::make_driver(cfg), umpager::invalid_argument);
}

TEST(sim_driver, kernel_reads_and_writes_device_memory_in_stream_order) {
  auto d = sim::make_driver(small_config());
  mapped_range dev(*d, 1);
  std::vector<int> in(1024), out(1024);
  for (int i = 0; i < 1024; ++i) in[i] = i;
  auto s = d->create_stream();
  const copy_op up[] = {{dev.at(0), in.data(), in.size() * sizeof(int)}};
  d->copy_async(up, copy_direction::host_to_device, s);
  auto* p = reinterpret_cast<int*>(dev.at(0));
  d->launch(s, [p] {
    for (int i = 0; i < 1024; ++i) p[i] *= 2;
  });
  const copy_op down[] = {{out.data(), dev.at(0), out.size() * sizeof(int)}};
  d->copy_async(down, copy_direction::device_to_host, s);
  d->synchronize(s);
  for (int i = 0; i < 1024; ++i) ASSERT_EQ(out[i], 2 * i);
  d->destroy_stream(s);
}

TEST(sim_driver, idle_stream_copies_before_copy_async_returns) {
  auto d = sim::make_driver(small_config());
  mapped_range dev(*d, 1);
  std::vector<unsigned char> src(4096, 0x5a), dst(4096, 0);
  auto s = d->create_stream();
  const copy_op up[] = {{dev.at(0), src.data(), src.size()}};
  d->copy_async(up, copy_direction::host_to_device, s);
  EXPECT_EQ(std::memcmp(dev.at(0), src.data(), src.size()), 0) << "fast path: an idle engine copies at once";
  const copy_op down[] = {{dst.data(), dev.at(0), dst.size()}};
  d->copy_async(down, copy_direction::device_to_host, s);
  d->synchronize(s);
  EXPECT_EQ(dst, src);
  d->destroy_stream(s);
}

TEST(sim_driver, failed_copy_surfaces_at_synchronize_and_leaves_destination) {
  std::atomic<const void*> poisoned_dst{nullptr};
  auto cfg = small_config();
  cfg.faults.fail_copy = [&](copy_direction, const copy_op& op) { return op.dst == poisoned_dst.load(); };
  auto d = sim::make_driver(cfg);
  mapped_range dev(*d, 1);
  auto s = d->create_stream();
  std::vector<unsigned char> old_data(3 * 4096, 0xaa), new_data(3 * 4096, 0x55), back(3 * 4096, 0);
  const copy_op first[] = {{dev.at(0), old_data.data(), old_data.size()}};
  d->copy_async(first, copy_direction::host_to_device, s);
  d->synchronize(s);

  poisoned_dst = dev.at(4096);  // the middle op of the next batch fails
  const copy_op batch[] = {{dev.at(0), new_data.data(), 4096},
                           {dev.at(4096), new_data.data() + 4096, 4096},
                           {dev.at(8192), new_data.data() + 8192, 4096}};
  d->copy_async(batch, copy_direction::host_to_device, s);
  try {
    d->synchronize(s);
    ADD_FAILURE() << "synchronize did not report the failed copy";
  } catch (const umpager::driver_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("copy op 2 of 3"), std::string::npos) << what;
    EXPECT_NE(what.find("host_to_device"), std::string::npos) << what;
  }
  d->synchronize(s);  // the error was cleared

  poisoned_dst = nullptr;
  const copy_op down[] = {{back.data(), dev.at(0), back.size()}};
  d->copy_async(down, copy_direction::device_to_host, s);
  d->synchronize(s);
  EXPECT_EQ(back[0], 0x55);
  EXPECT_EQ(back[4096], 0xaa) << "the failed op wrote its destination";
  EXPECT_EQ(back[4096 + 4095], 0xaa);
  EXPECT_EQ(back[8192], 0x55);
  d->destroy_stream(s);
}

TEST(sim_driver, launched_exception_surfaces_at_synchronize) {
  auto d = sim::make_driver(small_config());
  auto s = d->create_stream();
  std::atomic<bool> later_ran{false};
  d->launch(s, [] { throw std::runtime_error("kernel boom"); });
  d->launch(s, [&] { later_ran = true; });
  try {
    d->synchronize(s);
    ADD_FAILURE() << "synchronize did not report the exception";
  } catch (const umpager::driver_error& e) {
    EXPECT_NE(std::string(e.what()).find("kernel boom"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(later_ran) << "later work on the stream still runs";
  EXPECT_NO_THROW(d->synchronize(s));
  d->launch(s, [] { throw 42; });
  EXPECT_THROW(d->synchronize(s), umpager::driver_error);
  d->destroy_stream(s);
}

TEST(sim_driver, bandwidth_model_is_a_lower_bound_on_copy_time) {
  auto cfg = small_config();
  cfg.bandwidth_gbps = 1.0;  // 4 MiB take >= 4.19 ms
  cfg.latency_us = 2000;
  auto d = sim::make_driver(cfg);
  mapped_range dev(*d, 2);
  std::vector<unsigned char> src(4 * mib, 1);
  auto s = d->create_stream();
  const copy_op up[] = {{dev.at(0), src.data(), src.size()}};
  const auto t0 = std::chrono::steady_clock::now();
  d->copy_async(up, copy_direction::host_to_device, s);
  d->synchronize(s);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took.count(), 2e-3 + 4.0 * mib / 1e9);
  EXPECT_EQ(*dev.at(4 * mib - 1), std::byte{1});
  d->destroy_stream(s);
}

TEST(sim_driver, fault_plan_delay_is_a_lower_bound_on_copy_time) {
  auto cfg = small_config();
  cfg.faults.delay_us = [](copy_direction dir) { return dir == copy_direction::device_to_host ? 20000u : 0u; };
  auto d = sim::make_driver(cfg);
  mapped_range dev(*d, 1);
  std::vector<unsigned char> buf(4096);
  auto s = d->create_stream();
  const copy_op down[] = {{buf.data(), dev.at(0), buf.size()}};
  const auto t0 = std::chrono::steady_clock::now();
  d->copy_async(down, copy_direction::device_to_host, s);
  d->synchronize(s);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(20));
  d->destroy_stream(s);
}

TEST(sim_driver, copy_to_unmapped_device_memory_is_invalid_argument) {
  auto d = sim::make_driver(small_config());
  const std::size_t chunk = d->info().chunk_bytes;
  void* va = d->reserve(2 * chunk);
  auto c = d->create_chunk();
  d->map_chunk(va, c);
  auto s = d->create_stream();
  std::vector<unsigned char> buf(8192);
  auto* base = static_cast<std::byte*>(va);
  const copy_op straddles[] = {{base + chunk - 4096, buf.data(), 8192}};
  EXPECT_THROW(d->copy_async(straddles, copy_direction::host_to_device, s), umpager::invalid_argument);
  const copy_op outside[] = {{buf.data(), buf.data() + 4096, 4096}};
  EXPECT_THROW(d->copy_async(outside, copy_direction::device_to_host, s), umpager::invalid_argument);
  const copy_op inside[] = {{base, buf.data(), 4096}};
  EXPECT_NO_THROW(d->copy_async(inside, copy_direction::host_to_device, s));
  d->synchronize(s);
  d->destroy_stream(s);
  d->unmap_chunk(va);
  d->destroy_chunk(c);
  d->release(va, 2 * chunk);
}

TEST(sim_driver, destroyed_mapped_chunk_lives_until_unmapped) {
  auto cfg = small_config();
  cfg.memory_bytes = 2 * mib;  // one chunk
  auto d = sim::make_driver(cfg);
  void* va = d->reserve(2 * mib);
  auto c = d->create_chunk();
  d->map_chunk(va, c);
  d->destroy_chunk(c);
  *static_cast<volatile char*>(va) = 1;  // still backed
  EXPECT_THROW((void)d->create_chunk(), umpager::out_of_memory);
  d->unmap_chunk(va);
  auto c2 = d->create_chunk();
  EXPECT_TRUE(c2.valid());
  EXPECT_NE(c2.id, c.id) << "a reused slot gets a fresh handle";
  d->destroy_chunk(c2);
  d->release(va, 2 * mib);
}

TEST(sim_driver, release_drops_mapped_chunks) {
  auto d = sim::make_driver(small_config());
  void* va = d->reserve(4 * mib);
  auto c = d->create_chunk();
  d->map_chunk(va, c);
  d->release(va, 4 * mib);
  void* va2 = d->reserve(2 * mib);
  EXPECT_NO_THROW(d->map_chunk(va2, c)) << "release unmapped the chunk";
  d->unmap_chunk(va2);
  d->destroy_chunk(c);
  d->release(va2, 2 * mib);
}

// A chunk is physical memory: its bytes stay with it when it is unmapped, when the
// range it was mapped in is released, and when it is mapped again elsewhere.
TEST(sim_driver, chunk_keeps_its_bytes_across_unmap_release_and_remap) {
  auto d = sim::make_driver(small_config());
  const std::size_t chunk = d->info().chunk_bytes;
  auto* a = static_cast<std::byte*>(d->reserve(2 * chunk));
  auto c = d->create_chunk();
  d->map_chunk(a + chunk, c);
  for (std::size_t i = 0; i < chunk; i += 4096) a[chunk + i] = static_cast<std::byte>(i / 4096 + 1);
  d->unmap_chunk(a + chunk);
  d->map_chunk(a, c);  // another address
  for (std::size_t i = 0; i < chunk; i += 4096) ASSERT_EQ(a[i], static_cast<std::byte>(i / 4096 + 1)) << i;
  a[0] = std::byte{0x5a};
  d->release(a, 2 * chunk);  // with the chunk still mapped in it
  auto* b = static_cast<std::byte*>(d->reserve(chunk));
  d->map_chunk(b, c);
  EXPECT_EQ(b[0], std::byte{0x5a});
  for (std::size_t i = 4096; i < chunk; i += 4096) ASSERT_EQ(b[i], static_cast<std::byte>(i / 4096 + 1)) << i;
  d->unmap_chunk(b);
  d->destroy_chunk(c);
  d->release(b, chunk);
}

TEST(sim_driver, register_host_rejects_overlap) {
  auto d = sim::make_driver(small_config());
  std::vector<std::byte> buf(3 * 4096);
  d->register_host(buf.data() + 4096, 4096);
  EXPECT_THROW(d->register_host(buf.data(), 4097), umpager::invalid_argument);
  EXPECT_THROW(d->register_host(buf.data() + 8191, 10), umpager::invalid_argument);
  EXPECT_THROW(d->register_host(nullptr, 10), umpager::invalid_argument);
  EXPECT_THROW(d->register_host(buf.data(), 0), umpager::invalid_argument);
  d->register_host(buf.data(), 4096);  // touching, not overlapping
  d->register_host(buf.data() + 8192, 4096);
  d->unregister_host(buf.data() + 100, 1);  // unknown: no-op
  d->unregister_host(buf.data() + 4096, 4096);
  d->register_host(buf.data() + 4096, 4096);
  for (int i = 0; i < 3; ++i) d->unregister_host(buf.data() + i * 4096, 4096);
}

// register_host reads each present page once (so the first copies pay no page-table
// fill), and must never allocate a hole: a storage region's unread page has to stay
// one, or its next touch would raise no MISSING fault.
TEST(sim_driver, register_host_keeps_holes_and_bytes) {
  auto d = sim::make_driver(small_config());
  const int fd = ::memfd_create("sim-register-test", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 4 * 4096), 0);
  auto* p = static_cast<char*>(::mmap(nullptr, 4 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  ASSERT_NE(p, MAP_FAILED);
  p[0] = 'a';
  p[2 * 4096] = 'c';
  struct stat before{};
  ASSERT_EQ(::fstat(fd, &before), 0);
  d->register_host(p, 4 * 4096);
  struct stat after{};
  ASSERT_EQ(::fstat(fd, &after), 0);
  EXPECT_EQ(after.st_blocks, before.st_blocks) << "register_host allocated a hole";
  EXPECT_EQ(p[0], 'a');
  EXPECT_EQ(p[2 * 4096], 'c');
  d->unregister_host(p, 4 * 4096);
  d->register_host(p + 100, 3 * 4096);  // unaligned: the pages it overlaps
  d->unregister_host(p + 100, 3 * 4096);
  ::munmap(p, 4 * 4096);
  ::close(fd);
}

TEST(sim_driver, destroy_stream_drains_its_queue) {
  auto d = sim::make_driver(small_config());
  auto s = d->create_stream();
  std::atomic<int> ran{0};
  for (int i = 0; i < 3; ++i)
    d->launch(s, [&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      ++ran;
    });
  d->destroy_stream(s);
  EXPECT_EQ(ran, 3);
}

TEST(sim_driver, maps_and_copies_race_free_across_threads) {
  auto d = sim::make_driver(small_config());
  const std::size_t chunk = d->info().chunk_bytes;
  constexpr int threads = 4;
  std::atomic<int> good{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      void* va = d->reserve(chunk);
      auto s = d->create_stream();
      auto e = d->create_event();
      std::vector<unsigned char> src(4096), dst(4096);
      bool ok = true;
      for (int round = 0; round < 50; ++round) {
        auto c = d->create_chunk();
        d->map_chunk(va, c);
        std::memset(src.data(), round + t, src.size());
        const copy_op up[] = {{va, src.data(), src.size()}};
        const copy_op down[] = {{dst.data(), va, dst.size()}};
        d->copy_async(up, copy_direction::host_to_device, s);
        d->launch(s, [] {});
        d->copy_async(down, copy_direction::device_to_host, s);
        d->record(e, s);
        d->synchronize(e);
        ok = ok && d->query(e) && dst == src;
        d->unmap_chunk(va);
        d->destroy_chunk(c);
      }
      d->destroy_event(e);
      d->destroy_stream(s);
      d->release(va, chunk);
      if (ok) ++good;
    });
  for (auto& th : pool) th.join();
  EXPECT_EQ(good, threads);
}

}  // namespace

namespace {

TEST(sim_driver_death, a_kernel_touching_a_chunk_not_resident_is_named_before_the_crash) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const std::string offset = std::to_string(sim::make_driver(small_config())->info().chunk_bytes + 12);
  EXPECT_DEATH(
      {
        auto d = sim::make_driver(small_config());
        const std::size_t chunk = d->info().chunk_bytes;
        mapped_range r(*d, 1);  // one chunk mapped, for contrast
        void* hole = d->reserve(2 * chunk);
        auto s = d->create_stream();
        auto* p = static_cast<volatile unsigned char*>(hole) + chunk + 12;
        d->launch(s, [p] { (void)*p; });
        d->synchronize(s);
      },
      "touched device address 0x[0-9a-f]+, offset " + offset +
          " of an allocation's device range .*no chunk is resident.*declare the range");
}

}  // namespace
