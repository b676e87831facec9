// The stress engine (see stress.hpp and docs/stress.md).
//
// Structure of one epoch:
//   controller: draws the page roles of the epoch (owned by one worker / read-only /
//               locked counter page), releases the workers (barrier), then prefetches
//               random ranges in both directions while they run, and waits (barrier);
//   workers:    each draws its op sequence from its own seeded generator and checks
//               every read against the shadow model;
//   controller: checks the locked counters, then alone (quiescent) launches kernels,
//               prefetches with exact statistics checks, verifies ranges, and now and
//               then frees an allocation and allocates a fresh one.
// A watchdog aborts the process (after printing the seed) if any op is stuck, and a
// signal thread sends SIGUSR1 to the workers at random times.
//
// This file runs the epochs (engine::run), the watchdog, the statistics sampler and
// the signal thread, and reports options and results; stress_model.cpp,
// stress_workers.cpp and stress_controller.cpp hold the rest (stress_internal.hpp).
#include "stress.hpp"

#include "failing_driver.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "sim/sim_driver.hpp"
#include "stress_internal.hpp"

#if defined(__SANITIZE_THREAD__)
#define UMPAGER_STRESS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UMPAGER_STRESS_TSAN 1
#endif
#endif
#ifdef UMPAGER_STRESS_TSAN
#include <omp.h>
#endif
#include "umpager/runtime.hpp"

namespace umpager::stress {
namespace {

extern "C" void on_sigusr1(int /*sig*/) {}

void install_sigusr1() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = on_sigusr1;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGUSR1, &sa, nullptr);
  });
}

// A crash (a kernel touching a chunk that is not mapped, SIGBUS from a poisoned page)
// prints the seed and the repro line before the default action runs. Not under ASan,
// whose own handler reports more.
char g_crash_msg[1024];
extern "C" void on_crash(int /*sig*/) {
  ssize_t n = ::write(2, g_crash_msg, std::strlen(g_crash_msg));
  (void)n;
  // SA_RESETHAND restored the default action: returning re-raises the fault.
}

#if defined(__SANITIZE_ADDRESS__)
#define UMPAGER_STRESS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UMPAGER_STRESS_ASAN 1
#endif
#endif

struct crash_report {
  struct sigaction old_segv {}, old_bus {};
  explicit crash_report(const std::string& msg) {
#ifndef UMPAGER_STRESS_ASAN
    std::snprintf(g_crash_msg, sizeof g_crash_msg, "umpager-stress: CRASH (fatal signal): %s\n", msg.c_str());
    struct sigaction sa {};
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGSEGV, &sa, &old_segv);
    ::sigaction(SIGBUS, &sa, &old_bus);
#else
    (void)msg;
#endif
  }
  ~crash_report() {
#ifndef UMPAGER_STRESS_ASAN
    ::sigaction(SIGSEGV, &old_segv, nullptr);
    ::sigaction(SIGBUS, &old_bus, nullptr);
#endif
  }
  crash_report(const crash_report&) = delete;
  crash_report& operator=(const crash_report&) = delete;
};

const char* tracking_name(tracking_mode t) { return to_string(t); }

std::string size_text(std::size_t b) {
  if (b == 0) return "adaptive";  // --block
  if (b % (std::size_t{1} << 20) == 0) return std::to_string(b >> 20) + "M";
  if (b % 1024 == 0) return std::to_string(b >> 10) + "K";
  return std::to_string(b);
}

}  // namespace

namespace detail {

void engine::watchdog_main() {
  const auto bound = static_cast<std::int64_t>(o_.watchdog_seconds * 1e9);
  while (!dog_stop_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const std::int64_t now = now_ns();
    auto stuck = [&](participant& p, const std::string& who) {
      if (!p.active.load()) return;
      const std::int64_t age = now - p.last_ns.load(std::memory_order_relaxed);
      if (age <= bound) return;
      std::fprintf(stderr,
                   "umpager-stress: WATCHDOG: %s made no progress for %.1f s in op %s (epoch %" PRIu64
                   "); seed %" PRIu64 "\n  repro: %s\n",
                   who.c_str(), static_cast<double>(age) / 1e9, op_name(p.kind.load()), epoch_.load(), o_.seed,
                   repro_command(o_).c_str());
      std::fflush(stderr);
      std::abort();
    };
    for (unsigned w = 0; w < workers_.size(); ++w) stuck(*workers_[w], "CPU thread " + std::to_string(w));
    stuck(ctl_, "controller");
    stuck(sampler_, "statistics sampler");
  }
}

void engine::sampler_main() {
  // Device budget, sampled while everything runs (the watchdog itself never calls
  // into the runtime, so a runtime deadlock cannot stop it).
  sampler_.kind.store(k_controller);
  sampler_.last_ns.store(now_ns());
  sampler_.active.store(true);
  while (!dog_stop_.load()) {
    const stats s = snapshot();
    if (s.device_bytes_in_use > budget_) check_budget(s, "(sampled while running)");
    sampler_.last_ns.store(now_ns(), std::memory_order_relaxed);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  sampler_.active.store(false);
}

void engine::signal_main() {
  std::mt19937_64 rng(derive(o_.seed, 0x5167A1));
  while (!sig_stop_.load()) {
    const auto w = static_cast<unsigned>(rng() % workers_.size());
    ::pthread_kill(workers_[w]->handle, SIGUSR1);
    signals_sent_.fetch_add(1, std::memory_order_relaxed);
    std::this_thread::sleep_for(std::chrono::microseconds(20 + rng() % 500));
  }
}

stress_result engine::run() {
  std::fprintf(stderr, "umpager-stress: seed %" PRIu64 " (repro: %s)\n", o_.seed, repro_command(o_).c_str());
  const crash_report crash("seed " + std::to_string(o_.seed) + "; repro: " + repro_command(o_));
  if (o_.cpu_threads == 0 || o_.allocations == 0) throw invalid_argument("stress: cpu_threads and allocations must be > 0");
  config cfg;
  cfg.block_size = o_.block;
  cfg.tracking = o_.tracking;
  cfg.device_memory = o_.device_memory;
  cfg.resolvers = o_.resolvers;
  cfg.host_memory = o_.host_memory;
  // Accessor kernels move chunks by counts: on first touch, soon, or at the default.
  const std::uint64_t migrate_rules[] = {1, 64, config::kMigrateAuto};
  cfg.migrate_after = migrate_rules[derive(o_.seed, 77) % 3];
  if (o_.devices < 1 || o_.devices > 16) throw invalid_argument("stress: devices must be 1..16");
  sim::sim_config sc;
  sc.memory_bytes = std::max<std::size_t>(std::size_t{1} << 30, o_.device_memory);
  std::vector<std::unique_ptr<driver>> drivers;
  for (unsigned k = 0; k < o_.devices; ++k) {
    if (!o_.inject_failures) {
      drivers.push_back(sim::make_driver(sc));
      continue;
    }
    auto w = std::make_unique<testing::failing_driver>(sim::make_driver(sc), /*forward_peer=*/true);
    w->set_chooser([seed = o_.seed, k](testing::call, testing::thrown& t) {
      if (!injecting) return false;
      thread_local std::mt19937_64 rng(derive(seed, 0xfa11, k));
      if (rng() % 64 != 0) return false;
      t = static_cast<testing::thrown>(rng() % testing::kThrown);
      return true;
    });
    drivers.push_back(std::move(w));
  }
  rt_ = std::make_unique<runtime>(cfg, std::move(drivers));
  sim_ = rt_->device_driver().info().name == "sim";
  chunk_ = rt_->device_driver().info().chunk_bytes;
  budget_ = std::min(o_.device_memory, rt_->device_driver().info().memory_bytes) / chunk_ * chunk_;
  budget_chunks_ = budget_ / chunk_;
  budget_pages_ = budget_ / kPage;
  // Adaptive (block 0): a fault maps at most its chunk.
  block_pages_ = o_.block == 0 ? chunk_ / kPage : std::max<std::size_t>(1, o_.block / kPage);
  if (rt_->tracking() != o_.tracking && o_.tracking != tracking_mode::automatic) {
    fail(std::string("runtime uses tracking ") + tracking_name(rt_->tracking()) + ", asked for " +
         tracking_name(o_.tracking));
  }
  s_ = std::make_unique<stream>(rt_->create_stream());
  s_bg_ = std::make_unique<stream>(rt_->create_stream());
  for (unsigned k = 0; k < o_.devices; ++k) dev_streams_.push_back(std::make_unique<stream>(rt_->create_stream(k)));
  for (int i = 0; i < 3; ++i) kernel_streams_.push_back(std::make_unique<stream>(rt_->create_stream()));
#ifdef UMPAGER_STRESS_TSAN
  // libgomp is not instrumented: TSan cannot see a parallel kernel's team join and
  // reports its writes as racing with the copies that follow. Run the kernels of
  // this stream on the stream's own thread.
  std::vector<stream*> all{s_.get(), s_bg_.get()};
  for (auto& k : kernel_streams_) all.push_back(k.get());
  for (stream* st : all) {
    rt_->launch([] { omp_set_num_threads(1); }, *st);
    st->synchronize();
  }
#endif

  const unsigned T = o_.cpu_threads;
  own_.resize(T);
  sync_ = std::make_unique<std::barrier<>>(static_cast<std::ptrdiff_t>(T) + 1);
  for (unsigned w = 0; w < T; ++w) {
    workers_.push_back(std::make_unique<participant>());
    if (::pipe2(workers_[w]->pipe_fd, O_NONBLOCK | O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  }
  if (o_.signals) install_sigusr1();

  const auto t_start = steady::now();
  std::thread dog([this] { watchdog_main(); });
  std::thread sampler([this] { sampler_main(); });

  std::mt19937_64 ctl(derive(o_.seed, 0));
  allocs_.resize(o_.allocations);
  ctl_.last_ns.store(now_ns());
  ctl_.active.store(true);
  try {
    for (std::size_t i = 0; i < allocs_.size(); ++i) allocate_one(i, ctl);
  } catch (...) {
    dog_stop_ = true;
    dog.join();
    sampler.join();
    throw;
  }
  ctl_.active.store(false);
  check_stats(snapshot(), true);

  std::vector<std::thread> threads;
  for (unsigned w = 0; w < T; ++w) threads.emplace_back([this, w] { worker_main(w); });
  // Workers publish their pthread_t before the first barrier; the signal thread
  // starts after that barrier (below).
  std::thread sig;

  for (;;) {
    const double elapsed = std::chrono::duration<double>(steady::now() - t_start).count();
    // At least a few epochs even past the time budget: on a loaded machine (a
    // sanitizer build, CI beside other work) the set-up alone can use it all, and a
    // run without epochs would check nothing.
    constexpr std::uint64_t kMinEpochs = 3;
    const bool done = (elapsed >= o_.seconds && res_.epochs >= kMinEpochs) || mismatches_.load() > 0 ||
                      failures_.load() > 0;
    if (done) {
      sig_stop_ = true;
      if (sig.joinable()) sig.join();
      stop_ = true;
      sync_->arrive_and_wait();
      break;
    }
    ++epoch_;
    make_plan(ctl);
    end_epoch_ = false;
    workers_done_ = 0;
    sync_->arrive_and_wait();  // workers start
    if (o_.signals && !sig.joinable()) sig = std::thread([this] { signal_main(); });
    concurrent_ops(ctl);
    sync_->arrive_and_wait();  // workers done
    ++res_.epochs;
    check_locked();
    try {
      quiescent_ops(ctl);
      if (o_.residency && sim_ && ctl() % 2 == 0) residency_ops(ctl);
    } catch (const std::exception& e) {
      fail(std::string("controller op threw: ") + e.what());
    }
    check_stats(snapshot(), true);
    if (o_.verbose && epoch_.load() % 100 == 0) {
      std::fprintf(stderr, "umpager-stress: epoch %" PRIu64 " %.1f s\n", epoch_.load(), elapsed);
    }
  }
  for (auto& t : threads) t.join();

  // Final: every word of every allocation equals the model.
  ctl_.last_ns.store(now_ns());
  ctl_.active.store(true);
  if (mismatches_.load() == 0) {
    for (unsigned a = 0; a < allocs_.size(); ++a) verify(a, 0, allocs_[a].pages, "final verify");
  }
  const stats fin = snapshot();
  check_stats(fin, true);
  ctl_.active.store(false);
  dog_stop_ = true;
  dog.join();
  sampler.join();
  res_.elapsed_s = std::chrono::duration<double>(steady::now() - t_start).count();

  for (auto& w : workers_) {
    res_.cpu_reads += w->reads;
    res_.cpu_writes += w->writes;
    res_.locked_increments += w->locked;
    res_.syscall_ops += w->syscalls;
    res_.syscall_retries += w->retries;
    res_.words_checked += w->words;
    res_.max_op_ns = std::max(res_.max_op_ns, w->max_ns);
    res_.slow_ops += w->slow;
    ::close(w->pipe_fd[0]);
    ::close(w->pipe_fd[1]);
  }
  res_.ops = res_.cpu_reads + res_.cpu_writes + res_.locked_increments + res_.syscall_ops + res_.prefetches +
             res_.kernels + res_.device_checks + res_.reallocations + res_.hints;
  res_.signals_sent = signals_sent_.load();
  res_.final_stats = fin;
  res_.faults = fin.read_faults + fin.write_faults + fin.wp_faults;
  res_.max_device_bytes = max_device_.load();
  allocs_.clear();
  s_.reset();
  s_bg_.reset();
  dev_streams_.clear();
  kernel_streams_.clear();
  rt_.reset();
  res_.mismatches = mismatches_.load();
  res_.invariant_failures = failures_.load();
  res_.first_mismatch = first_mismatch_;
  res_.first_failure = first_failure_;
  return res_;
}

}  // namespace detail

std::string repro_command(const stress_options& o) {
  std::ostringstream c;
  c << "umpager-stress --seconds " << o.seconds << " --seed " << o.seed << " --threads " << o.cpu_threads
    << " --tracking " << to_string(o.tracking) << " --block " << size_text(o.block) << " --device-memory "
    << size_text(o.device_memory);
  if (o.resolvers != 2) c << " --resolvers " << o.resolvers;
  if (o.devices != 1) c << " --devices " << o.devices;
  if (o.host_memory != 0) c << " --host-memory " << size_text(o.host_memory);
  if (o.allocations != 3) c << " --allocations " << o.allocations;
  if (!o.signals) c << " --no-signals";
  if (!o.concurrent_prefetch) c << " --no-concurrent-prefetch";
  if (!o.syscalls) c << " --no-syscalls";
  if (o.concurrent_kernels) c << " --concurrent-kernels";
  if (o.inject_failures) c << " --inject-failures";
  if (!o.residency) c << " --no-residency";
  if (o.watchdog_seconds != 10) c << " --watchdog " << o.watchdog_seconds;
  if (o.locked_pages != 8) c << " --locked-pages " << o.locked_pages;
  if (o.min_alloc_bytes != (std::size_t{8} << 20)) c << " --alloc-min " << size_text(o.min_alloc_bytes);
  if (o.max_alloc_bytes != (std::size_t{16} << 20)) c << " --alloc-max " << size_text(o.max_alloc_bytes);
  return c.str();
}

std::string stress_result::summary(const stress_options& o) const {
  char b[1024];
  std::snprintf(b, sizeof b,
                "seed=%" PRIu64 " tracking=%s block=%s device=%s threads=%u: %.1f s, ops=%" PRIu64
                " (%.0f/s), words=%" PRIu64 ", mismatches=%" PRIu64 ", failures=%" PRIu64 ", faults=%" PRIu64
                ", epochs=%" PRIu64 ", prefetches=%" PRIu64 ", kernels=%" PRIu64 ", reallocs=%" PRIu64
                ", locked=%" PRIu64 ", syscalls=%" PRIu64 " (retries %" PRIu64 "), signals=%" PRIu64
                ", evicted=%" PRIu64 ", max_op=%.2f ms, slow_ops=%" PRIu64 ", max_device=%" PRIu64 "M, devices=%u"
                ", peer_moved=%" PRIu64 "M, read_ahead=%" PRIu64 "M, injected_prefetch_failures=%" PRIu64
                ", declared=%" PRIu64 " (reached %" PRIu64 ", migrated chunks %" PRIu64 "), hints=%" PRIu64
                ", thrashing=%" PRIu64,
                o.seed, to_string(o.tracking), size_text(o.block).c_str(), size_text(o.device_memory).c_str(),
                o.cpu_threads, elapsed_s, ops, elapsed_s > 0 ? static_cast<double>(ops) / elapsed_s : 0.0,
                words_checked, mismatches, invariant_failures, faults, epochs, prefetches, kernels, reallocations,
                locked_increments, syscall_ops, syscall_retries, signals_sent, final_stats.chunks_evicted,
                static_cast<double>(max_op_ns) / 1e6, slow_ops, max_device_bytes >> 20, o.devices,
                final_stats.bytes_device_to_device >> 20, final_stats.bytes_read_ahead >> 20, prefetch_failures,
                declared, reached, final_stats.chunks_migrated, hints, final_stats.thrashing_events);
  return b;
}

stress_result run_stress(const stress_options& o) {
  detail::engine e(o);
  return e.run();
}

}  // namespace umpager::stress
