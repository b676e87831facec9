// Concurrent declarations under a device budget: several threads, each declaring a
// set of three ranges (a shared matrix read, two vectors of its own written) per
// kernel on its streams, at budgets of 1x, 1.5x and 3x the largest set. Sets that do
// not fit together queue; none may deadlock, fail, or lose an update.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "runtime_fixture.hpp"

namespace umpager::testing {
namespace {

template <class Factory>
class declaration_queue_test : public ::testing::Test {};
TYPED_TEST_SUITE(declaration_queue_test, driver_factories, factory_names);

constexpr int kThreads = 4;
constexpr int kRounds = 24;
constexpr std::size_t kChunksPerAllocation = 4;
constexpr std::size_t kMaxChunksPerRange = 2;  // three ranges: the largest set is 6 chunks

/// Aborts the process if the work it guards runs past `limit`: a hang must fail the
/// test, not wait for ctest's timeout.
class watchdog {
 public:
  explicit watchdog(std::chrono::seconds limit, std::string what)
      : thread_([this, limit, what = std::move(what)] {
          std::unique_lock g(m_);
          if (!cv_.wait_for(g, limit, [this] { return done_; })) {
            std::fprintf(stderr, "watchdog: %s did not finish within %lld s\n", what.c_str(),
                         static_cast<long long>(limit.count()));
            std::abort();
          }
        }) {}
  ~watchdog() {
    {
      std::lock_guard g(m_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

/// The driver's chunk size, from a runtime started and stopped for it; 0 (and `why`)
/// when the driver cannot start here.
template <class Factory>
std::size_t chunk_bytes(std::string& why) {
  auto probe = make_runtime<Factory>(make_config(65536, tracking_mode::wp_async), &why);
  return probe ? probe->device_driver().info().chunk_bytes : 0;
}

TYPED_TEST(declaration_queue_test, sets_that_do_not_fit_together_queue_and_all_run) {
  std::string why;
  const std::size_t chunk = chunk_bytes<TypeParam>(why);
  if (chunk == 0) GTEST_SKIP() << TypeParam::name << ": " << why;
  const std::size_t alloc_bytes = kChunksPerAllocation * chunk;
  const std::size_t largest_set = 3 * kMaxChunksPerRange * chunk;

  for (const double factor : {1.0, 1.5, 3.0}) {
    const auto budget = static_cast<std::size_t>(factor * static_cast<double>(largest_set));
    SCOPED_TRACE("budget " + std::to_string(budget >> 20) + " MiB (" + std::to_string(factor) + "x the largest set)");
    auto rt = make_runtime<TypeParam>(make_config(65536, tracking_mode::wp_async, budget), &why);
    ASSERT_TRUE(rt) << why;

    buffer matrix = rt->allocate(alloc_bytes);
    auto* m = matrix.as<std::uint32_t>();
    for (std::size_t i = 0; i < alloc_bytes / 4; ++i) m[i] = static_cast<std::uint32_t>(i ^ 0x5a5a5a5au);
    std::vector<buffer> vectors;
    for (int t = 0; t < 2 * kThreads; ++t) {
      vectors.push_back(rt->allocate(alloc_bytes));
      auto* w = vectors.back().as<std::uint32_t>();
      for (std::size_t i = 0; i < alloc_bytes / 4; ++i) w[i] = static_cast<std::uint32_t>(i);
    }
    // Five streams for four threads: the fifth is shared by all.
    std::vector<stream> streams;
    for (int i = 0; i <= kThreads; ++i) streams.push_back(rt->create_stream());

    // Per vector and page: how many kernels added 1 to it (each thread owns two vectors).
    const std::size_t pages = alloc_bytes / kPage;
    std::vector<std::vector<std::uint32_t>> adds(2 * kThreads, std::vector<std::uint32_t>(pages, 0));
    std::mutex error_mutex;
    std::string first_error;
    std::atomic<std::size_t> bad_reads{0};

    const auto start = std::chrono::steady_clock::now();
    {
      const watchdog dog(std::chrono::seconds(120), "the declaring threads");
      std::vector<std::thread> threads;
      for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
          std::mt19937_64 rng(static_cast<std::uint64_t>(t) * 7919 + static_cast<std::uint64_t>(factor * 10));
          // A range of 1..kMaxChunksPerRange chunks, chunk-aligned at its start, its end
          // a random number of pages short of the last chunk's end.
          auto pick = [&](std::size_t& offset, std::size_t& bytes) {
            const std::size_t n = 1 + rng() % kMaxChunksPerRange;
            offset = (rng() % (kChunksPerAllocation - n + 1)) * chunk;
            bytes = n * chunk - (rng() % (chunk / kPage)) * kPage;
          };
          try {
            stream* last = nullptr;
            for (int round = 0; round < kRounds; ++round) {
              stream& s = streams[round % 3 == 2 ? kThreads : t];
              // Kernels on two streams that add to the same words race (as in CUDA):
              // the previous stream's kernels finish before this one's start.
              if (last != nullptr && last != &s) last->synchronize();
              last = &s;
              std::size_t mo, mb, bo, bb, co, cb;
              pick(mo, mb);
              pick(bo, bb);
              pick(co, cb);
              buffer& b = vectors[2 * t];
              buffer& c = vectors[2 * t + 1];
              const access set[] = {{matrix.as<char>() + mo, mb, access_mode::read},
                                    {b.as<char>() + bo, bb, access_mode::read_write},
                                    {c.as<char>() + co, cb, access_mode::write}};
              declaration d = rt->declare(set, s);
              kernels::add(rt->device_driver(), s.handle(), static_cast<std::uint32_t*>(b.device_data()) + bo / 4,
                           bb / 4, 1);
              kernels::add(rt->device_driver(), s.handle(), static_cast<std::uint32_t*>(c.device_data()) + co / 4,
                           cb / 4, 1);
              d.close();
              for (std::size_t p = bo / kPage; p < (bo + bb) / kPage; ++p) ++adds[2 * t][p];
              for (std::size_t p = co / kPage; p < (co + cb) / kPage; ++p) ++adds[2 * t + 1][p];
              if (round % 4 == 3) {
                // A CPU read beside the other threads' kernels: it waits for this one.
                s.synchronize();
                const std::size_t p = (bo + bb) / kPage - 1;
                const std::size_t i = p * kWordsPerPage + rng() % kWordsPerPage;
                if (b.as<std::uint32_t>()[i] != static_cast<std::uint32_t>(i + adds[2 * t][p])) bad_reads.fetch_add(1);
              }
            }
          } catch (const std::exception& e) {
            std::lock_guard g(error_mutex);
            if (first_error.empty()) first_error = "thread " + std::to_string(t) + ": " + e.what();
          }
        });
      }
      for (auto& th : threads) th.join();
      rt->device_synchronize();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    EXPECT_EQ(first_error, "") << "no declaration may fail while the work ahead of it passes";
    EXPECT_EQ(bad_reads.load(), 0u);
    std::size_t bad = 0;
    for (int v = 0; v < 2 * kThreads; ++v) {
      const auto* w = vectors[v].as<std::uint32_t>();
      for (std::size_t i = 0; i < alloc_bytes / 4; ++i) bad += w[i] != static_cast<std::uint32_t>(i + adds[v][i / kWordsPerPage]);
    }
    EXPECT_EQ(bad, 0u) << "words that lost or gained an update";
    std::size_t matrix_bad = 0;
    for (std::size_t i = 0; i < alloc_bytes / 4; ++i) matrix_bad += m[i] != static_cast<std::uint32_t>(i ^ 0x5a5a5a5au);
    EXPECT_EQ(matrix_bad, 0u) << "the matrix is only read";
    EXPECT_LE(rt->statistics().device_bytes_in_use, budget);
    if (factor < 3.0) {
      EXPECT_GT(rt->statistics().chunks_evicted, 0u) << "the sets did not compete: it tested nothing";
    }
    // Bounded: the watchdog aborts at 120 s; each set needs a few ms of copies.
    EXPECT_LT(seconds, 60.0);
  }
}

// Prefetch, then launch without a set (the CUDA sample's shape): four threads, each
// prefetching its three ranges on its own stream, then runtime::launch of a kernel that
// reads two and adds to the third. Other threads' prefetches evict between one
// thread's prefetches and its kernel; the launch declares what its stream prefetched,
// so the kernel finds all three resident (without it: a segfault in the kernel).
TYPED_TEST(declaration_queue_test, prefetched_ranges_stay_for_the_next_launch) {
  std::string why;
  const std::size_t chunk = chunk_bytes<TypeParam>(why);
  if (chunk == 0) GTEST_SKIP() << TypeParam::name << ": " << why;
  const std::size_t set_bytes = 4 * chunk;  // a: 2 chunks, b and c: 1 each
  for (const double factor : {1.0, 1.5, 4.0}) {
    const auto budget = static_cast<std::size_t>(factor * static_cast<double>(set_bytes));
    SCOPED_TRACE("budget " + std::to_string(budget >> 20) + " MiB (" + std::to_string(factor) + "x a set)");
    auto rt = make_runtime<TypeParam>(make_config(65536, tracking_mode::wp_async, budget), &why);
    ASSERT_TRUE(rt) << why;
    std::mutex error_mutex;
    std::string first_error;
    std::atomic<std::size_t> bad{0};
    {
      const watchdog dog(std::chrono::seconds(120), "the prefetching threads");
      std::vector<std::thread> threads;
      for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
          try {
            stream s = rt->create_stream();
            buffer a = rt->allocate(2 * chunk), b = rt->allocate(chunk), c = rt->allocate(chunk);
            const std::size_t n = chunk / 4;
            for (std::size_t i = 0; i < n; ++i) {
              a.as<std::uint32_t>()[n + i] = static_cast<std::uint32_t>(i * 3 + t);
              b.as<std::uint32_t>()[i] = static_cast<std::uint32_t>(i * 5);
              c.as<std::uint32_t>()[i] = static_cast<std::uint32_t>(i);
            }
            const auto* da = static_cast<const std::uint32_t*>(a.device_data());
            const auto* db = static_cast<const std::uint32_t*>(b.device_data());
            auto* dc = static_cast<std::uint32_t*>(c.device_data());
            // What one kernel adds to c[i], from the a and b words it reads.
            auto per = [t](std::size_t i) { return static_cast<std::uint32_t>(1 + ((i * 3 + t) & 1) + ((i * 5) & 1)); };
            for (int round = 0; round < kRounds; ++round) {
              rt->prefetch(a.data(), a.size(), location::device, s);
              rt->prefetch(b.data(), b.size(), location::device, s);
              rt->prefetch(c.data(), c.size(), location::device, s);
              rt->launch(
                  [da, db, dc, n] {
                    for (std::size_t i = 0; i < n; ++i) dc[i] += 1 + (da[n + i] & 1) + (db[i] & 1);
                  },
                  s);
              if (round % 6 == 5) {  // a CPU look now and then, between kernels
                s.synchronize();
                if (c.as<std::uint32_t>()[7] != 7 + static_cast<std::uint32_t>(round + 1) * per(7)) bad.fetch_add(1);
              }
            }
            s.synchronize();
            for (std::size_t i = 0; i < n; ++i) {
              bad.fetch_add(c.as<std::uint32_t>()[i] != static_cast<std::uint32_t>(i + kRounds * per(i)) ? 1 : 0);
            }
          } catch (const std::exception& e) {
            std::lock_guard g(error_mutex);
            if (first_error.empty()) first_error = "thread " + std::to_string(t) + ": " + e.what();
          }
        });
      }
      for (auto& th : threads) th.join();
    }
    EXPECT_EQ(first_error, "");
    EXPECT_EQ(bad.load(), 0u) << "words a kernel did not add to exactly once per round";
    if (factor < 4.0) {
      EXPECT_GT(rt->statistics().chunks_evicted, 0u) << "the threads did not compete: it tested nothing";
    }
  }
}

// What a launch declares for its stream: the prefetches since that stream's last
// launch, declaration or synchronize. Single-threaded and deterministic: another
// stream's prefetch evicts the range in between, and only a remembered range comes back.
TYPED_TEST(declaration_queue_test, a_launch_brings_back_what_its_stream_prefetched) {
  std::string why;
  const std::size_t chunk = chunk_bytes<TypeParam>(why);
  if (chunk == 0) GTEST_SKIP() << TypeParam::name << ": " << why;
  auto rt = make_runtime<TypeParam>(make_config(65536, tracking_mode::wp_async, 2 * chunk), &why);
  ASSERT_TRUE(rt) << why;
  stream s1 = rt->create_stream(), s2 = rt->create_stream();
  buffer a = rt->allocate(2 * chunk), b = rt->allocate(2 * chunk);
  for (std::size_t i = 0; i < a.size() / 4; ++i) a.as<std::uint32_t>()[i] = static_cast<std::uint32_t>(i);
  std::memset(b.data(), 0, b.size());
  const auto* da = static_cast<const std::uint32_t*>(a.device_data());
  std::atomic<std::uint64_t> sum{0};
  auto read_a = [&, da, n = a.size() / 4] {
    std::uint64_t t = 0;
    for (std::size_t i = 0; i < n; ++i) t += da[i];
    sum.store(t);
  };
  const std::uint64_t n = a.size() / 4, want = n * (n - 1) / 2;

  for (const bool synchronized : {false, true}) {
    SCOPED_TRACE(synchronized ? "s1 synchronized before the launch" : "prefetch, then launch");
    rt->prefetch(a.data(), a.size(), location::device, s1).synchronize();  // the prefetch's point, not s1's
    if (synchronized) s1.synchronize();
    rt->prefetch(b.data(), b.size(), location::device, s2).synchronize();  // evicts a: the budget is 2 chunks
    s2.synchronize();
    const stats before = rt->statistics();
    if (synchronized) {
      rt->launch([] {}, s1);  // nothing remembered: nothing comes back
      s1.synchronize();
      EXPECT_EQ(rt->statistics().bytes_to_device - before.bytes_to_device, 0u) << "a synchronize forgets";
    } else {
      rt->launch(read_a, s1);
      s1.synchronize();
      EXPECT_EQ(sum.load(), want) << "the kernel read a's device copy";
      EXPECT_EQ(rt->statistics().bytes_to_device - before.bytes_to_device, a.size()) << "a came back for the launch";
    }
  }
}

}  // namespace
}  // namespace umpager::testing
