// Internal to the stress engine (stress.hpp, docs/stress.md): what its source files
// share. stress.cpp runs the epochs (and holds the watchdog, the signal thread and
// the reporting of options/results); stress_model.cpp the shadow model and the
// invariant checks; stress_workers.cpp the CPU workers; stress_controller.cpp the
// controller's prefetches and kernels. Not part of the public API.
#pragma once

#include <pthread.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "stress.hpp"
#include "umpager/runtime.hpp"

namespace umpager::stress::detail {

using steady = std::chrono::steady_clock;
inline constexpr std::size_t kPage = 4096;
inline constexpr std::size_t kWords = kPage / sizeof(std::uint32_t);
inline constexpr std::int64_t kSlowNs = 100'000'000;  // 100 ms

/// What faults and prefetches copied home: read-ahead's copies run in the background,
/// beyond any one operation's range (stats reads the two consistently).
inline std::uint64_t demand_to_host(const stats& s) { return s.bytes_to_host - s.bytes_read_ahead; }
/// Read and write faults served between two snapshots. Messages only woken as stale
/// (a zap meanwhile, or their page mapped by someone else) are counted apart, in
/// stale_faults, so a late message of an earlier operation changes nothing here.
inline std::uint64_t served_faults(const stats& a, const stats& b) {
  return (b.read_faults - a.read_faults) + (b.write_faults - a.write_faults);
}

inline std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
/// Seed of one generator: (run seed, stream id, sub id).
inline std::uint64_t derive(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0) {
  return splitmix(seed ^ splitmix(a * 0x100000001B3ull + splitmix(b)));
}

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch()).count();
}

// Managed memory is read and written through volatile so each access is one real
// load or store (a fault when the page is not mapped).
inline std::uint32_t load(const std::uint32_t* p) { return *static_cast<const volatile std::uint32_t*>(p); }
inline void store(std::uint32_t* p, std::uint32_t v) { *static_cast<volatile std::uint32_t*>(p) = v; }

inline std::string hex(std::uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08" PRIx32, v);
  return b;
}

// ---------------------------------------------------------------------------

struct alloc_model {
  buffer buf;
  std::uint32_t* host = nullptr;
  std::uint32_t* dev = nullptr;
  std::size_t pages = 0;
  std::uint64_t generation = 0;
  std::vector<std::uint32_t> shadow;  ///< the model: every word's expected value
};

struct page_ref {
  std::uint32_t alloc;
  std::uint32_t page;
};

/// A page shared by all workers for one epoch: a mutex in ordinary memory guards
/// a counter in word 0 and its mirror in the last word (uffd-stress style).
struct locked_slot {
  page_ref ref{};
  std::mutex m;
  std::uint64_t increments = 0;  // under m
  std::uint32_t base0 = 0, base1 = 0;
};

enum op_kind : int { k_idle, k_read, k_read_run, k_write, k_write_run, k_locked, k_sys_out, k_sys_in, k_controller };
inline const char* op_name(int k) {
  static const char* names[] = {"idle",   "read",       "read_run",   "write",     "write_run",
                                "locked", "syscall_out", "syscall_in", "controller"};
  return k >= 0 && k <= k_controller ? names[k] : "?";
}

struct alignas(64) participant {
  std::atomic<std::int64_t> last_ns{0};  ///< end of the last completed op
  std::atomic<bool> active{false};       ///< inside an epoch's op loop
  std::atomic<int> kind{k_idle};
  pthread_t handle{};
  int pipe_fd[2] = {-1, -1};
  // Owned by the worker; read by the controller after a barrier.
  std::uint64_t reads = 0, writes = 0, locked = 0, syscalls = 0, retries = 0, words = 0;
  std::uint64_t max_ns = 0, slow = 0;
};

/// Set on a thread while it runs a prefetch: only those driver calls fail
/// (stress_options::inject_failures), never a resolver's.
inline thread_local bool injecting = false;

class engine {
 public:
  explicit engine(const stress_options& o) : o_(o) {}
  stress_result run();

 private:
  // --- setup and model -----------------------------------------------------
  void allocate_one(std::size_t index, std::mt19937_64& rng);
  void init_alloc(alloc_model& a, std::mt19937_64& rng);
  void make_plan(std::mt19937_64& rng);

  // --- workers -------------------------------------------------------------
  void worker_main(unsigned w);
  void worker_epoch(unsigned w);
  bool check(unsigned w, int kind, const page_ref& r, std::size_t word, std::uint32_t got);
  bool transfer(participant& me, bool to_pipe, int fd, void* p, std::size_t n);

  // --- controller ----------------------------------------------------------
  struct range {
    unsigned a;
    std::size_t first, pages;
  };
  range pick_range(std::mt19937_64& rng);
  void concurrent_ops(std::mt19937_64& rng);
  void quiescent_ops(std::mt19937_64& rng);
  /// stress_residency.cpp: declared kernels on several streams while s_bg_ prefetches
  /// and evicts; then every range they wrote is verified.
  void residency_ops(std::mt19937_64& rng);
  /// Advice on a random range, a policy change or an attach round trip (no data change).
  void hint(std::mt19937_64& rng);
  void read_mostly_op(std::mt19937_64& rng);
  void check_locked();
  void verify(unsigned a, std::size_t first, std::size_t pages, const char* why);
  void reallocate(std::mt19937_64& rng);
  stats snapshot();
  void check_budget(const stats& s, const char* after);
  void check_stats(const stats& s, bool quiescent);
  /// Re-reads the statistics until `ok` holds or 2 s pass (counters that resolvers
  /// update after waking the faulting thread); returns the last snapshot.
  template <class Pred>
  stats settle(const stats& s, Pred&& ok);
  void beat() { ctl_.last_ns.store(now_ns(), std::memory_order_relaxed); }
  /// `wait`: synchronizes the prefetch's completion too (a move home on a stream is
  /// mapped by it), retried with the prefetch under injected failures.
  void prefetch(const range& r, location where, stream_view s, unsigned device = 0, bool wait = false);
  /// runtime::prefetch; with inject_failures, failures are retried (the data must not change).
  void prefetch_at(const void* p, std::size_t bytes, location where, stream_view s, unsigned device = 0,
                   bool wait = false);
  /// A device for the next device operation (0 with one device).
  unsigned pick_device(std::mt19937_64& rng) const {
    return o_.devices > 1 ? static_cast<unsigned>(rng() % o_.devices) : 0u;
  }
  /// After a kernel on [first, first+pages) of `a`: prefetching the range again must
  /// move nothing (a kernel changes no page state). It also takes the range's chunk
  /// locks after the kernel, which orders the kernel's writes before later resolver
  /// copies for ThreadSanitizer (a fault message is an ordering TSan cannot see).
  void after_kernel(unsigned a, std::size_t first, std::size_t pages, stream& st, bool quiescent = true,
                    unsigned device = 0);
  /// During the CPU phase: prefetch the epoch's kernel window and run add on it.
  void window_kernel(std::mt19937_64& rng);

  // --- reporting -----------------------------------------------------------
  void mismatch(const std::string& what);
  void fail(const std::string& what);
  void watchdog_main();
  void sampler_main();
  void signal_main();

  const stress_options& o_;
  std::unique_ptr<runtime> rt_;
  std::unique_ptr<stream> s_;     // quiescent device work
  std::unique_ptr<stream> s_bg_;  // concurrent prefetches
  std::vector<std::unique_ptr<stream>> dev_streams_;  // quiescent device work, by device
  std::vector<std::unique_ptr<stream>> kernel_streams_;  // residency_ops: declared kernels, device 0
  bool sim_ = false;
  std::size_t chunk_ = 0, budget_ = 0, budget_chunks_ = 0, budget_pages_ = 0, block_pages_ = 0;
  std::vector<alloc_model> allocs_;
  std::uint64_t next_generation_ = 1;

  // Epoch plan (written by the controller before the start barrier).
  std::atomic<std::uint64_t> epoch_{0};  // read by the watchdog too
  std::vector<std::vector<page_ref>> own_;
  std::vector<page_ref> ro_;
  std::vector<std::unique_ptr<locked_slot>> locked_;
  /// --concurrent-kernels: a contiguous range no worker touches this epoch, on which
  /// the controller runs kernels while the workers run.
  bool window_valid_ = false;
  range window_{};

  std::vector<std::unique_ptr<participant>> workers_;
  participant ctl_;
  participant sampler_;  // polls statistics(): a runtime lock held forever shows up here too
  std::unique_ptr<std::barrier<>> sync_;
  std::atomic<bool> stop_{false};        // workers leave at the next start barrier
  std::atomic<bool> end_epoch_{false};   // workers cut the epoch short (a mismatch)
  std::atomic<unsigned> workers_done_{0};
  std::atomic<bool> sig_stop_{false}, dog_stop_{false};
  std::atomic<std::uint64_t> signals_sent_{0};
  std::atomic<std::uint64_t> max_device_{0};

  std::atomic<std::uint64_t> mismatches_{0}, failures_{0};
  std::mutex report_mutex_;
  std::string first_mismatch_, first_failure_;

  stats last_{};
  stress_result res_;
};

template <class Pred>
stats engine::settle(const stats& s, Pred&& ok) {
  stats x = s;
  for (int i = 0; i < 2000 && !ok(x); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    x = snapshot();
    beat();
  }
  return x;
}

}  // namespace umpager::stress::detail
