#include "fault_engine.hpp"

#include <linux/userfaultfd.h>
#include <pthread.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <optional>

#include "os/cpu_pressure.hpp"
#include "region.hpp"
#include "spin_budget.hpp"
#include "trace_recorder.hpp"
#include "umpager/error.hpp"

namespace umpager::detail {
namespace {
constexpr int kBatch = 64;

/// A pause between polls: lets a sibling hyper-thread run and saves power.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}
}  // namespace

fault_engine::fault_engine(const os::userfaultfd& uffd, lookup_fn lookup, std::vector<driver*> drivers, counters& count,
                           const std::atomic<std::uint64_t>& zap_clock, readahead_queue& ahead,
                           const topology& topo, std::string cpus, unsigned resolvers,
                           copy_graveyard& graveyard, trace_recorder* trace, resolver_wait_options wait)
    : uffd_(uffd),
      lookup_(std::move(lookup)),
      count_(count),
      zap_clock_(zap_clock),
      ahead_(ahead),
      topo_(topo),
      cpus_(std::move(cpus)),
      trace_(trace),
      spin_max_ns_(wait.spin_max_ns) {
  UMPAGER_EXPECTS(resolvers <= counters::kMaxResolvers, "fault_engine: more resolvers than counters hold");
  for (unsigned i = 0; i < resolvers; ++i) {
    waits_.push_back(std::make_unique<resolver_wait>(uffd_.fd(), ahead_.fd(), stop_.fd(), wait.kind));
    lanes mine;
    for (driver* d : drivers) {
      owned_lanes_.push_back(std::make_unique<copy_lane>(*d, graveyard, trace_));
      mine.push_back(owned_lanes_.back().get());
    }
    lanes_.push_back(std::move(mine));
  }
  try {
    for (unsigned i = 0; i < lanes_.size(); ++i) threads_.emplace_back([this, i] { run(i, lanes_[i]); });
  } catch (...) {
    stop_.signal();
    for (auto& t : threads_) t.join();
    throw;
  }
}

fault_engine::~fault_engine() {
  stop_.signal();  // level-triggered and never read: every resolver sees it
  for (auto& t : threads_) t.join();
}

void fault_engine::run(unsigned index, const lanes& lane) noexcept {
  // "umpager-res<N>" in top -H and /proc/self/task/*/comm (tests find resolvers by it).
  char comm[16];
  std::snprintf(comm, sizeof comm, "umpager-res%u", index);
  (void)::pthread_setname_np(::pthread_self(), comm);
  if (trace_ != nullptr) {
    try {
      trace_->name_thread(this_thread_id(), "umpager resolver " + std::to_string(index));
    } catch (...) {
      // unnamed in the trace, nothing else
    }
  }
  counters::resolver_counts& mine = count_.per_resolver[index];
  if (int rc = topo_.bind_current_thread(cpus_); rc < 0) {
    std::fprintf(stderr, "umpager: could not bind resolver to CPUs %s (%d); running unbound\n", cpus_.c_str(), rc);
  }
  resolver_wait& wait = *waits_[index];
  if (!wait.start()) {
    std::fprintf(stderr, "umpager: resolver %u has nothing to wait on (no io_uring, no epoll); it stops\n", index);
    return;
  }
  // A CPU for the spin beside each faulting thread: the resolvers' CPUs less the resolvers.
  const unsigned cpus = topo_.count(cpus_);
  const auto resolvers = static_cast<unsigned>(waits_.size());
  spin_budget spin(spin_max_ns_, cpus > resolvers ? cpus - resolvers : 0);
  // Spins stop while tasks wait for a CPU (spin_budget::pressure); without PSI, the bound alone.
  std::optional<os::cpu_pressure> pressure;
  if (spin_max_ns_ != 0) {
    pressure.emplace();
    if (!pressure->available()) pressure.reset();
  }
  std::array<uffd_msg, kBatch> msgs;
  bool ahead_pending = false;          // read-ahead items may be queued
  std::uint64_t last_work = now_ns();  // when this resolver last served something
  std::uint64_t woke_at = 0;           // when it last woke from sleep, until it serves
  for (;;) {
    // Free on the ring; epoll, level-triggered, reports the same from sleep().
    unsigned ready = wait.ring() ? wait.peek() : 0;
    if (ready == 0 && !ahead_pending) {
      // Nothing known to do. A fault soon after the last one is caught by polling
      // the userfaultfd itself: the faulting thread then waits for no wake-up of
      // this one. Idle (the budget decayed to 0) it goes straight to sleep.
      const std::uint64_t t0 = now_ns();
      if (pressure && spin.wants_pressure(t0)) {
        if (const auto stall = pressure->some_stall_us()) spin.pressure(t0, *stall);
      }
      if (const std::uint64_t budget = spin.next(t0); budget != 0) {
        for (;;) {
          if (serve_faults(msgs, lane, index, spin)) {
            last_work = now_ns();
            spin.caught(last_work - t0);
            break;
          }
          if ((ready = wait.peek()) != 0) break;
          if (now_ns() - t0 >= budget) {
            spin.missed();
            break;
          }
          cpu_relax();
        }
        if (ready == 0 && last_work >= t0) continue;  // served: look for more at once
      }
      if (ready == 0) {
        ready = wait.sleep();
        woke_at = now_ns();
      }
    }
    if ((ready & resolver_wait::kStop) != 0) {
      wait.drain();  // storage reads it started land before the runtime goes
      return;
    }
    ahead_pending |= (ready & resolver_wait::kReadahead) != 0;
    // Faults first: a thread waits on each. Then one read-ahead item, so a busy
    // resolver returns to the faults soon.
    if ((ready & resolver_wait::kFaults) != 0 && serve_faults(msgs, lane, index, spin)) {
      // Only the resolver that got the fault learns from the sleep (every one is woken).
      if (woke_at != 0) spin.slept(woke_at - last_work);
      woke_at = 0;
      last_work = now_ns();
      continue;
    }
    woke_at = 0;
    if (ahead_pending) {
      const std::uint64_t t0 = now_ns();
      ahead_pending = serve_readahead(lane, wait);
      last_work = now_ns();
      counters::add(mine.busy_ns, last_work - t0);
    }
  }
}

bool fault_engine::serve_faults(std::span<uffd_msg> buf, const lanes& lane, unsigned index, spin_budget& spin) noexcept {
  const std::uint64_t read_at = zap_clock_.load();  // before the read: see region::resolve
  const ssize_t got = ::read(uffd_.fd(), buf.data(), buf.size_bytes());
  if (got <= 0) return false;  // EAGAIN: nothing there, or another resolver took it
  const std::uint64_t read_ns = now_ns();
  const int n = static_cast<int>(got / static_cast<ssize_t>(sizeof(uffd_msg)));
  serve_batch(buf.data(), n, lane, read_at, read_ns, index);
  const std::uint64_t done_ns = now_ns();
  counters::add(count_.per_resolver[index].busy_ns, done_ns - read_ns);
  for (int i = 0; i < n; ++i) {
    if (buf[i].event == UFFD_EVENT_PAGEFAULT) spin.faulted(buf[i].arg.pagefault.feat.ptid, done_ns);
  }
  return true;
}

bool fault_engine::serve_readahead(const lanes& lane, resolver_wait& wait) noexcept {
  readahead_item item;
  try {
    if (!ahead_.pop(item)) return false;
  } catch (...) {
    return false;
  }
  // Freed since it was queued (the item keeps the object alive, not the allocation).
  const auto base = reinterpret_cast<std::uintptr_t>(item.r->user());
  std::shared_ptr<region> live;
  try {
    live = lookup_(base);
  } catch (...) {
  }
  if (live == item.r) {
    item.r->read_ahead(item.first_page, item.end_page, lane, item.queued_at, item.writable, wait.ring() ? &wait : nullptr);
  }
  return true;
}

void fault_engine::serve_batch(const void* raw, int n, const lanes& lane, std::uint64_t read_at, std::uint64_t read_ns,
                               unsigned index) noexcept {
  wait_histogram& waits = count_.fault_wait[index];
  counters::resolver_counts& mine = count_.per_resolver[index];
  struct item {
    region* r;
    std::size_t block;
    fault f;
  };
  const auto* msgs = static_cast<const uffd_msg*>(raw);
  std::array<item, kBatch> items;
  std::array<std::shared_ptr<region>, kBatch> keep;  // regions stay alive while served
  int count = 0, kept = 0;
  // Faults of one batch mostly hit one region: look it up once (the lookup takes the
  // runtime's region lock and a reference, which every resolver shares).
  region* last = nullptr;
  for (int i = 0; i < n; ++i) {
    if (msgs[i].event != UFFD_EVENT_PAGEFAULT) continue;
    counters::add(mine.messages, 1);
    const std::uint64_t addr = msgs[i].arg.pagefault.address & ~std::uint64_t{kPageSize - 1};
    const std::uint64_t flags = msgs[i].arg.pagefault.flags;
    if (last == nullptr || !last->contains(addr)) {
      std::shared_ptr<region> found = lookup_(addr);
      if (!found) {
        // Freed meanwhile (the range is unregistered): wake so the thread retries.
        counters::add(count_.stale_faults, 1);
        uffd_.wake(reinterpret_cast<void*>(addr), kPageSize);
        continue;
      }
      last = found.get();
      keep[kept++] = std::move(found);
    }
    region* const r = last;
    const bool wp = (flags & UFFD_PAGEFAULT_FLAG_WP) != 0;
    const bool write = (flags & UFFD_PAGEFAULT_FLAG_WRITE) != 0;
    const std::size_t page = (addr - reinterpret_cast<std::uintptr_t>(r->user())) / kPageSize;
    items[count] = {r, page * kPageSize / r->block_bytes(),
                    {page, write, wp, static_cast<std::uint32_t>(msgs[i].arg.pagefault.feat.ptid)}};
    ++count;
  }
  std::sort(items.begin(), items.begin() + count, [](const item& a, const item& b) {
    return a.r != b.r ? a.r < b.r : a.block < b.block;
  });
  std::array<fault, kBatch> group;
  for (int i = 0; i < count;) {
    int j = i, g = 0;
    while (j < count && items[j].r == items[i].r && items[j].block == items[i].block) group[g++] = items[j++].f;
    const std::uint64_t only_woken =
        items[i].r->resolve(items[i].block, std::span<const fault>(group.data(), g), lane, read_at, mine);
    // Each thread of the block has been woken (or poisoned): its wait ends here.
    const std::uint64_t done_ns = now_ns();
    for (int k = 0; k < g; ++k) {
      waits.record(done_ns - read_ns);
      if (trace_ != nullptr) {
        const fault& f = group[k];
        const bool stale = (only_woken >> k) & 1;
        trace_->complete(stale       ? "stale fault"
                         : f.wp      ? "write-protect fault"
                         : f.write   ? "write fault"
                                     : "read fault",
                         stale ? "stale" : "fault", f.tid, read_ns, done_ns, "address",
                         reinterpret_cast<std::uintptr_t>(items[i].r->user()) + f.page * kPageSize);
      }
    }
    i = j;
  }
}

}  // namespace umpager::detail
