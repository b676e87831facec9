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

TYPED_TEST(declaration_queue_test, sets_that_do_not_fit_together_queue_and_all_run) {
  std::string why;
  auto probe = make_runtime<TypeParam>(make_config(65536, tracking_mode::wp_async), &why);
  if (!probe) GTEST_SKIP() << TypeParam::name << ": " << why;
  const std::size_t chunk = probe->device_driver().info().chunk_bytes;
  probe.reset();
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

}  // namespace
}  // namespace umpager::testing
