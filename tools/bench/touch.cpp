#include "touch.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <random>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

namespace umpager::bench {
namespace {

using steady = std::chrono::steady_clock;

// A fault sample is timed around a single load or store, so the clock must cost
// far less than the ~1.5 us a first touch costs here: the TSC (invariant on
// this machine) where there is one, the vDSO clock elsewhere.
// tick_begin fences so earlier work is not counted; tick_end (rdtscp) waits
// for the timed access to complete.
inline std::uint64_t tick_begin() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_lfence();
  return __rdtsc();
#else
  return static_cast<std::uint64_t>(steady::now().time_since_epoch().count());
#endif
}
inline std::uint64_t tick_end() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  unsigned aux = 0;
  return __rdtscp(&aux);
#else
  return static_cast<std::uint64_t>(steady::now().time_since_epoch().count());
#endif
}

// Microseconds per tick, measured once against the steady clock.
double us_per_tick() {
  static const double value = [] {
#if defined(__x86_64__) || defined(__i386__)
    const auto t0 = steady::now();
    const auto c0 = tick_begin();
    while (steady::now() - t0 < std::chrono::milliseconds(20)) {
    }
    const auto c1 = tick_end();
    const double us = std::chrono::duration<double, std::micro>(steady::now() - t0).count();
    return us / static_cast<double>(c1 - c0);
#else
    return std::chrono::duration<double, std::micro>(steady::duration(1)).count();
#endif
  }();
  return value;
}

inline std::uint64_t splitmix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct thread_out {
  std::uint64_t sum = 0;
  std::vector<std::uint64_t> samples;  // ticks
};

// The per-thread loop. `claimed` has one flag per block: the thread that sets
// it first times its touch, which is then that block's fault sample.
void walk(std::byte* base, const touch_plan& plan, unsigned t, access a, std::uint64_t salt,
          std::atomic<std::uint8_t>* claimed, thread_out& out) {
  const std::size_t pages_per_block = plan.block() / page_bytes;
  const std::size_t first = plan.first(t);
  const std::size_t last = plan.last(t);
  out.samples.reserve(std::min(last - first, plan.blocks()));
  std::uint64_t sum = 0;
  for (std::size_t i = first; i < last; ++i) {
    const std::size_t page = plan.page_at(i);
    // volatile: each touch must be one real load or store, never merged or dropped.
    auto* word = reinterpret_cast<volatile std::uint64_t*>(base + page * page_bytes);
    auto& flag = claimed[page / pages_per_block];
    // The plain load first keeps the common case (block already claimed) free of
    // a locked instruction.
    const bool sample = flag.load(std::memory_order_relaxed) == 0 &&
                        flag.exchange(1, std::memory_order_relaxed) == 0;
    if (a == access::read) {
      if (sample) {
        const auto c0 = tick_begin();
        const std::uint64_t v = *word;
        const auto c1 = tick_end();
        sum += v;
        out.samples.push_back(c1 - c0);
      } else {
        sum += *word;
      }
    } else {
      const std::uint64_t v = page_value(page, salt);
      if (sample) {
        const auto c0 = tick_begin();
        *word = v;
        const auto c1 = tick_end();
        out.samples.push_back(c1 - c0);
      } else {
        *word = v;
      }
    }
  }
  out.sum = sum;
}

}  // namespace

touch_plan::touch_plan(std::size_t bytes, std::size_t block, pattern p, unsigned threads,
                       std::uint64_t seed, double fraction)
    : pages_(bytes / page_bytes), touched_(pages_), block_(block), threads_(threads), pattern_(p) {
  if (p != pattern::seq) {
    permutation_.resize(pages_);
    for (std::size_t i = 0; i < pages_; ++i) permutation_[i] = static_cast<std::uint32_t>(i);
    std::mt19937_64 rng(seed);
    std::shuffle(permutation_.begin(), permutation_.end(), rng);
  }
  if (p == pattern::random_sparse) {
    // The first `fraction` of a random permutation: a random subset, in random order.
    const auto n = static_cast<std::size_t>(std::llround(fraction * static_cast<double>(pages_)));
    touched_ = std::clamp<std::size_t>(n, std::min<std::size_t>(threads, pages_), pages_);
    permutation_.resize(touched_);
  }
}

std::uint64_t touched_sum(const touch_plan& plan, std::uint64_t salt) noexcept {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < plan.touched(); ++i) sum += page_value(plan.page_at(i), salt);
  return sum;
}

std::uint64_t after_write_sum(const touch_plan& plan, std::uint64_t fill_salt, std::uint64_t write_salt) noexcept {
  // Every page filled, then the touched ones overwritten.
  std::uint64_t sum = expected_sum(plan.pages(), fill_salt);
  for (std::size_t i = 0; i < plan.touched(); ++i) {
    sum += page_value(plan.page_at(i), write_salt) - page_value(plan.page_at(i), fill_salt);
  }
  return sum;
}

std::uint64_t page_value(std::size_t page, std::uint64_t salt) noexcept {
  return splitmix64(static_cast<std::uint64_t>(page) ^ (salt * 0x2545f4914f6cdd1dULL));
}

std::uint64_t expected_sum(std::size_t pages, std::uint64_t salt) noexcept {
  std::uint64_t sum = 0;
  for (std::size_t p = 0; p < pages; ++p) sum += page_value(p, salt);
  return sum;
}

void fill_pattern(std::byte* base, std::size_t pages, std::uint64_t salt) noexcept {
  for (std::size_t p = 0; p < pages; ++p) {
    *reinterpret_cast<volatile std::uint64_t*>(base + p * page_bytes) = page_value(p, salt);
  }
}

touch_result touch_pass(std::byte* base, const touch_plan& plan, access a, std::uint64_t write_salt) {
  const double tick_us = us_per_tick();  // calibrate before the clock starts
  auto claimed = std::make_unique<std::atomic<std::uint8_t>[]>(plan.blocks());
  for (std::size_t b = 0; b < plan.blocks(); ++b) claimed[b].store(0, std::memory_order_relaxed);

  std::vector<thread_out> outs(plan.threads());
  std::atomic<unsigned> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> workers;
  workers.reserve(plan.threads());
  for (unsigned t = 0; t < plan.threads(); ++t) {
    workers.emplace_back([&, t] {
      ready.fetch_add(1);
      // yield: on 2 cores a spinning waiter would steal the CPU the others need.
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      walk(base, plan, t, a, write_salt, claimed.get(), outs[t]);
    });
  }
  // Thread creation is not part of the pass: start the clock once all wait.
  while (ready.load() < plan.threads()) std::this_thread::yield();
  const auto t0 = steady::now();
  go.store(true, std::memory_order_release);
  for (auto& w : workers) w.join();
  const auto t1 = steady::now();

  touch_result r;
  r.seconds = std::chrono::duration<double>(t1 - t0).count();
  std::size_t n = 0;
  for (auto& o : outs) n += o.samples.size();
  r.fault_us.reserve(n);
  for (auto& o : outs) {
    r.sum += o.sum;
    for (auto s : o.samples) r.fault_us.push_back(static_cast<double>(s) * tick_us);
  }
  return r;
}

double percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  const std::size_t idx = rank == 0 ? 0 : std::min(rank - 1, v.size() - 1);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(idx), v.end());
  return v[idx];
}

}  // namespace umpager::bench
