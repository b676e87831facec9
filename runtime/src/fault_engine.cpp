#include "fault_engine.hpp"

#include <linux/userfaultfd.h>
#include <sys/epoll.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>

#include "region.hpp"
#include "trace_recorder.hpp"
#include "umpager/error.hpp"

namespace umpager::detail {
namespace {
constexpr int kBatch = 64;
}

fault_engine::fault_engine(const os::userfaultfd& uffd, lookup_fn lookup, std::vector<driver*> drivers, counters& count,
                           const std::atomic<std::uint64_t>& zap_clock, readahead_queue& ahead,
                           const topology& topo, std::string cpus, unsigned resolvers,
                           copy_graveyard& graveyard, trace_recorder* trace)
    : uffd_(uffd),
      lookup_(std::move(lookup)),
      count_(count),
      zap_clock_(zap_clock),
      ahead_(ahead),
      topo_(topo),
      cpus_(std::move(cpus)),
      trace_(trace) {
  UMPAGER_EXPECTS(resolvers <= counters::kMaxResolvers, "fault_engine: more resolvers than counters hold");
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) throw system_error(errno, "epoll_create1");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = uffd_.fd();
  UMPAGER_SYSCALL(::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, uffd_.fd(), &ev), "epoll add userfaultfd");
  ev.data.fd = stop_.fd();
  UMPAGER_SYSCALL(::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, stop_.fd(), &ev), "epoll add eventfd");
  ev.data.fd = ahead_.fd();
  UMPAGER_SYSCALL(::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, ahead_.fd(), &ev), "epoll add read-ahead eventfd");
  for (unsigned i = 0; i < resolvers; ++i) {
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
  if (trace_ != nullptr) {
    try {
      trace_->name_thread(this_thread_id(), "umpager resolver " + std::to_string(index));
    } catch (...) {
      // unnamed in the trace, nothing else
    }
  }
  wait_histogram& waits = count_.fault_wait[index];
  if (int rc = topo_.bind_current_thread(cpus_); rc < 0) {
    std::fprintf(stderr, "umpager: could not bind resolver to CPUs %s (%d); running unbound\n", cpus_.c_str(), rc);
  }
  std::array<uffd_msg, kBatch> msgs;
  for (;;) {
    epoll_event evs[3];
    const int n = ::epoll_wait(epoll_.get(), evs, 3, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "umpager: resolver epoll_wait failed (%d); resolver stops\n", errno);
      return;
    }
    bool faults = false, ahead = false;
    for (int i = 0; i < n; ++i) {
      if (evs[i].data.fd == stop_.fd()) return;
      faults |= evs[i].data.fd == uffd_.fd();
      ahead |= evs[i].data.fd == ahead_.fd();
    }
    const auto t0 = std::chrono::steady_clock::now();
    // Faults first: a thread waits on each. Then one read-ahead item, so a busy
    // resolver returns to the faults soon.
    if (faults) {
      const std::uint64_t read_at = zap_clock_.load();  // before the read: see region::resolve
      const ssize_t got = ::read(uffd_.fd(), msgs.data(), sizeof(msgs));
      const std::uint64_t read_ns = now_ns();
      // got <= 0: EAGAIN, another resolver took them.
      if (got > 0) {
        serve_batch(msgs.data(), static_cast<int>(got / static_cast<ssize_t>(sizeof(uffd_msg))), lane, read_at, read_ns,
                    waits);
      }
    } else if (ahead) {
      serve_readahead(lane);
    }
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0);
    counters::add(count_.resolver_busy_ns, static_cast<std::uint64_t>(ns.count()));
  }
}

void fault_engine::serve_readahead(const lanes& lane) noexcept {
  readahead_item item;
  try {
    if (!ahead_.pop(item)) return;
  } catch (...) {
    return;
  }
  // Freed since it was queued (the item keeps the object alive, not the allocation).
  const auto base = reinterpret_cast<std::uintptr_t>(item.r->user());
  std::shared_ptr<region> live;
  try {
    live = lookup_(base);
  } catch (...) {
  }
  if (live == item.r) item.r->read_ahead(item.first_page, item.end_page, lane, item.queued_at);
}

void fault_engine::serve_batch(const void* raw, int n, const lanes& lane, std::uint64_t read_at, std::uint64_t read_ns,
                               wait_histogram& waits) noexcept {
  struct item {
    region* r;
    std::size_t block;
    fault f;
  };
  const auto* msgs = static_cast<const uffd_msg*>(raw);
  std::array<item, kBatch> items;
  std::array<std::shared_ptr<region>, kBatch> keep;  // regions stay alive while served
  int count = 0;
  for (int i = 0; i < n; ++i) {
    if (msgs[i].event != UFFD_EVENT_PAGEFAULT) continue;
    const std::uint64_t addr = msgs[i].arg.pagefault.address & ~std::uint64_t{kPageSize - 1};
    const std::uint64_t flags = msgs[i].arg.pagefault.flags;
    std::shared_ptr<region> r = lookup_(addr);
    if (!r) {
      // Freed meanwhile (the range is unregistered): wake so the thread retries.
      uffd_.wake(reinterpret_cast<void*>(addr), kPageSize);
      continue;
    }
    const bool wp = (flags & UFFD_PAGEFAULT_FLAG_WP) != 0;
    const bool write = (flags & UFFD_PAGEFAULT_FLAG_WRITE) != 0;
    if (wp) counters::add(count_.wp_faults, 1);
    else if (write) counters::add(count_.write_faults, 1);
    else counters::add(count_.read_faults, 1);
    const std::size_t page = (addr - reinterpret_cast<std::uintptr_t>(r->user())) / kPageSize;
    items[count] = {r.get(), page * kPageSize / r->block_bytes(),
                    {page, write, wp, static_cast<std::uint32_t>(msgs[i].arg.pagefault.feat.ptid)}};
    keep[count] = std::move(r);
    ++count;
  }
  std::sort(items.begin(), items.begin() + count, [](const item& a, const item& b) {
    return a.r != b.r ? a.r < b.r : a.block < b.block;
  });
  std::array<fault, kBatch> group;
  for (int i = 0; i < count;) {
    int j = i, g = 0;
    while (j < count && items[j].r == items[i].r && items[j].block == items[i].block) group[g++] = items[j++].f;
    items[i].r->resolve(items[i].block, std::span<const fault>(group.data(), g), lane, read_at);
    // Each thread of the block has been woken (or poisoned): its wait ends here.
    const std::uint64_t done_ns = now_ns();
    for (int k = 0; k < g; ++k) {
      waits.record(done_ns - read_ns);
      if (trace_ != nullptr) {
        const fault& f = group[k];
        trace_->complete(f.wp ? "write-protect fault" : f.write ? "write fault" : "read fault", "fault", f.tid, read_ns,
                         done_ns, "address", reinterpret_cast<std::uintptr_t>(items[i].r->user()) + f.page * kPageSize);
      }
    }
    i = j;
  }
}

}  // namespace umpager::detail
