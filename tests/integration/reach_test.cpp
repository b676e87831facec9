// Kernels that reach memory which is not resident, through the public API: the
// accessor (runtime::reach, device_span.hpp), launches with no set, `reachable`
// ranges of a set, coherence with CPU writes, a set larger than the device budget,
// mapped files, the host budget, moves that wait for a reaching kernel, bad input.
// The kernels are host functions (the simulated device runs them); on the CUDA
// driver they are host callbacks that cannot touch device memory, so those cases skip.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "runtime_fixture.hpp"

namespace umpager::testing {
namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;

template <class Factory>
class reach_test : public ::testing::Test {
 protected:
  /// A runtime with `device_mib` of device memory; null (and a skip) where host
  /// functions cannot stand for kernels.
  std::unique_ptr<runtime> make(std::size_t device_mib, config cfg = make_config(65536, tracking_mode::automatic)) {
    cfg.device_memory = device_mib * kMiB;
    std::string why;
    auto rt = make_runtime<Factory>(cfg, &why);
    if (rt && rt->device_driver().info().name == "cuda") {
      why = "the kernels here are host functions, which cannot touch device memory on a GPU (the accessor on a "
            "GPU awaits tools/gpu-check)";
      rt.reset();
    }
    if (!rt) skip_why_ = why;
    return rt;
  }
  std::string skip_why_;
};
TYPED_TEST_SUITE(reach_test, driver_factories, factory_names);

#define MAKE_RT(rt, mib)                         \
  auto rt = this->make(mib);                     \
  if (!rt) GTEST_SKIP() << this->skip_why_

void fill_index(std::uint32_t* w, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) w[i] = static_cast<std::uint32_t>(i);
}

TYPED_TEST(reach_test, a_kernel_with_no_prefetch_and_no_set_reaches_host_memory) {
  MAKE_RT(rt, 64);
  constexpr std::size_t n = 6 * kMiB / sizeof(std::uint32_t);
  buffer x = rt->allocate(n * sizeof(std::uint32_t));
  auto* w = x.as<std::uint32_t>();
  fill_index(w, n);
  auto s = rt->create_stream();
  auto span = rt->reach(w, n);
  const stats before = rt->statistics();
  rt->launch([span] {
    for (std::size_t i = 0; i < span.size(); ++i) span[i] = span[i] * 2 + 1;
  }, s);
  s.synchronize();
  const stats after = rt->statistics();
  // Nothing moved, nothing faulted: the kernel wrote the host pages themselves.
  EXPECT_EQ(after.bytes_to_device, before.bytes_to_device);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) bad += w[i] != 2 * i + 1;
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(after.read_faults + after.write_faults, before.read_faults + before.write_faults);
  EXPECT_EQ(rt->statistics().read_faults, after.read_faults) << "the CPU read its results without a fault";
  for (const page_residence& p : rt->query(w, n * sizeof(std::uint32_t)).pages) {
    ASSERT_EQ(p.where, page_where::host);
  }
}

TYPED_TEST(reach_test, a_kernel_never_reads_a_device_copy_older_than_a_cpu_write) {
  MAKE_RT(rt, 64);
  constexpr std::size_t n = 2 * kMiB / sizeof(std::uint32_t);
  buffer x = rt->allocate(n * sizeof(std::uint32_t));
  buffer out = rt->allocate(4096);
  auto* w = x.as<std::uint32_t>();
  std::fill_n(w, n, 2u);
  auto s = rt->create_stream();
  rt->prefetch(w, n * sizeof(std::uint32_t), location::device, s).synchronize();
  rt->launch([] {}, s);  // the device copy is current now; the CPU's next write makes it stale
  s.synchronize();
  w[7] = 10;  // faults the page home, then writes it
  auto in = rt->reach(w, n);
  auto res = rt->reach(out.as<std::uint32_t>(), 1);
  const std::uint64_t up = rt->statistics().bytes_to_device;
  rt->launch([in, res] { res[0] = in[7]; }, s);
  s.synchronize();
  EXPECT_EQ(out.as<std::uint32_t>()[0], 10u) << "the kernel read a device copy older than the CPU's write";
  EXPECT_GT(rt->statistics().bytes_to_device, up) << "the resident chunk was reached on the device, updated";
  EXPECT_LT(rt->statistics().bytes_to_device - up, 2 * kMiB) << "only the written pages went up";
}

TYPED_TEST(reach_test, a_set_larger_than_the_device_budget_runs_partly_in_host_memory) {
  MAKE_RT(rt, 8);
  constexpr std::size_t bytes = 20 * kMiB;
  constexpr std::size_t n = bytes / sizeof(std::uint32_t);
  buffer x = rt->allocate(bytes);
  auto* w = x.as<std::uint32_t>();
  fill_index(w, n);
  auto s = rt->create_stream();
  rt->prefetch(w, 4 * kMiB, location::device, s).synchronize();
  // Resident, the set is refused; reachable, it runs.
  const access resident[] = {{w, bytes, access_mode::read_write}};
  EXPECT_THROW(rt->launch([] {}, s, resident), out_of_memory);
  auto span = rt->reach(w, n);
  const access set[] = {{w, bytes, access_mode::read_write, access_kind::reachable}};
  const std::uint64_t up = rt->statistics().bytes_to_device;
  rt->launch([span] {
    for (std::size_t i = 0; i < span.size(); ++i) span[i] += 3;
  }, s, set);
  s.synchronize();
  EXPECT_EQ(rt->statistics().bytes_to_device, up) << "nothing was moved for a reachable range";
  const range_info info = rt->query(w, bytes);
  EXPECT_EQ(info.pages.front().where, page_where::device) << "the resident chunks were reached on the device";
  EXPECT_EQ(info.pages.back().where, page_where::host);
  EXPECT_EQ(index_mismatches(w, n, 3), 0u);
  EXPECT_LE(rt->device_bytes_in_use(0), 8 * kMiB);
}

TYPED_TEST(reach_test, the_accessor_takes_standard_algorithms) {
  MAKE_RT(rt, 4);
  constexpr std::size_t n = 3 * kMiB / sizeof(std::uint64_t);  // two chunks, one partly
  buffer x = rt->allocate(n * sizeof(std::uint64_t));
  auto* w = x.as<std::uint64_t>();
  for (std::size_t i = 0; i < n; ++i) w[i] = n - i;
  auto s = rt->create_stream();
  rt->prefetch(w, 2 * kMiB, location::device, s).synchronize();  // the first chunk on the device
  auto span = rt->reach(w, n);
  std::uint64_t sum = 0;
  rt->launch([span, &sum] {
    std::sort(span.begin(), span.end());
    sum = std::accumulate(span.begin(), span.end(), std::uint64_t{0});
  }, s);
  s.synchronize();
  EXPECT_EQ(sum, std::uint64_t{n} * (n + 1) / 2);
  EXPECT_TRUE(std::is_sorted(w, w + n));
  EXPECT_EQ(w[0], 1u);
  auto tail = span.subspan(n - 4, 4);
  EXPECT_EQ(tail.size(), 4u);
}

TYPED_TEST(reach_test, mapped_file_pages_are_read_before_a_kernel_reaches_them) {
  MAKE_RT(rt, 16);
  char path[] = "/tmp/umpager_reach_XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  constexpr std::size_t n = 3 * kMiB / sizeof(std::uint32_t);
  std::vector<std::uint32_t> content(n);
  std::iota(content.begin(), content.end(), 5u);
  ASSERT_EQ(::write(fd, content.data(), n * sizeof(std::uint32_t)), static_cast<ssize_t>(n * sizeof(std::uint32_t)));
  ::close(fd);
  {
    buffer f = rt->map_file(path, file_access::read_only);
    auto span = rt->reach(f.as<std::uint32_t>(), n);
    std::uint64_t sum = 0;
    auto s = rt->create_stream();
    rt->launch([span, &sum] { sum = std::accumulate(span.begin(), span.end(), std::uint64_t{0}); }, s);
    s.synchronize();
    EXPECT_EQ(sum, std::accumulate(content.begin(), content.end(), std::uint64_t{0})) << "a page read as zeros";
  }
  ::unlink(path);
}

TYPED_TEST(reach_test, a_move_waits_for_a_kernel_that_reaches_the_chunk_in_host_memory) {
  MAKE_RT(rt, 16);
  constexpr std::size_t n = 2 * kMiB / sizeof(std::uint32_t);
  buffer x = rt->allocate(n * sizeof(std::uint32_t));
  auto* w = x.as<std::uint32_t>();
  fill_index(w, n);
  auto s = rt->create_stream();
  auto span = rt->reach(w, n);
  std::atomic<bool> go{false}, moved{false};
  std::atomic<std::uint64_t> seen{0};
  rt->launch([span, &go, &seen] {
    while (!go.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < span.size(); ++i) sum += span[i];
    seen = sum;
  }, s);
  std::thread mover([&] {
    rt->prefetch(w, n * sizeof(std::uint32_t), location::device);  // the default stream: synchronous
    moved = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(moved.load()) << "the chunk moved while a kernel reached it in host memory";
  go = true;
  mover.join();
  s.synchronize();
  EXPECT_EQ(seen.load(), std::uint64_t{n} * (n - 1) / 2);
  EXPECT_EQ(rt->query(w, 4096).pages[0].where, page_where::device);
}

TYPED_TEST(reach_test, the_host_budget_leaves_what_a_kernel_reaches) {
  config cfg = make_config(65536, tracking_mode::automatic);
  cfg.host_memory = 8 * kMiB;
  auto rt = this->make(16, cfg);
  if (!rt) GTEST_SKIP() << this->skip_why_;
  constexpr std::size_t bytes = 24 * kMiB;
  constexpr std::size_t n = bytes / sizeof(std::uint32_t);
  buffer x = rt->allocate(bytes);
  auto* w = x.as<std::uint32_t>();
  fill_index(w, n);
  auto span = rt->reach(w, n);
  auto s = rt->create_stream();
  std::uint64_t sum = 0;
  // Reads chunk by chunk, slowly: the budget's thread runs meanwhile.
  rt->launch([span, &sum] {
    for (std::size_t i = 0; i < span.size(); ++i) {
      sum += span[i];
      if (i % (kMiB / 4) == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }, s);
  s.synchronize();
  EXPECT_EQ(sum, std::uint64_t{n} * (n - 1) / 2) << "a page the kernel reached was released under it";
  EXPECT_EQ(index_mismatches(w, n, 0), 0u);
}

TYPED_TEST(reach_test, accessed_by_advice_is_kept_and_reported) {
  MAKE_RT(rt, 16);
  buffer x = rt->allocate(4 * kMiB);
  EXPECT_TRUE(rt->query(x.data(), x.size()).accessed_by.empty());
  rt->advise(x.data(), x.size(), advice::set_accessed_by, location::device, 0);
  EXPECT_EQ(rt->query(x.data(), x.size()).accessed_by, std::vector<unsigned>{0});
  rt->advise(x.data(), 2 * kMiB, advice::unset_accessed_by, location::device, 0);
  EXPECT_TRUE(rt->query(x.data(), x.size()).accessed_by.empty());
  EXPECT_EQ(rt->query(x.as<std::byte>() + 2 * kMiB, 4096).accessed_by, std::vector<unsigned>{0});
}

TYPED_TEST(reach_test, chunks_reached_often_in_host_memory_move_onto_the_device) {
  config cfg = make_config(65536, tracking_mode::automatic);
  cfg.migrate_after = 1000;
  auto rt = this->make(16, cfg);
  if (!rt) GTEST_SKIP() << this->skip_why_;
  constexpr std::size_t n = 6 * kMiB / sizeof(std::uint32_t), per_chunk = 2 * kMiB / sizeof(std::uint32_t);
  buffer x = rt->allocate(n * sizeof(std::uint32_t));
  auto* w = x.as<std::uint32_t>();
  fill_index(w, n);
  // Chunk 2 would move too, but accessed_by keeps it off the device.
  rt->advise(w + 2 * per_chunk, 2 * kMiB, advice::set_accessed_by, location::device, 0);
  auto span = rt->reach(w, n);
  auto s = rt->create_stream();
  std::atomic<std::uint64_t> sum{0};
  // Chunk 0: 2000 reads, chunk 1: 10, chunk 2: 3000.
  rt->launch([span, &sum] {
    std::uint64_t t = 0;
    for (std::size_t i = 0; i < 2000; ++i) t += span[i];
    for (std::size_t i = 0; i < 10; ++i) t += span[per_chunk + i];
    for (std::size_t i = 0; i < 3000; ++i) t += span[2 * per_chunk + i];
    sum = t;
  }, s);
  s.synchronize();
  EXPECT_EQ(rt->statistics().remote_accesses, 5010u);
  EXPECT_EQ(rt->statistics().chunks_migrated, 0u) << "counts act at the next launch";
  rt->launch([span, &sum] { sum = span[0] + span[per_chunk] + span[2 * per_chunk]; }, s);
  s.synchronize();
  const stats st = rt->statistics();
  EXPECT_EQ(st.chunks_migrated, 1u);
  EXPECT_EQ(st.bytes_migrated, 2 * kMiB);
  EXPECT_EQ(st.remote_accesses, 5012u) << "the moved chunk's read was on the device";
  EXPECT_EQ(sum.load(), 0u + per_chunk + 2 * per_chunk);
  const range_info info = rt->query(w, n * sizeof(std::uint32_t));
  constexpr std::size_t pages_per_chunk = 2 * kMiB / kPage;
  EXPECT_NE(info.pages[0].where, page_where::host);
  EXPECT_EQ(info.pages[pages_per_chunk].where, page_where::host);
  EXPECT_EQ(info.pages[2 * pages_per_chunk].where, page_where::host) << "accessed_by: never moved there";
  EXPECT_EQ(index_mismatches(w, n, 0), 0u);
}

TYPED_TEST(reach_test, a_move_by_counts_follows_the_streams_earlier_kernel_that_writes_the_chunk) {
  config cfg = make_config(65536, tracking_mode::automatic);
  cfg.migrate_after = 100;
  auto rt = this->make(16, cfg);
  if (!rt) GTEST_SKIP() << this->skip_why_;
  constexpr std::size_t n = 2 * kMiB / sizeof(std::uint32_t);
  buffer x = rt->allocate(n * sizeof(std::uint32_t));
  auto* w = x.as<std::uint32_t>();
  fill_index(w, n);
  auto span = rt->reach(w, n);
  auto s = rt->create_stream();
  std::atomic<bool> counted{false}, go{false};
  // In host memory: reads enough to be moved by the next launch, then waits, then
  // writes every word.
  rt->launch([span, &counted, &go] {
    for (std::size_t i = 0; i < 200; ++i) (void)span[i];
    counted = true;
    while (!go.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    for (std::size_t i = 0; i < span.size(); ++i) span[i] += 7;
  }, s);
  while (!counted.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(rt->statistics().chunks_migrated, 0u);
  std::atomic<std::uint64_t> bad{~std::uint64_t{0}};
  std::atomic<bool> launched{false};
  // The next launch moves the chunk: its copy must follow the writes above, in
  // stream order (the call does not wait for the kernel).
  std::thread later([&] {
    rt->launch([span, &bad] {
      std::uint64_t b = 0;
      for (std::size_t i = 0; i < span.size(); ++i) b += span[i] != i + 7;
      bad = b;
    }, s);
    launched = true;
  });
  for (int i = 0; i < 2000 && !launched.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE(launched.load()) << "the launch waited for the stream's earlier kernel";
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  go = true;
  later.join();
  s.synchronize();
  EXPECT_EQ(rt->statistics().chunks_migrated, 1u);
  EXPECT_EQ(bad.load(), 0u) << "the move copied the host bytes before the earlier kernel wrote them";
}

struct twelve {
  std::uint32_t a, b, c;
};

TYPED_TEST(reach_test, bad_input_is_a_clear_error) {
  MAKE_RT(rt, 16);
  buffer x = rt->allocate(4 * kMiB);
  int local[4] = {};
  EXPECT_THROW((void)rt->reach(local, 4), invalid_argument);
  EXPECT_THROW((void)rt->reach(x.as<std::uint32_t>(), 0), invalid_argument);
  EXPECT_THROW((void)rt->reach(x.as<std::uint32_t>(), x.size()), invalid_argument) << "past the end";
  EXPECT_THROW((void)rt->reach(reinterpret_cast<twelve*>(x.data()), 1000), invalid_argument) << "straddles chunks";
  EXPECT_THROW((void)rt->reach(x.as<std::uint32_t>(), 4, 3), invalid_argument) << "no device 3";
  auto s = rt->create_stream();
  const access bad_kind[] = {{x.data(), 4096, access_mode::read, static_cast<access_kind>(9)}};
  EXPECT_THROW(rt->launch([] {}, s, bad_kind), invalid_argument);
  buffer y = rt->allocate(4 * kMiB);
  void* freed = y.data();
  auto span = rt->reach(y.as<std::uint32_t>(), 16);
  y = buffer{};
  const access gone[] = {{freed, 4096, access_mode::read, access_kind::reachable}};
  EXPECT_THROW(rt->launch([] {}, s, gone), invalid_argument) << "a reachable range of a freed allocation";
  // A launch with no set no longer reaches the freed one.
  rt->launch([] {}, s);
  s.synchronize();
  (void)span;
}

}  // namespace
}  // namespace umpager::testing
