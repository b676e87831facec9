// The resolver loop (docs/architecture.md "One resolver loop"): faults are served
// right whatever resolvers sleep on and however long they spin, and resolvers of
// an idle runtime burn no CPU even after a fault storm grew their spin to its bound.
#include <gtest/gtest.h>

#include <dirent.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "runtime_fixture.hpp"
#include "umpager/error.hpp"

namespace umpager::testing {
namespace {

template <class Factory>
class resolver_loop_test : public ::testing::Test {};
TYPED_TEST_SUITE(resolver_loop_test, driver_factories, factory_names);

constexpr std::size_t kBytes = std::size_t{8} << 20;
constexpr std::size_t kPages = kBytes / kPage;

/// The runtime, or null with `why` (the driver, or an io_uring the kernel refuses).
template <class Factory>
std::unique_ptr<runtime> make(resolver_wait_kind kind, unsigned spin_us, std::string* why) {
  config cfg = make_config(4096, tracking_mode::automatic);
  cfg.resolver_wait = kind;
  cfg.resolver_spin_us = spin_us;
  try {
    return make_runtime<Factory>(cfg, why);
  } catch (const unsupported& e) {
    *why = e.what();
    return nullptr;
  }
}

/// Every page device-resident, then `threads` threads touch every page in their own
/// random-ish order (each page by several threads at once); false on a wrong value.
bool storm(runtime& rt, std::uint32_t* w, unsigned threads, std::uint32_t salt) {
  for (std::size_t p = 0; p < kPages; ++p) w[p * kWordsPerPage] = static_cast<std::uint32_t>(p) ^ salt;
  rt.prefetch(w, kBytes, location::device);
  std::atomic<std::size_t> bad{0};
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (std::size_t k = 0; k < kPages; ++k) {
        const std::size_t p = (k * 2654435761u + t * 977) % kPages;
        if (w[p * kWordsPerPage] != (static_cast<std::uint32_t>(p) ^ salt)) bad.fetch_add(1);
      }
    });
  }
  for (auto& th : ts) th.join();
  return bad.load() == 0;
}

TYPED_TEST(resolver_loop_test, faults_are_served_by_every_wait_and_spin) {
  for (resolver_wait_kind kind : {resolver_wait_kind::io_uring, resolver_wait_kind::epoll}) {
    for (unsigned spin : {0u, 50u, 10000u}) {
      SCOPED_TRACE(std::string(kind == resolver_wait_kind::epoll ? "epoll" : "io_uring") + " spin " +
                   std::to_string(spin));
      std::string why;
      auto rt = make<TypeParam>(kind, spin, &why);
      if (!rt) {
        std::printf("skipped: %s\n", why.c_str());
        continue;
      }
      buffer buf = rt->allocate(kBytes);
      auto* w = buf.as<std::uint32_t>();
      const std::uint64_t before = rt->statistics().read_faults;
      for (std::uint32_t round = 0; round < 2; ++round) ASSERT_TRUE(storm(*rt, w, 4, 0x5eed0000u + round));
      EXPECT_GE(rt->statistics().read_faults - before, kPages);  // every page faulted at least once a round
    }
  }
}

/// Nanoseconds on a CPU so far of every thread whose name starts with `prefix`.
std::uint64_t cpu_ns_of_threads(const std::string& prefix, unsigned* found) {
  std::uint64_t total = 0;
  *found = 0;
  DIR* d = ::opendir("/proc/self/task");
  if (d == nullptr) return 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const std::string dir = std::string("/proc/self/task/") + e->d_name;
    std::string comm;
    std::getline(std::ifstream(dir + "/comm"), comm);
    if (comm.rfind(prefix, 0) != 0) continue;
    std::uint64_t on_cpu = 0;
    std::ifstream(dir + "/schedstat") >> on_cpu;  // first field: time on a CPU, ns
    total += on_cpu;
    ++*found;
  }
  ::closedir(d);
  return total;
}

TYPED_TEST(resolver_loop_test, idle_resolvers_use_no_cpu) {
  for (resolver_wait_kind kind : {resolver_wait_kind::automatic, resolver_wait_kind::epoll}) {
    SCOPED_TRACE(kind == resolver_wait_kind::epoll ? "epoll" : "auto");
    std::string why;
    // The largest bound: a resolver that kept spinning would show ~the whole window.
    auto rt = make<TypeParam>(kind, 10000, &why);
    if (!rt) GTEST_SKIP() << TypeParam::name << ": " << why;
    buffer buf = rt->allocate(kBytes);
    auto* w = buf.as<std::uint32_t>();
    ASSERT_TRUE(storm(*rt, w, 2, 7));  // fault storms grow the spin to its bound
    ASSERT_TRUE(storm(*rt, w, 2, 8));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the last spins run out
    unsigned n = 0;
    const std::uint64_t t0 = cpu_ns_of_threads("umpager-res", &n);
    ASSERT_EQ(n, rt->resolvers()) << "resolver threads are named umpager-res<N>";
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const std::uint64_t used = cpu_ns_of_threads("umpager-res", &n) - t0;
    // Asleep they use nothing; 2 ms of 2 x 200 ms allows a few stray wake-ups.
    EXPECT_LT(used, 2'000'000u) << "resolvers used " << used / 1000 << " us of CPU while idle";
  }
}

}  // namespace
}  // namespace umpager::testing
