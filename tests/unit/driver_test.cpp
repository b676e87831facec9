// The driver contract, run against every driver in driver_factories (the
// simulated device always, CUDA when built and a GPU is present).
//
// Launched functions here touch only host memory: on CUDA they are host
// functions and cannot dereference device pointers. Device-side kernels are
// covered by the sim-only suite.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "driver_factories.hpp"  // tests/: umpager_add_test only adds tests/unit to the include path
#include "os/mapping.hpp"
#include "os/memfd.hpp"
#include "umpager/error.hpp"

namespace {

using umpager::chunk_handle;
using umpager::copy_direction;
using umpager::copy_op;
using umpager::driver;

/// Page-aligned, registered host memory, like the runtime's alias view.
class host_buffer {
 public:
  host_buffer(driver& d, std::size_t bytes)
      : d_(d),
        fd_(umpager::os::make_memfd("driver_test", bytes)),
        map_(umpager::os::mapping::map_shared(fd_.get(), bytes, nullptr, true)) {
    d_.register_host(map_.data(), bytes);
  }
  ~host_buffer() { d_.unregister_host(map_.data(), map_.size()); }
  host_buffer(const host_buffer&) = delete;
  host_buffer& operator=(const host_buffer&) = delete;

  [[nodiscard]] std::byte* data() const { return map_.data(); }
  [[nodiscard]] std::size_t size() const { return map_.size(); }
  void fill_pattern(unsigned seed) const {
    for (std::size_t i = 0; i < size(); ++i) data()[i] = std::byte(static_cast<unsigned char>(i * 131 + seed));
  }
  [[nodiscard]] bool has_pattern(unsigned seed) const {
    for (std::size_t i = 0; i < size(); ++i)
      if (data()[i] != std::byte(static_cast<unsigned char>(i * 131 + seed))) return false;
    return true;
  }

 private:
  driver& d_;
  umpager::os::unique_fd fd_;
  umpager::os::mapping map_;
};

/// A reserved device range with `n` chunks mapped in; torn down in reverse.
class device_range {
 public:
  device_range(driver& d, std::size_t n) : d_(d), bytes_(n * d.info().chunk_bytes), base_(d.reserve(bytes_)) {
    for (std::size_t i = 0; i < n; ++i) {
      chunks_.push_back(d_.create_chunk());
      d_.map_chunk(at(i * d_.info().chunk_bytes), chunks_.back());
    }
  }
  ~device_range() {
    for (std::size_t i = 0; i < chunks_.size(); ++i) {
      d_.unmap_chunk(at(i * d_.info().chunk_bytes));
      d_.destroy_chunk(chunks_[i]);
    }
    d_.release(base_, bytes_);
  }
  device_range(const device_range&) = delete;
  device_range& operator=(const device_range&) = delete;

  [[nodiscard]] std::byte* at(std::size_t off) const { return static_cast<std::byte*>(base_) + off; }
  [[nodiscard]] std::size_t size() const { return bytes_; }

 private:
  driver& d_;
  std::size_t bytes_;
  void* base_;
  std::vector<chunk_handle> chunks_;
};

template <class Factory>
class driver_test : public ::testing::Test {};
TYPED_TEST_SUITE(driver_test, umpager::testing::driver_factories, umpager::testing::factory_names);

TYPED_TEST(driver_test, info_is_consistent) {
  UMPAGER_MAKE_DRIVER_OR_SKIP(d);
  const auto& info = d->info();
  EXPECT_FALSE(info.name.empty());
  EXPECT_FALSE(info.device_name.empty());
  ASSERT_GT(info.chunk_bytes, 0u);
  EXPECT_EQ(info.chunk_bytes & (info.chunk_bytes - 1), 0u) << "chunk_bytes is a power of two";
  ASSERT_GE(info.memory_bytes, info.chunk_bytes);
  EXPECT_EQ(info.memory_bytes % info.chunk_bytes, 0u);
}

TYPED_TEST(driver_test, round_trip_through_device_memory) {
  UMPAGER_MAKE_DRIVER_OR_SKIP(d);
  const std::size_t chunk = d->info().chunk_bytes;
  device_range dev(*d, 2);
  host_buffer src(*d, 2 * chunk);
  host_buffer dst(*d, 2 * chunk);
  src.fill_pattern(7);
  auto s = d->create_stream();
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(dev.at(0)) % chunk, 0u) << "reserve is chunk-aligned";

  // Uneven pieces, one of them straddling the two chunks.
  const std::size_t cut1 = 4096 + 17, cut2 = chunk + 4096;
  const copy_op up[] = {{dev.at(0), src.data(), cut1},
                        {dev.at(cut1), src.data() + cut1, cut2 - cut1},
                        {dev.at(cut2), src.data() + cut2, 2 * chunk - cut2}};
  d->copy_async(up, copy_direction::host_to_device, s);
  const copy_op down[] = {{dst.data(), dev.at(0), 2 * chunk}};
  d->copy_async(down, copy_direction::device_to_host, s);
  d->synchronize(s);
  EXPECT_TRUE(dst.has_pattern(7));

  // Device to device: the first page into the second chunk, then read it back.
  const copy_op d2d[] = {{dev.at(chunk), dev.at(0), 4096}};
  d->copy_async(d2d, copy_direction::device_to_device, s);
  const copy_op back[] = {{dst.data(), dev.at(chunk), 4096}};
  d->copy_async(back, copy_direction::device_to_host, s);
  d->synchronize(s);
  EXPECT_EQ(std::memcmp(dst.data(), src.data(), 4096), 0);
  d->destroy_stream(s);
}

TYPED_TEST(driver_test, launch_is_ordered_between_copies) {
  UMPAGER_MAKE_DRIVER_OR_SKIP(d);
  const std::size_t bytes = 64 * 1024;
  device_range dev(*d, 1);
  host_buffer a(*d, bytes), b(*d, bytes), c(*d, bytes), out(*d, bytes);
  a.fill_pattern(1);
  auto s = d->create_stream();
  std::atomic<bool> saw_copy{false};

  const copy_op up[] = {{dev.at(0), a.data(), bytes}};
  const copy_op down_b[] = {{b.data(), dev.at(0), bytes}};
  d->copy_async(up, copy_direction::host_to_device, s);
  d->copy_async(down_b, copy_direction::device_to_host, s);
  // The function sees the copies before it and its writes are seen by the copies after it.
  d->launch(s, [&] {
    saw_copy = b.has_pattern(1);
    c.fill_pattern(2);
  });
  const copy_op up_c[] = {{dev.at(0), c.data(), bytes}};
  const copy_op down_out[] = {{out.data(), dev.at(0), bytes}};
  d->copy_async(up_c, copy_direction::host_to_device, s);
  d->copy_async(down_out, copy_direction::device_to_host, s);
  d->synchronize(s);
  EXPECT_TRUE(saw_copy);
  EXPECT_TRUE(out.has_pattern(2));
  d->destroy_stream(s);
}

TYPED_TEST(driver_test, event_orders_work_across_streams) {
  UMPAGER_MAKE_DRIVER_OR_SKIP(d);
  auto s1 = d->create_stream();
  auto s2 = d->create_stream();
  auto e = d->create_event();
  std::promise<void> gate;
  auto opened = gate.get_future().share();
  std::atomic<bool> first_done{false};
  std::atomic<bool> second_saw_first{false};

  d->launch(s1, [&] {
    opened.wait();  // holds s1 until the test has checked the event is pending
    first_done = true;
  });
  d->record(e, s1);
  d->wait(s2, e);
  d->launch(s2, [&] { second_saw_first = first_done.load(); });
  EXPECT_FALSE(d->query(e)) << "s1 cannot have reached the record yet";

  gate.set_value();
  d->synchronize(e);
  EXPECT_TRUE(d->query(e));
  EXPECT_TRUE(first_done);
  d->synchronize(s2);
  EXPECT_TRUE(second_saw_first);

  // Recording again re-arms the event.
  std::promise<void> gate2;
  auto opened2 = gate2.get_future().share();
  d->launch(s1, [opened2] { opened2.wait(); });
  d->record(e, s1);
  EXPECT_FALSE(d->query(e));
  gate2.set_value();
  d->synchronize(e);
  EXPECT_TRUE(d->query(e));

  d->destroy_event(e);
  d->destroy_stream(s1);
  d->destroy_stream(s2);
}

TYPED_TEST(driver_test, event_never_recorded_is_complete) {
  UMPAGER_MAKE_DRIVER_OR_SKIP(d);
  auto s = d->create_stream();
  auto e = d->create_event();
  EXPECT_TRUE(d->query(e));
  d->synchronize(e);
  d->wait(s, e);
  std::atomic<bool> ran{false};
  d->launch(s, [&] { ran = true; });
  d->synchronize(s);
  EXPECT_TRUE(ran);
  d->destroy_event(e);
  d->destroy_stream(s);
}

TYPED_TEST(driver_test, out_of_memory_then_chunk_reuse) {
  UMPAGER_MAKE_DRIVER_OR_SKIP(d, std::size_t{8} << 20);
  const std::size_t count = d->info().memory_bytes / d->info().chunk_bytes;
  ASSERT_GE(count, 1u);
  std::vector<chunk_handle> chunks;
  for (std::size_t i = 0; i < count; ++i) chunks.push_back(d->create_chunk());
  EXPECT_THROW((void)d->create_chunk(), umpager::out_of_memory);
  d->destroy_chunk(chunks.back());
  chunks.back() = d->create_chunk();
  EXPECT_TRUE(chunks.back().valid());
  EXPECT_THROW((void)d->create_chunk(), umpager::out_of_memory);
  for (auto c : chunks) d->destroy_chunk(c);
}

TYPED_TEST(driver_test, invalid_arguments_throw) {
  UMPAGER_MAKE_DRIVER_OR_SKIP(d);
  using umpager::invalid_argument;
  const std::size_t chunk = d->info().chunk_bytes;
  EXPECT_THROW((void)d->reserve(0), invalid_argument);
  EXPECT_THROW((void)d->reserve(chunk / 2), invalid_argument);

  void* va = d->reserve(2 * chunk);
  auto* base = static_cast<std::byte*>(va);
  auto c = d->create_chunk();
  EXPECT_THROW(d->map_chunk(base + 4096, c), invalid_argument) << "misaligned va";
  EXPECT_THROW(d->map_chunk(nullptr, c), invalid_argument);
  EXPECT_THROW(d->map_chunk(va, chunk_handle{}), invalid_argument) << "null chunk";
  EXPECT_THROW(d->map_chunk(va, chunk_handle{0x123456789}), invalid_argument) << "chunk never created";
  d->map_chunk(va, c);
  auto c2 = d->create_chunk();
  EXPECT_THROW(d->map_chunk(va, c2), invalid_argument) << "va already mapped";
  d->destroy_chunk(c2);
  EXPECT_THROW(d->map_chunk(base + chunk, c), invalid_argument) << "chunk already mapped elsewhere";
  d->unmap_chunk(va);
  d->destroy_chunk(c);
  EXPECT_THROW(d->map_chunk(va, c), invalid_argument) << "destroyed chunk";
  d->release(va, 2 * chunk);

  const umpager::stream_handle null_stream{};
  const umpager::event_handle null_event{};
  std::byte host[16]{};
  const copy_op op[] = {{host, host + 8, 8}};
  EXPECT_THROW(d->copy_async(op, copy_direction::device_to_host, null_stream), invalid_argument);
  EXPECT_THROW(d->launch(null_stream, [] {}), invalid_argument);
  EXPECT_THROW(d->synchronize(null_stream), invalid_argument);
  auto e = d->create_event();
  EXPECT_THROW(d->record(e, null_stream), invalid_argument);
  EXPECT_THROW(d->wait(null_stream, e), invalid_argument);
  auto s = d->create_stream();
  EXPECT_THROW(d->record(null_event, s), invalid_argument);
  EXPECT_THROW(d->wait(s, null_event), invalid_argument);
  EXPECT_THROW(d->synchronize(null_event), invalid_argument);
  EXPECT_THROW((void)d->query(null_event), invalid_argument);
  d->destroy_stream(s);
  EXPECT_THROW(d->synchronize(s), invalid_argument) << "destroyed stream";
  d->destroy_event(e);
  EXPECT_THROW((void)d->query(e), invalid_argument) << "destroyed event";
  // Teardown calls tolerate what they do not know.
  d->destroy_stream(null_stream);
  d->destroy_event(null_event);
  d->destroy_chunk(chunk_handle{});
  d->unmap_chunk(nullptr);
  d->release(nullptr, chunk);
}

TYPED_TEST(driver_test, concurrent_streams_copy_independently) {
  UMPAGER_MAKE_DRIVER_OR_SKIP(d);
  const std::size_t chunk = d->info().chunk_bytes;
  constexpr int threads = 4;
  const std::size_t slice = chunk / threads;
  device_range dev(*d, 1);
  std::vector<std::thread> pool;
  std::atomic<int> good{0};
  auto shared = d->create_stream();  // half the threads share one stream
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      auto own = d->create_stream();
      auto s = t % 2 == 0 ? own : shared;
      host_buffer src(*d, slice), dst(*d, slice);
      bool ok = true;
      for (unsigned round = 0; round < 20; ++round) {
        src.fill_pattern(round * 16 + t);
        const copy_op up[] = {{dev.at(t * slice), src.data(), slice}};
        const copy_op down[] = {{dst.data(), dev.at(t * slice), slice}};
        d->copy_async(up, copy_direction::host_to_device, s);
        d->copy_async(down, copy_direction::device_to_host, s);
        d->synchronize(s);
        ok = ok && dst.has_pattern(round * 16 + t);
      }
      d->destroy_stream(own);
      if (ok) ++good;
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(good, threads);
  d->destroy_stream(shared);
}

template <class Factory>
class driver_death_test : public ::testing::Test {};
TYPED_TEST_SUITE(driver_death_test, umpager::testing::driver_factories, umpager::testing::factory_names);

/// Under a sanitizer the child would report the SIGSEGV and exit instead of dying
/// of it; the threadsafe style re-executes the binary, so the child sees this.
void let_sigsegv_kill_children() {
  for (const char* var : {"ASAN_OPTIONS", "TSAN_OPTIONS", "UBSAN_OPTIONS"}) {
    const char* old = std::getenv(var);
    std::string value = old != nullptr && *old != '\0' ? std::string(old) + ":handle_segv=0" : "handle_segv=0";
    ::setenv(var, value.c_str(), 1);
  }
}

TYPED_TEST(driver_death_test, access_to_unmapped_chunk_is_sigsegv) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  let_sigsegv_kill_children();  // before any driver thread exists: setenv is not thread-safe
  UMPAGER_MAKE_DRIVER_OR_SKIP(d);
  const std::size_t chunk = d->info().chunk_bytes;
  void* va = d->reserve(2 * chunk);
  auto c = d->create_chunk();
  d->map_chunk(va, c);
  d->unmap_chunk(va);  // was mapped, now an illegal address again
  auto s = d->create_stream();
  auto touch = [&](void* p) {
    d->launch(s, [p] { *static_cast<volatile unsigned char*>(p) = 1; });
    d->synchronize(s);
  };
  EXPECT_EXIT(touch(va), ::testing::KilledBySignal(SIGSEGV), "");
  EXPECT_EXIT(touch(static_cast<std::byte*>(va) + chunk + 100), ::testing::KilledBySignal(SIGSEGV), "")
      << "never mapped";
  d->destroy_stream(s);
  d->destroy_chunk(c);
  d->release(va, 2 * chunk);
}

}  // namespace
