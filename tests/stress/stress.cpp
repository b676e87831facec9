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
#include "stress.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sim/sim_driver.hpp"

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
#include "umpager/kernels.hpp"
#include "umpager/runtime.hpp"

namespace umpager::stress {
namespace {

using steady = std::chrono::steady_clock;
constexpr std::size_t kPage = 4096;
constexpr std::size_t kWords = kPage / sizeof(std::uint32_t);
constexpr std::int64_t kSlowNs = 100'000'000;  // 100 ms

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
/// Seed of one generator: (run seed, stream id, sub id).
std::uint64_t derive(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0) {
  return splitmix(seed ^ splitmix(a * 0x100000001B3ull + splitmix(b)));
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch()).count();
}

// Managed memory is read and written through volatile so each access is one real
// load or store (a fault when the page is not mapped).
inline std::uint32_t load(const std::uint32_t* p) { return *static_cast<const volatile std::uint32_t*>(p); }
inline void store(std::uint32_t* p, std::uint32_t v) { *static_cast<volatile std::uint32_t*>(p) = v; }

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

std::string hex(std::uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08" PRIx32, v);
  return b;
}

const char* tracking_name(tracking_mode t) { return to_string(t); }

std::string size_text(std::size_t b) {
  if (b % (std::size_t{1} << 20) == 0) return std::to_string(b >> 20) + "M";
  if (b % 1024 == 0) return std::to_string(b >> 10) + "K";
  return std::to_string(b);
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
const char* op_name(int k) {
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
  void prefetch(const range& r, location where, stream_view s);
  /// After a kernel on [first, first+pages) of `a`: prefetching the range again must
  /// move nothing (a kernel changes no page state). It also takes the range's chunk
  /// locks after the kernel, which orders the kernel's writes before later resolver
  /// copies for ThreadSanitizer (a fault message is an ordering TSan cannot see).
  void after_kernel(unsigned a, std::size_t first, std::size_t pages, stream& st, bool quiescent = true);
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

// ---------------------------------------------------------------------------

void engine::mismatch(const std::string& what) {
  if (mismatches_.fetch_add(1) == 0) {
    std::lock_guard g(report_mutex_);
    first_mismatch_ = what;
    std::fprintf(stderr, "umpager-stress: MISMATCH (seed %" PRIu64 "): %s\n", o_.seed, what.c_str());
  }
  end_epoch_ = true;
}

void engine::fail(const std::string& what) {
  if (failures_.fetch_add(1) == 0) {
    std::lock_guard g(report_mutex_);
    first_failure_ = what;
    std::fprintf(stderr, "umpager-stress: FAILURE (seed %" PRIu64 "): %s\n", o_.seed, what.c_str());
  }
  end_epoch_ = true;
}

stats engine::snapshot() {
  stats s = rt_->statistics();
  std::uint64_t seen = max_device_.load();
  while (s.device_bytes_in_use > seen && !max_device_.compare_exchange_weak(seen, s.device_bytes_in_use)) {
  }
  return s;
}

void engine::check_budget(const stats& s, const char* after) {
  if (s.device_bytes_in_use > budget_) {
    fail(std::string("device memory over budget after ") + after + ": " + std::to_string(s.device_bytes_in_use) +
         " > " + std::to_string(budget_));
  }
}

void engine::check_stats(const stats& s, bool quiescent) {
  auto expect = [&](bool ok, const std::string& what) {
    if (!ok) fail("statistics: " + what);
  };
  expect(s.bytes_to_device % kPage == 0, "bytes_to_device " + std::to_string(s.bytes_to_device) + " not a multiple of 4096");
  expect(s.bytes_to_host % kPage == 0, "bytes_to_host " + std::to_string(s.bytes_to_host) + " not a multiple of 4096");
  expect(s.pages_poisoned == 0, "pages_poisoned " + std::to_string(s.pages_poisoned) + " (no fault was injected)");
  expect(s.device_bytes_in_use <= budget_, "device_bytes_in_use over budget");
  expect(s.device_bytes_in_use % chunk_ == 0, "device_bytes_in_use not a multiple of the chunk size");
  if (rt_->tracking() == tracking_mode::wp_async) {
    expect(s.wp_faults == 0, "wp_faults " + std::to_string(s.wp_faults) + " under wp_async tracking");
  } else {
    expect(s.written_pages_found == 0, "written_pages_found under sync tracking");
  }
  // Counters only grow.
  expect(s.read_faults >= last_.read_faults && s.write_faults >= last_.write_faults &&
             s.wp_faults >= last_.wp_faults && s.pages_continued >= last_.pages_continued &&
             s.bytes_to_device >= last_.bytes_to_device && s.bytes_to_host >= last_.bytes_to_host &&
             s.chunks_evicted >= last_.chunks_evicted && s.written_pages_found >= last_.written_pages_found,
         "a counter went down");
  if (quiescent) {
    // A page is copied home only when it is then mapped (fault, prefetch to host) or
    // its chunk is evicted. Resolvers count pages_continued after waking the thread,
    // so give them a moment to finish the last block.
    const std::uint64_t evicted_pages = s.chunks_evicted * (chunk_ / kPage);
    const stats settled = settle(s, [&](const stats& x) { return s.bytes_to_host / kPage <= x.pages_continued + evicted_pages; });
    expect(s.bytes_to_host / kPage <= settled.pages_continued + evicted_pages,
           "bytes_to_host/4096 = " + std::to_string(s.bytes_to_host / kPage) + " > pages_continued " +
               std::to_string(settled.pages_continued) + " + evicted chunk pages " + std::to_string(evicted_pages));
    std::uint64_t live = 0;
    for (const auto& a : allocs_) live += a.pages * kPage;
    expect(s.managed_bytes == live,
           "managed_bytes " + std::to_string(s.managed_bytes) + " != live allocations " + std::to_string(live));
  }
  last_ = s;
}

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

// ---------------------------------------------------------------------------

void engine::allocate_one(std::size_t index, std::mt19937_64& rng) {
  const std::size_t unit = std::max(o_.block, kPage);
  const std::size_t lo = std::max(unit, o_.min_alloc_bytes / unit * unit);
  const std::size_t hi = std::max(lo, o_.max_alloc_bytes / unit * unit);
  const std::size_t bytes = lo + (rng() % ((hi - lo) / unit + 1)) * unit;
  alloc_model& a = allocs_[index];
  a.buf = rt_->allocate(bytes);
  a.host = a.buf.as<std::uint32_t>();
  a.dev = static_cast<std::uint32_t*>(a.buf.device_data());
  a.pages = a.buf.size() / kPage;
  a.generation = next_generation_++;
  a.shadow.assign(a.pages * kWords, 0);
  init_alloc(a, rng);
}

void engine::init_alloc(alloc_model& a, std::mt19937_64& rng) {
  const std::size_t piece_pages = budget_chunks_ * (chunk_ / kPage);
  if (rng() % 2 == 0) {
    // CPU fill, then the first prefetch must upload exactly the piece (all pages host).
    const std::uint64_t salt = rng();
    for (std::size_t p = 0; p < a.pages; ++p) {
      for (std::size_t w = 0; w < kWords; ++w) {
        const std::size_t i = p * kWords + w;
        a.shadow[i] = static_cast<std::uint32_t>(splitmix(salt + i));
        store(a.host + i, a.shadow[i]);
      }
      beat();
    }
    const std::size_t n = std::min(piece_pages, a.pages);
    const stats s0 = snapshot();
    rt_->prefetch(a.host, n * kPage, location::device, *s_);
    ++res_.prefetches;
    const stats s1 = snapshot();
    if (s1.bytes_to_device - s0.bytes_to_device != n * kPage) {
      fail("first prefetch of a CPU-filled allocation uploaded " + std::to_string(s1.bytes_to_device - s0.bytes_to_device) +
           " bytes, expected " + std::to_string(n * kPage));
    }
    check_budget(s1, "first prefetch");
  } else {
    // Device fill, piece by piece: each first prefetch uploads exactly its piece.
    for (std::size_t p = 0; p < a.pages; p += piece_pages) {
      const std::size_t n = std::min(piece_pages, a.pages - p);
      const stats s0 = snapshot();
      rt_->prefetch(a.host + p * kWords, n * kPage, location::device, *s_);
      ++res_.prefetches;
      const stats s1 = snapshot();
      if (s1.bytes_to_device - s0.bytes_to_device != n * kPage) {
        fail("first prefetch of a fresh allocation uploaded " + std::to_string(s1.bytes_to_device - s0.bytes_to_device) +
             " bytes, expected " + std::to_string(n * kPage));
      }
      check_budget(s1, "first prefetch");
      const auto seed = static_cast<std::uint32_t>(rng());
      kernels::fill_index(rt_->device_driver(), s_->handle(), a.dev + p * kWords, n * kWords, seed);
      s_->synchronize();
      ++res_.kernels;
      after_kernel(static_cast<unsigned>(&a - allocs_.data()), p, n, *s_);
      for (std::size_t i = 0; i < n * kWords; ++i) a.shadow[p * kWords + i] = static_cast<std::uint32_t>(i) + seed;
      beat();
    }
  }
}

void engine::make_plan(std::mt19937_64& rng) {
  const unsigned T = o_.cpu_threads;
  for (auto& v : own_) v.clear();
  ro_.clear();
  locked_.clear();
  std::vector<std::vector<std::uint8_t>> is_locked(allocs_.size());
  for (std::size_t a = 0; a < allocs_.size(); ++a) is_locked[a].assign(allocs_[a].pages, 0);
  // 1: a locked page, 2: in the kernel window (no worker touches it).
  window_valid_ = false;
  if (o_.concurrent_kernels) {
    window_ = pick_range(rng);
    window_valid_ = true;
    for (std::size_t p = window_.first; p < window_.first + window_.pages; ++p) is_locked[window_.a][p] = 2;
  }
  for (unsigned i = 0; i < o_.locked_pages; ++i) {
    const auto a = static_cast<std::uint32_t>(rng() % allocs_.size());
    const auto p = static_cast<std::uint32_t>(rng() % allocs_[a].pages);
    if (is_locked[a][p]) continue;
    is_locked[a][p] = 1;
    auto slot = std::make_unique<locked_slot>();
    slot->ref = {a, p};
    slot->base0 = allocs_[a].shadow[p * kWords];
    slot->base1 = allocs_[a].shadow[p * kWords + kWords - 1];
    locked_.push_back(std::move(slot));
  }
  const unsigned ro_pct = 10 + static_cast<unsigned>(rng() % 60);
  for (std::uint32_t a = 0; a < allocs_.size(); ++a) {
    for (std::uint32_t p = 0; p < allocs_[a].pages; ++p) {
      if (is_locked[a][p]) continue;
      const std::uint64_t r = rng();
      if (r % 100 < ro_pct) ro_.push_back({a, p});
      else own_[(r >> 32) % T].push_back({a, p});
    }
  }
}

// ---------------------------------------------------------------------------

bool engine::check(unsigned w, int kind, const page_ref& r, std::size_t word, std::uint32_t got) {
  alloc_model& a = allocs_[r.alloc];
  const std::size_t i = r.page * kWords + word;
  const std::uint32_t want = a.shadow[i];
  if (got == want) return true;
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const std::uint32_t again = load(a.host + i);
  std::ostringstream m;
  m << "epoch " << epoch_.load() << " thread " << w << " op " << op_name(kind) << ": allocation " << r.alloc << " (gen "
    << a.generation << ", " << a.pages << " pages) page " << r.page << " word " << word << " (byte offset "
    << i * 4 << "): expected " << hex(want) << ", read " << hex(got) << ", re-read 1 ms later " << hex(again);
  mismatch(m.str());
  return false;
}

/// Moves n bytes through a pipe with read(2)/write(2), retrying the short or EFAULT
/// transfers a signal causes while the kernel waits on a fault in the buffer.
bool engine::transfer(participant& me, bool to_pipe, int fd, void* p, std::size_t n) {
  auto* b = static_cast<char*>(p);
  std::size_t done = 0;
  int efaults = 0;
  while (done < n) {
    const ssize_t r = to_pipe ? ::write(fd, b + done, n - done) : ::read(fd, b + done, n - done);
    if (r > 0) {
      done += static_cast<std::size_t>(r);
      if (done < n) ++me.retries;
      continue;
    }
    const int e = r < 0 ? errno : 0;
    if (e == EINTR || (e == EFAULT && o_.signals && ++efaults < 100000)) {
      ++me.retries;
      continue;
    }
    fail(std::string(to_pipe ? "write(2) from" : "read(2) into") + " managed memory failed after " +
         std::to_string(done) + " of " + std::to_string(n) + " bytes: " + (r == 0 ? "EOF" : std::strerror(e)));
    return false;
  }
  return true;
}

void engine::worker_main(unsigned w) {
  workers_[w]->handle = ::pthread_self();
  for (;;) {
    sync_->arrive_and_wait();  // epoch start
    if (stop_.load()) return;
    worker_epoch(w);
    workers_done_.fetch_add(1);
    sync_->arrive_and_wait();  // epoch end
  }
}

void engine::worker_epoch(unsigned w) {
  participant& me = *workers_[w];
  std::mt19937_64 rng(derive(o_.seed, epoch_.load(), w + 1));
  const std::vector<page_ref>& own = own_[w];
  const std::vector<page_ref>& ro = ro_;
  const std::size_t n_ops = 200 + rng() % 6000;
  std::size_t cur_own = rng(), cur_ro = rng();
  std::uint32_t local[kWords];

  auto pick = [&](const std::vector<page_ref>& v, std::size_t& cur) -> const page_ref& {
    if (rng() % 2 == 0) cur = rng() % v.size();
    else cur = (cur + 1) % v.size();  // walk on: neighbours share a block
    return v[cur];
  };
  auto pick_readable = [&]() -> const page_ref* {
    if (!own.empty() && (ro.empty() || rng() % 2 == 0)) return &pick(own, cur_own);
    if (!ro.empty()) return &pick(ro, cur_ro);
    return nullptr;
  };

  std::int64_t t0 = now_ns();
  me.last_ns.store(t0, std::memory_order_relaxed);
  me.active.store(true);
  for (std::size_t op = 0; op < n_ops && !end_epoch_.load(std::memory_order_relaxed); ++op) {
    const unsigned dice = static_cast<unsigned>(rng() % 100);
    int kind;
    if (dice < 40) kind = k_read;
    else if (dice < 50) kind = k_read_run;
    else if (dice < 72) kind = k_write;
    else if (dice < 78) kind = k_write_run;
    else if (dice < 92) kind = k_locked;
    else if (dice < 96) kind = k_sys_out;
    else kind = k_sys_in;
    if ((kind == k_write || kind == k_write_run || kind == k_sys_in) && own.empty()) kind = k_read;
    if (kind == k_locked && locked_.empty()) kind = k_read;
    if ((kind == k_sys_out || kind == k_sys_in) && !o_.syscalls) kind = k_read;
    me.kind.store(kind, std::memory_order_relaxed);

    switch (kind) {
      case k_read: {
        const page_ref* r = pick_readable();
        if (r == nullptr) break;
        const std::size_t word = rng() % kWords;
        check(w, kind, *r, word, load(allocs_[r->alloc].host + r->page * kWords + word));
        ++me.reads;
        ++me.words;
        break;
      }
      case k_read_run: {
        const page_ref* r = pick_readable();
        if (r == nullptr) break;
        const std::size_t w0 = rng() % kWords;
        const std::size_t n = 1 + rng() % (kWords - w0);
        const std::uint32_t* base = allocs_[r->alloc].host + r->page * kWords;
        for (std::size_t x = w0; x < w0 + n; ++x) {
          if (!check(w, kind, *r, x, load(base + x))) break;
        }
        ++me.reads;
        me.words += n;
        break;
      }
      case k_write: {
        const page_ref& r = pick(own, cur_own);
        const std::size_t word = rng() % kWords;
        const auto v = static_cast<std::uint32_t>(rng());
        alloc_model& a = allocs_[r.alloc];
        store(a.host + r.page * kWords + word, v);
        a.shadow[r.page * kWords + word] = v;
        if (rng() % 4 == 0) {  // read it back at once
          check(w, kind, r, word, load(a.host + r.page * kWords + word));
          ++me.words;
        }
        ++me.writes;
        break;
      }
      case k_write_run: {
        const page_ref& r = pick(own, cur_own);
        const std::size_t w0 = rng() % kWords;
        const std::size_t n = 1 + rng() % (kWords - w0);
        const auto v = static_cast<std::uint32_t>(rng());
        alloc_model& a = allocs_[r.alloc];
        for (std::size_t x = w0; x < w0 + n; ++x) {
          store(a.host + r.page * kWords + x, v + static_cast<std::uint32_t>(x));
          a.shadow[r.page * kWords + x] = v + static_cast<std::uint32_t>(x);
        }
        ++me.writes;
        break;
      }
      case k_locked: {
        locked_slot& s = *locked_[rng() % locked_.size()];
        alloc_model& a = allocs_[s.ref.alloc];
        std::uint32_t* page = a.host + s.ref.page * kWords;
        std::uint32_t* sh = a.shadow.data() + s.ref.page * kWords;
        std::lock_guard g(s.m);
        check(w, kind, s.ref, 0, load(page));
        check(w, kind, s.ref, kWords - 1, load(page + kWords - 1));
        ++sh[0];
        ++sh[kWords - 1];
        store(page, sh[0]);
        store(page + kWords - 1, sh[kWords - 1]);
        ++s.increments;
        ++me.locked;
        me.words += 2;
        break;
      }
      case k_sys_out: {  // write(2) from managed memory, compare what came through
        const page_ref* r = pick_readable();
        if (r == nullptr) break;
        const std::size_t w0 = rng() % kWords;
        const std::size_t n = 1 + rng() % (kWords - w0);
        std::uint32_t* src = allocs_[r->alloc].host + r->page * kWords + w0;
        if (transfer(me, true, me.pipe_fd[1], src, n * 4) && transfer(me, false, me.pipe_fd[0], local, n * 4)) {
          for (std::size_t x = 0; x < n; ++x) {
            if (!check(w, kind, *r, w0 + x, local[x])) break;
          }
        }
        ++me.syscalls;
        me.words += n;
        break;
      }
      case k_sys_in: {  // read(2) into managed memory
        const page_ref& r = pick(own, cur_own);
        const std::size_t w0 = rng() % kWords;
        const std::size_t n = 1 + rng() % (kWords - w0);
        const auto v = static_cast<std::uint32_t>(rng());
        for (std::size_t x = 0; x < n; ++x) local[x] = v ^ static_cast<std::uint32_t>(x * 0x9E3779B1u);
        alloc_model& a = allocs_[r.alloc];
        if (transfer(me, true, me.pipe_fd[1], local, n * 4) &&
            transfer(me, false, me.pipe_fd[0], a.host + r.page * kWords + w0, n * 4)) {
          for (std::size_t x = 0; x < n; ++x) a.shadow[r.page * kWords + w0 + x] = local[x];
        }
        ++me.syscalls;
        break;
      }
      default:
        break;
    }
    const std::int64_t t1 = now_ns();
    const auto ns = static_cast<std::uint64_t>(t1 - t0);
    if (ns > me.max_ns) me.max_ns = ns;
    if (ns > static_cast<std::uint64_t>(kSlowNs)) ++me.slow;
    me.last_ns.store(t1, std::memory_order_relaxed);
    t0 = t1;
  }
  me.active.store(false);
  me.kind.store(k_idle, std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------

engine::range engine::pick_range(std::mt19937_64& rng) {
  const auto a = static_cast<unsigned>(rng() % allocs_.size());
  const std::size_t P = allocs_[a].pages;
  const std::size_t maxp = std::min(P, budget_pages_);
  std::size_t len;
  const unsigned c = static_cast<unsigned>(rng() % 10);
  if (c < 3) len = 1 + rng() % 16;
  else if (c < 7) len = 1 + rng() % 512;
  else len = 1 + rng() % maxp;
  len = std::min(len, maxp);
  std::size_t first = rng() % (P - len + 1);
  if (rng() % 4 == 0) first = first / block_pages_ * block_pages_;
  const std::size_t ppc = chunk_ / kPage;
  auto span = [&] { return (first + len - 1) / ppc - first / ppc + 1; };
  while (len > 1 && span() > budget_chunks_) --len;
  return {a, first, len};
}

void engine::prefetch(const range& r, location where, stream_view s) {
  rt_->prefetch(allocs_[r.a].host + r.first * kWords, r.pages * kPage, where, s);
  ++res_.prefetches;
  beat();
}

void engine::after_kernel(unsigned a, std::size_t first, std::size_t pages, stream& st, bool quiescent) {
  const stats s0 = snapshot();
  rt_->prefetch(allocs_[a].host + first * kWords, pages * kPage, location::device, st);
  ++res_.prefetches;
  const stats s1 = snapshot();
  // Only prefetches (this thread) upload and evict; resolvers copy home concurrently.
  if (s1.bytes_to_device != s0.bytes_to_device || (quiescent && s1.bytes_to_host != s0.bytes_to_host) ||
      s1.chunks_evicted != s0.chunks_evicted) {
    fail("prefetch of a range right after a kernel on it moved data: to_device +" +
         std::to_string(s1.bytes_to_device - s0.bytes_to_device) + " to_host +" +
         std::to_string(s1.bytes_to_host - s0.bytes_to_host) + " evicted +" +
         std::to_string(s1.chunks_evicted - s0.chunks_evicted));
  }
  beat();
}

void engine::concurrent_ops(std::mt19937_64& rng) {
  if (!o_.concurrent_prefetch) return;
  ctl_.kind.store(k_controller);
  ctl_.last_ns.store(now_ns());
  ctl_.active.store(true);
  for (int i = 0; i < 64 && workers_done_.load() < o_.cpu_threads && !end_epoch_.load(); ++i) {
    if (window_valid_ && rng() % 3 == 0) {
      window_kernel(rng);
      continue;
    }
    const range r = pick_range(rng);
    const location where = rng() % 3 == 0 ? location::host : location::device;
    try {
      prefetch(r, where, *s_bg_);
    } catch (const std::exception& e) {
      fail(std::string("concurrent prefetch threw: ") + e.what());
    }
    check_budget(snapshot(), "a concurrent prefetch");
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 400));
    beat();
  }
  ctl_.active.store(false);
}

void engine::window_kernel(std::mt19937_64& rng) {
  const range& r = window_;
  alloc_model& a = allocs_[r.a];
  const std::size_t words = r.pages * kWords;
  try {
    prefetch(r, location::device, *s_bg_);
    check_budget(snapshot(), "prefetch before a concurrent kernel");
    const auto delta = static_cast<std::uint32_t>(rng() | 1);
    kernels::add(rt_->device_driver(), s_bg_->handle(), a.dev + r.first * kWords, words, delta);
    s_bg_->synchronize();
    for (std::size_t x = 0; x < words; ++x) a.shadow[r.first * kWords + x] += delta;  // no worker reads the window
    ++res_.kernels;
    // No re-prefetch here (after_kernel): it would zap the window again and hide a host
    // copy that a resolver's read-ahead took while the kernel ran (docs/stress.md, bug 3).
  } catch (const std::exception& e) {
    fail(std::string("kernel on the window during the CPU phase threw: ") + e.what());
  }
  beat();
}

void engine::check_locked() {
  for (const auto& s : locked_) {
    const alloc_model& a = allocs_[s->ref.alloc];
    const std::size_t i = s->ref.page * kWords;
    const auto want0 = static_cast<std::uint32_t>(s->base0 + s->increments);
    const auto want1 = static_cast<std::uint32_t>(s->base1 + s->increments);
    const std::uint32_t got0 = load(a.host + i), got1 = load(a.host + i + kWords - 1);
    if (got0 != want0 || got1 != want1 || a.shadow[i] != want0) {
      std::ostringstream m;
      m << "epoch " << epoch_.load() << ": locked counter page " << s->ref.page << " of allocation " << s->ref.alloc
        << ": " << s->increments << " increments from " << hex(s->base0) << "/" << hex(s->base1) << " should give "
        << hex(want0) << "/" << hex(want1) << ", page holds " << hex(got0) << "/" << hex(got1);
      mismatch(m.str());
    }
    res_.words_checked += 2;
  }
}

void engine::verify(unsigned ai, std::size_t first, std::size_t pages, const char* why) {
  alloc_model& a = allocs_[ai];
  for (std::size_t p = first; p < first + pages; ++p) {
    for (std::size_t w = 0; w < kWords; ++w) {
      const std::size_t i = p * kWords + w;
      const std::uint32_t got = load(a.host + i);
      if (got != a.shadow[i]) {
        std::ostringstream m;
        m << "epoch " << epoch_.load() << " controller " << why << ": allocation " << ai << " (gen " << a.generation
          << ") page " << p << " word " << w << ": expected " << hex(a.shadow[i]) << ", read " << hex(got);
        mismatch(m.str());
        res_.words_checked += i - p * kWords;
        return;
      }
    }
    res_.words_checked += kWords;
    beat();
  }
}

void engine::reallocate(std::mt19937_64& rng) {
  const auto ai = static_cast<unsigned>(rng() % allocs_.size());
  verify(ai, 0, allocs_[ai].pages, "verify before free");  // no write lost, whole allocation
  allocs_[ai].buf.reset();
  allocs_[ai].shadow.clear();
  allocs_[ai].pages = 0;
  const stats s = snapshot();
  check_budget(s, "free");
  allocate_one(ai, rng);
  ++res_.reallocations;
}

void engine::quiescent_ops(std::mt19937_64& rng) {
  ctl_.kind.store(k_controller);
  ctl_.last_ns.store(now_ns());
  ctl_.active.store(true);
  const unsigned n = 1 + static_cast<unsigned>(rng() % 4);
  for (unsigned i = 0; i < n && failures_.load() == 0; ++i) {
    const unsigned dice = static_cast<unsigned>(rng() % 100);
    const range r = pick_range(rng);
    alloc_model& a = allocs_[r.a];
    const std::size_t words = r.pages * kWords;
    std::uint32_t* dev = a.dev + r.first * kWords;
    const stats s0 = snapshot();
    if (dice < 35) {
      // Kernel add on a range made resident first.
      prefetch(r, location::device, *s_);
      const stats s1 = snapshot();
      check_budget(s1, "prefetch before a kernel");
      if (s1.bytes_to_device - s0.bytes_to_device > r.pages * kPage) fail("prefetch uploaded more than its range");
      const auto delta = static_cast<std::uint32_t>(rng() | 1);
      kernels::add(rt_->device_driver(), s_->handle(), dev, words, delta);
      s_->synchronize();
      after_kernel(r.a, r.first, r.pages, *s_);
      for (std::size_t x = 0; x < words; ++x) a.shadow[r.first * kWords + x] += delta;
      ++res_.kernels;
    } else if (dice < 45) {
      prefetch(r, location::device, *s_);
      check_budget(snapshot(), "prefetch before a kernel");
      const auto seed = static_cast<std::uint32_t>(rng());
      kernels::fill_index(rt_->device_driver(), s_->handle(), dev, words, seed);
      s_->synchronize();
      after_kernel(r.a, r.first, r.pages, *s_);
      for (std::size_t x = 0; x < words; ++x) a.shadow[r.first * kWords + x] = static_cast<std::uint32_t>(x) + seed;
      ++res_.kernels;
    } else if (dice < 60) {
      // Prefetch to device twice: the second moves nothing.
      prefetch(r, location::device, *s_);
      const stats s1 = snapshot();
      check_budget(s1, "prefetch to device");
      if (s1.bytes_to_device - s0.bytes_to_device > r.pages * kPage) fail("prefetch uploaded more than its range");
      if (s1.chunks_evicted - s0.chunks_evicted > budget_chunks_) fail("one prefetch evicted more chunks than it maps");
      prefetch(r, location::device, *s_);
      const stats s2 = snapshot();
      if (s2.bytes_to_device != s1.bytes_to_device || s2.bytes_to_host != s1.bytes_to_host ||
          s2.chunks_evicted != s1.chunks_evicted) {
        fail("a second prefetch of a resident, unwritten range moved data: to_device +" +
             std::to_string(s2.bytes_to_device - s1.bytes_to_device) + " to_host +" +
             std::to_string(s2.bytes_to_host - s1.bytes_to_host) + " evicted +" +
             std::to_string(s2.chunks_evicted - s1.chunks_evicted));
      }
    } else if (dice < 72) {
      // Prefetch to host: copies at most the range, uploads and evicts nothing, and
      // reading the range afterwards raises no fault.
      prefetch(r, location::host, *s_);
      const stats s1 = snapshot();
      if (s1.bytes_to_device != s0.bytes_to_device || s1.chunks_evicted != s0.chunks_evicted ||
          s1.bytes_to_host - s0.bytes_to_host > r.pages * kPage) {
        fail("prefetch to host of " + std::to_string(r.pages) + " pages: to_device +" +
             std::to_string(s1.bytes_to_device - s0.bytes_to_device) + " to_host +" +
             std::to_string(s1.bytes_to_host - s0.bytes_to_host) + " evicted +" +
             std::to_string(s1.chunks_evicted - s0.chunks_evicted));
      }
      verify(r.a, r.first, r.pages, "read after prefetch to host");
      const stats s2 = snapshot();
      if (s2.read_faults != s1.read_faults || s2.write_faults != s1.write_faults) {
        fail("reading " + std::to_string(r.pages) + " pages just prefetched to the host raised " +
             std::to_string(s2.read_faults - s1.read_faults) + " read faults");
      }
    } else if (dice < 84) {
      // Read back a device-resident range: every page comes home exactly once, and
      // is mapped by UFFDIO_CONTINUE.
      prefetch(r, location::device, *s_);
      const stats s1 = snapshot();
      verify(r.a, r.first, r.pages, "read back after prefetch to device");
      const stats s2 = settle(snapshot(), [&](const stats& x) { return x.pages_continued - s1.pages_continued >= r.pages; });
      const std::size_t first_block = r.first / block_pages_, end_block = (r.first + r.pages + block_pages_ - 1) / block_pages_;
      const std::uint64_t lo = r.pages * kPage, hi = (end_block - first_block) * block_pages_ * kPage;
      const std::uint64_t got = s2.bytes_to_host - s1.bytes_to_host;
      const std::uint64_t faults = (s2.read_faults - s1.read_faults) + (s2.write_faults - s1.write_faults);
      if (got < lo || got > hi || faults == 0 || faults > r.pages || s2.pages_continued - s1.pages_continued < r.pages) {
        fail("reading back " + std::to_string(r.pages) + " device pages (first " + std::to_string(r.first) +
             "): to_host +" + std::to_string(got) + " (expected " + std::to_string(lo) + ".." + std::to_string(hi) +
             "), faults +" + std::to_string(faults) + " (expected 1.." + std::to_string(r.pages) + "), continued +" +
             std::to_string(s2.pages_continued - s1.pages_continued) + " (expected >= " + std::to_string(r.pages) + ")");
      }
    } else if (dice < 94 && sim_) {
      // The device copy itself equals the model (read by a function on the device).
      prefetch(r, location::device, *s_);
      check_budget(snapshot(), "prefetch to device");
      std::size_t bad_at = words;
      std::uint32_t bad_val = 0;
      const std::uint32_t* want = a.shadow.data() + r.first * kWords;
      rt_->launch(
          [&] {
            for (std::size_t x = 0; x < words; ++x) {
              if (dev[x] != want[x]) {
                bad_at = x;
                bad_val = dev[x];
                break;
              }
            }
          },
          *s_);
      s_->synchronize();
      res_.words_checked += words;
      ++res_.device_checks;
      if (bad_at != words) {
        std::ostringstream m;
        m << "epoch " << epoch_.load() << " device copy: allocation " << r.a << " page " << r.first + bad_at / kWords
          << " word " << bad_at % kWords << ": expected " << hex(want[bad_at]) << ", device holds " << hex(bad_val);
        mismatch(m.str());
      }
    } else {
      verify(r.a, r.first, r.pages, "verify range");
    }
    beat();
  }
  if (rng() % 40 == 0) reallocate(rng);
  ctl_.active.store(false);
}

// ---------------------------------------------------------------------------

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
  sim::sim_config sc;
  sc.memory_bytes = std::max<std::size_t>(std::size_t{1} << 30, o_.device_memory);
  rt_ = std::make_unique<runtime>(cfg, sim::make_driver(sc));
  sim_ = rt_->device_driver().info().name == "sim";
  chunk_ = rt_->device_driver().info().chunk_bytes;
  budget_ = std::min(o_.device_memory, rt_->device_driver().info().memory_bytes) / chunk_ * chunk_;
  budget_chunks_ = budget_ / chunk_;
  budget_pages_ = budget_ / kPage;
  block_pages_ = std::max<std::size_t>(1, o_.block / kPage);
  if (rt_->tracking() != o_.tracking && o_.tracking != tracking_mode::automatic) {
    fail(std::string("runtime uses tracking ") + tracking_name(rt_->tracking()) + ", asked for " +
         tracking_name(o_.tracking));
  }
  s_ = std::make_unique<stream>(rt_->create_stream());
  s_bg_ = std::make_unique<stream>(rt_->create_stream());
#ifdef UMPAGER_STRESS_TSAN
  // libgomp is not instrumented: TSan cannot see a parallel kernel's team join and
  // reports its writes as racing with the copies that follow. Run the kernels of
  // this stream on the stream's own thread.
  for (stream* st : {s_.get(), s_bg_.get()}) {
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
             res_.kernels + res_.device_checks + res_.reallocations;
  res_.signals_sent = signals_sent_.load();
  res_.final_stats = fin;
  res_.faults = fin.read_faults + fin.write_faults + fin.wp_faults;
  res_.max_device_bytes = max_device_.load();
  allocs_.clear();
  s_.reset();
  s_bg_.reset();
  rt_.reset();
  res_.mismatches = mismatches_.load();
  res_.invariant_failures = failures_.load();
  res_.first_mismatch = first_mismatch_;
  res_.first_failure = first_failure_;
  return res_;
}

}  // namespace

std::string repro_command(const stress_options& o) {
  std::ostringstream c;
  c << "umpager-stress --seconds " << o.seconds << " --seed " << o.seed << " --threads " << o.cpu_threads
    << " --tracking " << to_string(o.tracking) << " --block " << size_text(o.block) << " --device-memory "
    << size_text(o.device_memory);
  if (o.resolvers != 2) c << " --resolvers " << o.resolvers;
  if (o.allocations != 3) c << " --allocations " << o.allocations;
  if (!o.signals) c << " --no-signals";
  if (!o.concurrent_prefetch) c << " --no-concurrent-prefetch";
  if (!o.syscalls) c << " --no-syscalls";
  if (o.concurrent_kernels) c << " --concurrent-kernels";
  if (o.watchdog_seconds != 10) c << " --watchdog " << o.watchdog_seconds;
  if (o.locked_pages != 8) c << " --locked-pages " << o.locked_pages;
  if (o.min_alloc_bytes != (std::size_t{8} << 20)) c << " --alloc-min " << size_text(o.min_alloc_bytes);
  if (o.max_alloc_bytes != (std::size_t{16} << 20)) c << " --alloc-max " << size_text(o.max_alloc_bytes);
  return c.str();
}

std::string stress_result::summary(const stress_options& o) const {
  char b[768];
  std::snprintf(b, sizeof b,
                "seed=%" PRIu64 " tracking=%s block=%s device=%s threads=%u: %.1f s, ops=%" PRIu64
                " (%.0f/s), words=%" PRIu64 ", mismatches=%" PRIu64 ", failures=%" PRIu64 ", faults=%" PRIu64
                ", epochs=%" PRIu64 ", prefetches=%" PRIu64 ", kernels=%" PRIu64 ", reallocs=%" PRIu64
                ", locked=%" PRIu64 ", syscalls=%" PRIu64 " (retries %" PRIu64 "), signals=%" PRIu64
                ", evicted=%" PRIu64 ", max_op=%.2f ms, slow_ops=%" PRIu64 ", max_device=%" PRIu64 "M",
                o.seed, to_string(o.tracking), size_text(o.block).c_str(), size_text(o.device_memory).c_str(),
                o.cpu_threads, elapsed_s, ops, elapsed_s > 0 ? static_cast<double>(ops) / elapsed_s : 0.0,
                words_checked, mismatches, invariant_failures, faults, epochs, prefetches, kernels, reallocations,
                locked_increments, syscall_ops, syscall_retries, signals_sent, final_stats.chunks_evicted,
                static_cast<double>(max_op_ns) / 1e6, slow_ops, max_device_bytes >> 20);
  return b;
}

stress_result run_stress(const stress_options& o) {
  engine e(o);
  return e.run();
}

}  // namespace umpager::stress
