// The oversubscription hazards of issue 8, each through the public API: work in
// flight pins its chunks, a declaration's ranges never evict each other, a move home
// waits for writers, stale kernel reads are caught, small allocations report their
// overhead, and device_synchronize waits for every stream.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "runtime_fixture.hpp"

namespace umpager::testing {
namespace {

template <class Factory>
class residency_test : public ::testing::Test {};
TYPED_TEST_SUITE(residency_test, driver_factories, factory_names);

constexpr std::size_t kMiB = std::size_t{1} << 20;

std::uint32_t* dev(const buffer& b) { return static_cast<std::uint32_t*>(b.device_data()); }

void fill(buffer& b) {
  auto* w = b.as<std::uint32_t>();
  for (std::size_t i = 0; i < b.size() / 4; ++i) w[i] = static_cast<std::uint32_t>(i);
}

/// Holds a stream busy for `ms` (a host function on either driver).
void stall(const stream& s, int ms) {
  s.launch([ms] { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); });
}

/// A declared kernel that adds 1 to all of `x` after holding `s` for 300 ms.
void slow_declared_add(runtime& rt, const stream& s, buffer& x, access_mode mode) {
  const access set[] = {{x.data(), x.size(), mode}};
  declaration d = rt.declare(set, s);
  stall(s, 300);
  kernels::add(rt.device_driver(), s.handle(), dev(x), x.size() / 4, 1);
  d.close();
}

template <class Factory>
std::unique_ptr<runtime> small_device(std::size_t device_bytes, bool check_stale, std::string* why) {
  config cfg = make_config(65536, tracking_mode::automatic, device_bytes);
  cfg.check_stale = check_stale;
  return make_runtime<Factory>(cfg, why);
}

#define MAKE_RT(var, bytes, check)                                   \
  std::string var##_why;                                             \
  auto var = small_device<TypeParam>(bytes, check, &var##_why);      \
  if (!var) GTEST_SKIP() << TypeParam::name << ": " << var##_why

TYPED_TEST(residency_test, prefetch_on_one_stream_never_evicts_what_a_kernel_on_another_uses) {
  MAKE_RT(rt, 8 * kMiB, false);
  buffer x = rt->allocate(8 * kMiB), y = rt->allocate(8 * kMiB);
  fill(x);
  auto a = rt->create_stream(), b = rt->create_stream();
  // Undeclared kernel after a prefetch on `a`: the prefetch's pins last until `a` is idle.
  rt->prefetch(x.data(), x.size(), location::device, a);
  stall(a, 300);
  kernels::add(rt->device_driver(), a.handle(), dev(x), x.size() / 4, 1);
  rt->prefetch(y.data(), y.size(), location::device, b);  // needs x's chunks: waits for `a`
  a.synchronize();
  b.synchronize();
  EXPECT_EQ(index_mismatches(x.as<std::uint32_t>(), x.size() / 4, 1), 0u);
  // Declared: pinned until the kernel is passed.
  slow_declared_add(*rt, a, x, access_mode::read_write);
  rt->prefetch(y.data(), y.size(), location::device, b);
  a.synchronize();
  b.synchronize();
  EXPECT_EQ(index_mismatches(x.as<std::uint32_t>(), x.size() / 4, 2), 0u);
}

/// Most recently used first: the order in which one range's chunks would be the
/// victims of the next range of the same kernel, were they not pinned together.
class mru_policy final : public eviction_policy {
 public:
  std::string name() const override { return "test-mru"; }
  void on_insert(chunk_id c) override { order_.push_back(c); }
  void on_use(chunk_id c) override {
    std::erase(order_, c);
    order_.push_back(c);
  }
  void on_evict(chunk_id c) override { std::erase(order_, c); }
  std::optional<chunk_id> next_victim(const std::function<bool(chunk_id)>& ok) override {
    for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
      if (ok(*it)) return *it;
    }
    return std::nullopt;
  }

 private:
  std::vector<chunk_id> order_;
};

TYPED_TEST(residency_test, ranges_declared_together_never_evict_each_other) {
  MAKE_RT(rt, 8 * kMiB, false);
  rt->set_policy(std::make_unique<mru_policy>());
  buffer z = rt->allocate(8 * kMiB), a = rt->allocate(4 * kMiB), b = rt->allocate(4 * kMiB);
  fill(a);
  fill(b);
  rt->prefetch(z.data(), z.size(), location::device);  // the device is full
  auto s = rt->create_stream();
  const access set[] = {{a.data(), a.size(), access_mode::read_write}, {b.data(), b.size(), access_mode::read_write}};
  {
    declaration d = rt->declare(set, s);
    for (const buffer* buf : {&a, &b}) {
      const range_info q = rt->query(buf->data(), buf->size());
      for (const page_residence& p : q.pages) ASSERT_NE(p.where, page_where::host) << "a declared range was evicted";
    }
    kernels::add(rt->device_driver(), s.handle(), dev(a), a.size() / 4, 1);
    kernels::add(rt->device_driver(), s.handle(), dev(b), b.size() / 4, 2);
  }
  s.synchronize();
  EXPECT_EQ(index_mismatches(a.as<std::uint32_t>(), a.size() / 4, 1), 0u);
  EXPECT_EQ(index_mismatches(b.as<std::uint32_t>(), b.size() / 4, 2), 0u);
  // A set larger than the device is a clear error, and nothing is lost.
  const access too_big[] = {{z.data(), z.size(), access_mode::read}, {a.data(), a.size(), access_mode::write}};
  EXPECT_THROW((void)rt->declare(too_big, s), out_of_memory);
  EXPECT_THROW(rt->launch([] {}, s, too_big), out_of_memory);
  EXPECT_EQ(index_mismatches(a.as<std::uint32_t>(), a.size() / 4, 1), 0u);
}

TYPED_TEST(residency_test, move_home_waits_for_a_writer_in_flight) {
  MAKE_RT(rt, 64 * kMiB, false);
  buffer x = rt->allocate(4 * kMiB);
  fill(x);
  auto s = rt->create_stream(), other = rt->create_stream();
  // An undeclared kernel, then a move home on the default stream (legacy semantics).
  rt->prefetch(x.data(), x.size(), location::device, s);
  stall(s, 300);
  kernels::add(rt->device_driver(), s.handle(), dev(x), x.size() / 4, 1);
  rt->prefetch(x.data(), x.size(), location::host);
  s.synchronize();
  EXPECT_EQ(index_mismatches(x.as<std::uint32_t>(), x.size() / 4, 1), 0u) << "host copy left stale";
  // A declared writer, then a move home on another stream: waits for the writer's point.
  slow_declared_add(*rt, s, x, access_mode::write);
  rt->prefetch(x.data(), x.size(), location::host, other);
  EXPECT_EQ(index_mismatches(x.as<std::uint32_t>(), x.size() / 4, 2), 0u) << "host copy left stale";
}

TYPED_TEST(residency_test, async_prefetch_returns_at_once_and_faults_wait_for_its_upload) {
  MAKE_RT(rt, 64 * kMiB, false);
  buffer x = rt->allocate(4 * kMiB);
  fill(x);
  auto s = rt->create_stream();
  // Long enough that the prefetch's own copies (run at once by an idle simulated upload
  // engine, slowly under TSan on a loaded machine) end well before the stream's work.
  stall(s, 1500);
  const auto t0 = std::chrono::steady_clock::now();
  completion c = rt->prefetch(x.data(), x.size(), location::device, s);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1000)) << "prefetch waited for the stream";
  EXPECT_FALSE(c.query());
  // The CPU reads while the upload is queued: served after it, never from an empty device copy.
  EXPECT_EQ(index_mismatches(x.as<std::uint32_t>(), x.size() / 4, 0), 0u);
  c.synchronize();
  EXPECT_TRUE(c.query());
  // Later work on the stream sees the moved data.
  rt->prefetch(x.data(), x.size(), location::device, s);
  kernels::add(rt->device_driver(), s.handle(), dev(x), x.size() / 4, 3);
  s.synchronize();
  EXPECT_EQ(index_mismatches(x.as<std::uint32_t>(), x.size() / 4, 3), 0u);
}

/// A 4 MiB allocation holding its indices, and on a stream of its own a declared
/// kernel that first waits (a host function) until `go` is set, at most 10 s (then
/// `timed_out`), and then adds 1 to all of it: the latch of NVIDIA's UnifiedMemoryPerf
/// sample. Members in this order: the stream, drained first, outlives no flag.
struct latched_add {
  std::atomic<bool> go;
  std::atomic<bool> timed_out{false};
  buffer x;
  stream s;

  latched_add(runtime& rt, bool open) : go(open), x(rt.allocate(4 * kMiB)), s(rt.create_stream()) {
    fill(x);
    const access set[] = {{x.data(), x.size(), access_mode::read_write}};
    declaration d = rt.declare(set, s);
    s.launch([this] {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (!go.load()) {
        if (std::chrono::steady_clock::now() > deadline) {
          timed_out = true;
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
    kernels::add(rt.device_driver(), s.handle(), dev(x), x.size() / 4, 1);
    d.close();
  }
  completion home(runtime& rt) { return rt.prefetch(x.data(), x.size(), location::host, s); }
};

std::uint64_t served_faults(const stats& s) { return s.read_faults + s.write_faults - s.stale_faults; }

TYPED_TEST(residency_test, a_move_home_on_a_stream_returns_before_the_work_ahead_and_maps_once_passed) {
  MAKE_RT(rt, 64 * kMiB, false);
  latched_add k(*rt, false);
  buffer& x = k.x;
  // The kernel waits for this thread: a prefetch that waited for it would hang here.
  completion home = k.home(*rt);
  EXPECT_FALSE(home.query()) << "done before the work ahead of it on its stream";
  k.go = true;
  home.synchronize();
  EXPECT_FALSE(k.timed_out) << "the prefetch to the host waited for the kernel that waited for it";
  const stats before = rt->statistics();
  EXPECT_EQ(index_mismatches(x.as<std::uint32_t>(), x.size() / 4, 1), 0u) << "the kernel's result did not come home";
  const stats after = rt->statistics();
  EXPECT_EQ(served_faults(after), served_faults(before)) << "the completion left the pages unmapped";
  EXPECT_EQ(after.bytes_to_host, before.bytes_to_host);
}

TYPED_TEST(residency_test, a_move_home_on_a_stream_is_mapped_by_the_streams_synchronize) {
  MAKE_RT(rt, 64 * kMiB, false);
  latched_add k(*rt, true);
  buffer& x = k.x;
  (void)k.home(*rt);  // the completion is dropped
  k.s.synchronize();
  const stats before = rt->statistics();
  EXPECT_EQ(index_mismatches(x.as<std::uint32_t>(), x.size() / 4, 1), 0u);
  EXPECT_EQ(served_faults(rt->statistics()), served_faults(before)) << "stream::synchronize left the pages unmapped";
}

TYPED_TEST(residency_test, a_touch_before_a_move_home_on_a_stream_passes_waits_and_keeps_its_writes) {
  MAKE_RT(rt, 64 * kMiB, false);
  latched_add k(*rt, false);
  buffer& x = k.x;
  completion home = k.home(*rt);
  // Another thread reads and writes the first MiB now: its faults wait for the kernel
  // and the copies, and what it writes must survive them.
  constexpr std::size_t kWords = kMiB / 4;
  std::atomic<std::size_t> wrong{0};
  std::thread cpu([&] {
    auto* w = x.as<std::uint32_t>();
    for (std::size_t i = 0; i < kWords; ++i) {
      if (w[i] != static_cast<std::uint32_t>(i) + 1) ++wrong;
      w[i] = 7;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  k.go = true;
  cpu.join();
  home.synchronize();
  k.s.synchronize();
  EXPECT_FALSE(k.timed_out);
  EXPECT_EQ(wrong.load(), 0u) << "a touch read the host copy before the kernel's result came home";
  const auto* w = x.as<std::uint32_t>();
  std::size_t lost = 0;
  for (std::size_t i = 0; i < kWords; ++i) lost += w[i] != 7 ? 1 : 0;
  EXPECT_EQ(lost, 0u) << "the copies home overwrote what the CPU wrote after its touch";
  std::size_t rest = 0;
  for (std::size_t i = kWords; i < x.size() / 4; ++i) rest += w[i] != static_cast<std::uint32_t>(i) + 1 ? 1 : 0;
  EXPECT_EQ(rest, 0u);
}

TYPED_TEST(residency_test, check_stale_catches_an_undeclared_kernel_reading_cpu_writes) {
  MAKE_RT(rt, 64 * kMiB, true);
  buffer x = rt->allocate(4 * kMiB);
  fill(x);
  auto s = rt->create_stream();
  rt->prefetch(x.data(), x.size(), location::device);
  rt->launch([] {}, s);  // nothing written since: fine
  s.synchronize();
  x.as<std::uint32_t>()[5 * kWordsPerPage] = 7;  // after the prefetch
  EXPECT_THROW(rt->launch([] {}, s), runtime_error);
  EXPECT_EQ(rt->statistics().stale_launches, 1u);
  // Declared, the kernel sees the CPU's write.
  const access set[] = {{x.data(), x.size(), access_mode::read_write}};
  {
    declaration d = rt->declare(set, s);
    kernels::add(rt->device_driver(), s.handle(), dev(x), x.size() / 4, 1);
  }
  s.synchronize();
  EXPECT_EQ(x.as<std::uint32_t>()[5 * kWordsPerPage], 8u);
  EXPECT_EQ(x.as<std::uint32_t>()[6], 7u);
  rt->launch([] {}, s);  // the declaration uploaded it: no longer stale
  s.synchronize();
}

// A declared read keeps the host copy valid and mapped (write-protected): the CPU
// reads it afterwards without a fault, and a CPU write after it still reaches the
// next declared kernel (found by the scan, or its write-protect fault under sync).
TYPED_TEST(residency_test, a_read_declaration_keeps_the_cpu_mapping_and_tracks_later_writes) {
  for (tracking_mode t : {tracking_mode::automatic, tracking_mode::sync}) {
    SCOPED_TRACE(t == tracking_mode::sync ? "sync" : "automatic");
    std::string why;
    auto rt = make_runtime<TypeParam>(make_config(65536, t, 64 * kMiB), &why);
    if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
    buffer x = rt->allocate(4 * kMiB), y = rt->allocate(4 * kMiB);
    fill(x);
    auto s = rt->create_stream();
    const access reads[] = {{x.data(), x.size(), access_mode::read}, {y.data(), y.size(), access_mode::write}};
    {
      declaration d = rt->declare(reads, s);
      kernels::add(rt->device_driver(), s.handle(), dev(y), y.size() / 4, 1);  // y is written, x only read
    }
    s.synchronize();
    const std::uint64_t faults = rt->statistics().read_faults;
    EXPECT_EQ(index_mismatches(x.as<std::uint32_t>(), x.size() / 4, 0), 0u);
    EXPECT_EQ(rt->statistics().read_faults, faults) << "a declared read left the CPU mapping in place";
    x.as<std::uint32_t>()[3 * kWordsPerPage + 5] += 10;  // after the read declaration
    const access writes[] = {{x.data(), x.size(), access_mode::read_write}};
    {
      declaration d = rt->declare(writes, s);
      kernels::add(rt->device_driver(), s.handle(), dev(x), x.size() / 4, 1);
    }
    s.synchronize();
    EXPECT_EQ(x.as<std::uint32_t>()[3 * kWordsPerPage + 5], 3 * kWordsPerPage + 5 + 11);
    x.as<std::uint32_t>()[3 * kWordsPerPage + 5] -= 10;
    EXPECT_EQ(index_mismatches(x.as<std::uint32_t>(), x.size() / 4, 1), 0u);
  }
}

TYPED_TEST(residency_test, small_allocations_report_their_chunk_overhead) {
  MAKE_RT(rt, 256 * kMiB, false);
  std::vector<buffer> bufs;
  for (int i = 0; i < 40; ++i) {
    bufs.push_back(rt->allocate(64 * 1024));
    rt->prefetch(bufs.back().data(), bufs.back().size(), location::device);
  }
  const stats st = rt->statistics();
  EXPECT_EQ(st.device_bytes_in_use, 40 * 2 * kMiB);
  EXPECT_EQ(st.device_bytes_slack, 40 * (2 * kMiB - 64 * 1024));
  bufs.clear();
  EXPECT_EQ(rt->statistics().device_bytes_slack, 0u);
}

TYPED_TEST(residency_test, device_synchronize_waits_for_every_stream) {
  MAKE_RT(rt, 64 * kMiB, false);
  auto s1 = rt->create_stream(), s2 = rt->create_stream();
  std::atomic<int> done{0};
  for (const stream* s : {&s1, &s2}) {
    s->launch([&done] {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      done.fetch_add(1);
    });
  }
  rt->device_synchronize();
  EXPECT_EQ(done.load(), 2);
}

TYPED_TEST(residency_test, freeing_memory_in_use_by_work_in_flight_is_an_error) {
  MAKE_RT(rt, 64 * kMiB, false);
  buffer x = rt->allocate(4 * kMiB);
  fill(x);
  auto s = rt->create_stream();
  // Longer than the prefetch itself can take on a loaded machine (an idle simulated
  // upload engine copies on the caller's thread): until then free must refuse.
  stall(s, 1500);
  rt->prefetch(x.data(), x.size(), location::device, s);
  EXPECT_THROW(rt->free(x.data()), invalid_argument);
  s.synchronize();
  EXPECT_EQ(index_mismatches(x.as<std::uint32_t>(), x.size() / 4, 0), 0u);
  // An open declaration pins it too; the buffer's destructor waits like cudaFree.
  const access set[] = {{x.data(), x.size(), access_mode::read}};
  {
    declaration d = rt->declare(set, s);
    EXPECT_THROW(rt->free(x.data()), invalid_argument);
  }
  stall(s, 100);
  rt->prefetch(x.data(), x.size(), location::device, s);
  x.reset();
  EXPECT_EQ(rt->statistics().managed_bytes, 0u);
}

}  // namespace
}  // namespace umpager::testing
