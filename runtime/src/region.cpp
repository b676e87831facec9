#include "region.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "os/linux_uapi.hpp"
#include "os/memfd.hpp"
#include "residency.hpp"
#include "trace_range.hpp"
#include "umpager/error.hpp"

namespace umpager::detail {
namespace {

constexpr std::size_t kMaxAlign = std::size_t{2} << 20;
constexpr int kEagainRetries = 1000;

std::size_t round_up(std::size_t v, std::size_t a) { return (v + a - 1) / a * a; }

/// Calls fn(offset, length) in bytes for each maximal run of pages in [first, end)
/// whose index satisfies `in_run`; returns the bytes covered.
template <class InRun, class Fn>
std::size_t for_each_run(std::size_t first, std::size_t end, InRun&& in_run, Fn&& fn) {
  std::size_t bytes = 0;
  for (std::size_t p = first; p < end;) {
    if (!in_run(p)) {
      ++p;
      continue;
    }
    std::size_t q = p + 1;
    while (q < end && in_run(q)) ++q;
    fn(p * kPageSize, (q - p) * kPageSize);
    bytes += (q - p) * kPageSize;
    p = q;
  }
  return bytes;
}

}  // namespace

region::region(context& ctx, std::size_t bytes, std::size_t block_bytes)
    : ctx_(ctx),
      bytes_(round_up(bytes, block_bytes)),
      block_(block_bytes),
      chunk_bytes_(ctx.drv.info().chunk_bytes),
      pages_(bytes_ / kPageSize),
      chunks_((bytes_ + chunk_bytes_ - 1) / chunk_bytes_) {
  memfd_ = os::make_memfd("umpager", bytes_);
  // The alias view is written by copies: fault every page in for writing now, which
  // also allocates the memfd pages (MINOR faults never fire on a hole).
  alias_ = os::mapping::map_shared(memfd_.get(), bytes_);
  UMPAGER_SYSCALL(::madvise(alias_.data(), bytes_, MADV_POPULATE_WRITE), "populate alias view");
  // User view aligned to 2 MiB so blocks and chunks line up with page-table pages.
  // In single-pointer mode it is mapped over the region's device VA range instead
  // (reserved first, chunk-aligned), so the CPU pointer is the device pointer.
  device_bytes_ = round_up(bytes_, chunk_bytes_);
  device_.assign(ctx_.devices.size(), nullptr);
  void* want = nullptr;
  if (ctx_.single_pointer) {  // over device 0's range
    device_[0] = static_cast<std::byte*>(ctx_.drv.reserve(device_bytes_));
    want = device_[0];
  } else {
    user_ = os::mapping::reserve(bytes_, kMaxAlign);
    want = user_.data();
    user_.release();
  }
  try {
    user_ = os::mapping::map_shared(memfd_.get(), bytes_, want);
  } catch (...) {
    if (ctx_.single_pointer) ctx_.drv.release(device_[0], device_bytes_);
    throw;
  }

  std::uint64_t modes = UFFDIO_REGISTER_MODE_MINOR;
  if (ctx_.tracking != tracking_mode::off) modes |= UFFDIO_REGISTER_MODE_WP;
  try {
    UMPAGER_SYSCALL(::madvise(user_.data(), bytes_, MADV_DONTFORK), "MADV_DONTFORK user view");
    UMPAGER_SYSCALL(::madvise(alias_.data(), bytes_, MADV_DONTFORK), "MADV_DONTFORK alias view");
    ctx_.uffd.register_range(user_.data(), bytes_, modes);
  } catch (...) {
    give_back_view();
    throw;
  }
  if (ctx_.tracking == tracking_mode::wp_async) {
    // Arm over the whole range (WP_UNPOPULATED puts markers on absent PTEs), so
    // every later write is reported by PAGEMAP_SCAN.
    if (int rc = ctx_.uffd.write_protect(user_.data(), bytes_, true, false); rc < 0) {
      ctx_.uffd.unregister_range(user_.data(), bytes_);
      give_back_view();
      throw system_error(-rc, "arm write-protect");
    }
  }
  try {
    for (std::size_t k = 0; k < ctx_.devices.size(); ++k) {
      driver& d = *ctx_.devices[k].drv;
      d.register_host(alias_.data(), bytes_);
      ++registered_;
      if (device_[k] == nullptr) device_[k] = static_cast<std::byte*>(d.reserve(device_bytes_));
    }
  } catch (...) {
    release_devices();
    ctx_.uffd.unregister_range(user_.data(), bytes_);
    give_back_view();
    throw;
  }
}

void region::release_devices() noexcept {
  // Device 0's range lies under the view in single-pointer mode: give_back_view's.
  for (std::size_t k = ctx_.single_pointer ? 1 : 0; k < device_.size(); ++k) {
    if (device_[k] != nullptr) ctx_.devices[k].drv->release(device_[k], device_bytes_);
    device_[k] = nullptr;
  }
  for (std::size_t k = 0; k < registered_; ++k) ctx_.devices[k].drv->unregister_host(alias_.data(), bytes_);
  registered_ = 0;
}

void region::give_back_view() noexcept {
  if (!ctx_.single_pointer || device_.empty() || device_[0] == nullptr) return;
  // The view lies over device VA the driver reserved (its own inaccessible host
  // mapping): put an inaccessible mapping back, not a hole another mmap could take,
  // and return the range to the driver, which owns it from then on.
  (void)::mmap(user_.data(), bytes_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  (void)user_.release();
  ctx_.drv.release(device_[0], device_bytes_);
  device_[0] = nullptr;
}

region::~region() {
  // Threads still touching a freed allocation must fail loudly, not read the
  // page cache: replace the view with an inaccessible one (which also drops the
  // registration), then wake whoever waits on it, so they retry into SIGSEGV.
  void* p = ::mmap(user_.data(), bytes_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  if (p == MAP_FAILED) ctx_.uffd.unregister_range(user_.data(), bytes_);
  ctx_.uffd.wake(user_.data(), bytes_);
  for (const device_slot& d : ctx_.devices) d.res->release_all(*this);
  if (ctx_.single_pointer) {
    (void)user_.release();  // the PROT_NONE view above is the driver's again
    if (device_[0] != nullptr) ctx_.drv.release(device_[0], device_bytes_);
    device_[0] = nullptr;
  }
  release_devices();
}

std::size_t region::metadata_bytes() const noexcept {
  return sizeof(*this) + pages_.memory_bytes() + chunks_.size() * sizeof(region_chunk);
}

template <class Fn>
void region::for_each_chunk(std::size_t first_page, std::size_t end_page, Fn&& fn) {
  const std::size_t pages_per_chunk = chunk_bytes_ / kPageSize;
  for (std::size_t p = first_page; p < end_page;) {
    const std::size_t c = p / pages_per_chunk;
    const std::size_t e = std::min(end_page, (c + 1) * pages_per_chunk);
    std::lock_guard g(chunks_[c].lock);
    fn(c, p, e);
    p = e;
  }
}

std::size_t region::copy_runs(std::size_t first, std::size_t end, page_state from, copy_direction dir,
                              copy_lane& lane, unsigned dev) {
  std::byte* const device = device_[dev];
  std::vector<copy_op> ops;
  const std::size_t bytes = for_each_run(
      first, end, [&](std::size_t p) { return pages_.state(p) == from; },
      [&](std::size_t off, std::size_t len) {
        if (dir == copy_direction::host_to_device) ops.push_back({device + off, alias_.data() + off, len});
        else ops.push_back({alias_.data() + off, device + off, len});
      });
  lane.copy(ops, dir);
  return bytes;
}

template <class WantWrite>
bool region::map_pages(std::size_t first, std::size_t end, WantWrite&& want_write) noexcept {
  const bool tracking = ctx_.tracking != tracking_mode::off;
  bool all_mapped = true;
  bool need_wake = false;
  std::size_t continued = 0;
  for (std::size_t p = first; p < end;) {
    if (pages_.mapped(p)) {
      ++p;
      continue;
    }
    // Writable for host pages and written pages; protected where the device copy
    // stays valid, so the first write is seen.
    auto writable = [&](std::size_t i) { return !tracking || pages_.state(i) == page_state::host || want_write(i); };
    const bool w = writable(p);
    std::size_t q = p + 1;
    while (q < end && !pages_.mapped(q) && writable(q) == w) ++q;
    // Wake only once everything is mapped: a thread woken early would fault
    // again on the next run of its block. A single run wakes by itself.
    const bool wake_now = p == first && q == end;
    need_wake |= !wake_now;
    // Counted before a waking CONTINUE, so statistics read by the woken thread
    // already include its pages; corrected below if fewer were mapped.
    if (wake_now) counters::add(ctx_.count.pages_continued, q - p);
    std::size_t done = 0;
    int rc = 0;
    for (int tries = 0; tries < kEagainRetries; ++tries) {
      rc = ctx_.uffd.continue_range(user_.data() + p * kPageSize, (q - p) * kPageSize, !w, wake_now, &done);
      if (rc != -EAGAIN) break;
      if (done > 0) break;  // partial progress: account for it below, then go on
      ::sched_yield();
    }
    const std::size_t ok_pages = done / kPageSize;
    const std::size_t upto = rc == 0 ? q : p + ok_pages;
    for (std::size_t i = p; i < upto; ++i) {
      pages_.set_mapped(i, true);
      pages_.set_state(i, w ? page_state::host : page_state::shared);
    }
    if (wake_now) ctx_.count.pages_continued.fetch_sub((q - p) - (upto - p), std::memory_order_relaxed);
    else continued += upto - p;
    if (rc == 0) {
      p = q;
    } else if (rc == -EEXIST) {
      // Already mapped (our bit was stale): keep it, and wake, since a failing
      // ioctl wakes nobody.
      pages_.set_mapped(upto, true);
      need_wake = true;
      p = upto + 1;
    } else if (rc == -EAGAIN) {
      p = upto;  // partial progress; retry the rest
    } else {
      // ENOENT/EFAULT: the application unmapped the view under us. Wake so the
      // thread retries and sees its own mistake (SIGSEGV), never a hang.
      need_wake = true;
      all_mapped = false;
      p = upto + 1;
    }
  }
  counters::add(ctx_.count.pages_continued, continued);
  if (need_wake) ctx_.uffd.wake(user_.data() + first * kPageSize, (end - first) * kPageSize);
  return all_mapped;
}

void region::fail_closed(std::span<const fault> faults, const char* why) noexcept {
  // Never map a page whose data did not arrive: the faulting threads get SIGBUS.
  std::fprintf(stderr, "umpager: fault at %p not served (%s): SIGBUS for the faulting pages\n",
               static_cast<void*>(user_.data() + faults.front().page * kPageSize), why);
  for (const fault& f : faults) {
    if (f.wp) continue;
    std::byte* addr = user_.data() + f.page * kPageSize;
    // Counted before the poison wakes the thread (see map_pages), undone on failure.
    counters::add(ctx_.count.pages_poisoned, 1);
    int rc = ctx_.uffd.poison(addr, kPageSize);
    if (rc == -EEXIST) {
      // A write-protect marker occupies the empty PTE: clear it, then poison.
      ctx_.uffd.write_protect(addr, kPageSize, false, false);
      rc = ctx_.uffd.poison(addr, kPageSize);
    }
    if (rc == 0) continue;
    ctx_.count.pages_poisoned.fetch_sub(1, std::memory_order_relaxed);
    // No poison (kernel before 6.6): signal the thread itself, so it cannot spin
    // between faults and wakes.
    if (f.tid != 0) ::syscall(SYS_tgkill, ::getpid(), f.tid, SIGBUS);
    ctx_.uffd.wake(addr, kPageSize);
  }
}

void region::resolve(std::size_t block, std::span<const fault> faults, std::span<copy_lane* const> lanes,
                     std::uint64_t read_at) noexcept {
  const std::size_t ppb = block_ / kPageSize;
  const std::size_t first = block * ppb;
  const std::size_t end = std::min(first + ppb, pages_.size());
  const std::size_t c = first * kPageSize / chunk_bytes_;
  const trace_range trace(ctx_.drv, "umpager fault");
  std::lock_guard g(chunks_[c].lock);

  if (chunks_[c].zapped_at > read_at) {
    // Read before the chunk was zapped: the message may be a duplicate of a fault
    // already served (the kernel re-sends after a signal). A read message always
    // belonged to a blocked thread, so only wake: a thread still waiting faults
    // again, and that message, read after the zap, is served.
    for (const fault& f : faults) ctx_.uffd.wake(user_.data() + f.page * kPageSize, kPageSize);
    counters::add(ctx_.count.stale_faults, faults.size());
    return;
  }

  bool missing = false, reads = false;
  for (const fault& f : faults) {
    reads |= !f.wp && !f.write;
    if (!f.wp) {
      pages_.set_mapped(f.page, false);  // a missing fault proves there is no PTE
      missing = true;
      continue;
    }
    std::byte* addr = user_.data() + f.page * kPageSize;
    if (pages_.state(f.page) == page_state::device || !pages_.mapped(f.page)) {
      // Zapped since the fault: the retry raises a missing fault instead.
      ctx_.uffd.wake(addr, kPageSize);
      continue;
    }
    pages_.set_state(f.page, page_state::host);  // the device copy is now stale
    if (ctx_.uffd.write_protect(addr, kPageSize, false, true) < 0) ctx_.uffd.wake(addr, kPageSize);
  }
  if (!missing) return;
  // Before this block's copy, so other resolvers copy the next blocks meanwhile.
  if (reads) plan_readahead(block, read_at);

  try {
    const unsigned on = chunks_[c].on;  // `device` pages exist only while resident there
    const std::size_t bytes = copy_runs(first, end, page_state::device, copy_direction::device_to_host, *lanes[on], on);
    counters::add(ctx_.count.bytes_to_host, bytes);
  } catch (const std::exception& e) {
    fail_closed(faults, e.what());
    return;
  } catch (...) {
    fail_closed(faults, "unknown error");
    return;
  }
  auto want_write = [&](std::size_t p) {
    return std::any_of(faults.begin(), faults.end(), [p](const fault& f) { return f.page == p && f.write; });
  };
  map_pages(first, end, want_write);
}

void region::plan_readahead(std::size_t block, std::uint64_t read_at) noexcept {
  if (ctx_.readahead_bytes == 0 || block_ == kPageSize) return;  // 4K blocks: see docs/api.md
  const std::size_t ppb = block_ / kPageSize;
  const std::size_t blocks = (pages_.size() + ppb - 1) / ppb;
  const std::size_t max_window = std::max<std::size_t>(1, ctx_.readahead_bytes / block_);
  std::size_t from = 0, to = 0;
  {
    std::lock_guard g(ra_mutex_);
    // Sequential: the next block, or one already queued (the scan caught up with it).
    const bool sequential = ra_last_ != kNone && block > ra_last_ && block <= std::max(ra_last_ + 1, ra_next_);
    ra_last_ = block;
    if (!sequential) {
      ra_window_ = 0;
      ra_next_ = block + 1;
      return;
    }
    // Grows like the kernel's read-ahead: 2 blocks, then doubling up to the maximum.
    ra_window_ = ra_window_ == 0 ? std::min<std::size_t>(2, max_window) : std::min(ra_window_ * 2, max_window);
    from = std::max(ra_next_, block + 1);
    to = std::min(blocks, block + 1 + ra_window_);
    if (from >= to) return;
    ra_next_ = to;
  }
  std::shared_ptr<region> self;
  try {
    self = shared_from_this();
  } catch (...) {
    return;  // not owned by a shared_ptr (never in the runtime): no read-ahead
  }
  // One item per chunk piece: resolvers take them in parallel.
  const std::size_t ppc = chunk_bytes_ / kPageSize;
  const std::size_t end_page = std::min(pages_.size(), to * ppb);
  for (std::size_t p = from * ppb; p < end_page;) {
    const std::size_t e = std::min(end_page, (p / ppc + 1) * ppc);
    ctx_.ahead.push(readahead_item{self, p, e, read_at});
    p = e;
  }
}

void region::read_ahead(std::size_t first, std::size_t end, std::span<copy_lane* const> lanes,
                        std::uint64_t queued_at) noexcept {
  const std::size_t c = first * kPageSize / chunk_bytes_;
  const trace_range trace(ctx_.drv, "umpager read-ahead");
  std::lock_guard g(chunks_[c].lock);
  // Zapped since the triggering fault was read: a kernel may be writing the device
  // copy now, so mapping it would show the CPU stale data later.
  if (chunks_[c].zapped_at > queued_at) return;
  auto unmapped = [&] {
    std::size_t n = 0;
    for (std::size_t p = first; p < end; ++p) n += !pages_.mapped(p);
    return n;
  };
  const std::size_t before = unmapped();  // the chunk lock keeps these bits ours
  if (before == 0) return;
  try {
    const unsigned on = chunks_[c].on;
    ctx_.count.add_read_ahead_copy(
        copy_runs(first, end, page_state::device, copy_direction::device_to_host, *lanes[on], on));
  } catch (...) {
    return;  // the pages stay device-only: a fault on them retries and reports
  }
  map_pages(first, end, [](std::size_t) { return false; });
  counters::add(ctx_.count.pages_read_ahead, before - unmapped());
}

void region::move_chunk(std::size_t c, unsigned k) {
  region_chunk& rc = chunks_[c];
  const unsigned j = rc.on;
  const chunk_handle old = rc.device;
  device_slot& from = ctx_.devices[j];
  device_slot& to = ctx_.devices[k];
  auto back_to_j = [&] {
    rc.device = old;
    rc.on = j;
    from.res->attach(*this, c);
  };
  from.res->detach(*this, c);
  try {
    to.res->make_resident(*this, c);  // sets rc.device and rc.on = k
  } catch (...) {
    back_to_j();
    throw;
  }
  const std::size_t ppc = chunk_bytes_ / kPageSize;
  const std::size_t first = c * ppc, end = std::min(first + ppc, pages_.size());
  // Peer copy of every page with a valid copy on j (`device` and `shared`); where the
  // driver cannot (no peer access), through the host: they come home and are then
  // uploaded like written pages.
  std::vector<copy_op> ops;
  auto on_device = [&](std::size_t p) { return pages_.state(p) != page_state::host; };
  const std::size_t bytes = for_each_run(first, end, on_device, [&](std::size_t off, std::size_t len) {
    ops.push_back({device_[k] + off, device_[j] + off, len});
  });
  bool peer = true;
  try {
    to.transfer->copy(ops, copy_direction::device_to_device);
    counters::add(ctx_.count.bytes_device_to_device, bytes);
  } catch (const driver_error&) {
    peer = false;
  }
  if (!peer) {
    try {
      counters::add(ctx_.count.bytes_to_host,
                    copy_runs(first, end, page_state::device, copy_direction::device_to_host, *from.transfer, j));
    } catch (...) {
      // The data is still only on j: undo the move, so nothing is lost.
      to.res->detach(*this, c);
      to.res->recycle(rc.device, device_[k] + c * chunk_bytes_);
      back_to_j();
      throw;
    }
    for (std::size_t p = first; p < end; ++p) {
      if (on_device(p)) pages_.set_state(p, page_state::host);
    }
  }
  from.res->recycle(old, device_[j] + c * chunk_bytes_);
}

void region::to_device(std::size_t offset, std::size_t bytes, unsigned k) {
  const std::size_t first = offset / kPageSize;
  const std::size_t end = (offset + bytes + kPageSize - 1) / kPageSize;
  const std::size_t chunks = (end * kPageSize - 1) / chunk_bytes_ - first * kPageSize / chunk_bytes_ + 1;
  residency& res = *ctx_.devices[k].res;
  if (chunks * chunk_bytes_ > res.budget_bytes()) {
    throw out_of_memory("prefetch to device: " + std::to_string(chunks * chunk_bytes_ >> 20) +
                        " MiB of chunks do not fit in the device budget of " +
                        std::to_string(res.budget_bytes() >> 20) + " MiB; prefetch in smaller pieces");
  }
  const trace_range trace(ctx_.drv, "umpager prefetch to device");
  std::lock_guard transfer(ctx_.transfer_mutex);
  // Chunks made resident here stay pinned until the whole range is done.
  struct unpin_guard {
    residency& res;
    region& r;
    std::size_t first, end;
    ~unpin_guard() { res.unpin(r, first, end); }
  } unpin{res, *this, first * kPageSize / chunk_bytes_, (end * kPageSize - 1) / chunk_bytes_ + 1};
  for_each_chunk(first, end, [&](std::size_t c, std::size_t p, std::size_t e) {
    std::byte* addr = user_.data() + p * kPageSize;
    const std::size_t len = (e - p) * kPageSize;
    // Zap first: from here every CPU access faults and waits for this chunk's lock.
    chunks_[c].zapped_at = ctx_.zap_clock.fetch_add(1) + 1;
    // ENOMEM: the application unmapped part of its view; the rest is zapped.
    if (::madvise(addr, len, MADV_DONTNEED) != 0 && errno != ENOMEM) throw system_error(errno, "zap user view");
    for (std::size_t i = p; i < e; ++i) pages_.set_mapped(i, false);
    if (ctx_.tracking == tracking_mode::wp_async) {
      // Then collect what was written since the last arm, re-arming it.
      std::lock_guard pm(ctx_.pagemap_mutex);
      std::uint64_t found = 0;
      const auto base = reinterpret_cast<std::uintptr_t>(user_.data());
      int rc = ctx_.pagemap.collect_written(
          reinterpret_cast<std::uintptr_t>(addr), reinterpret_cast<std::uintptr_t>(addr) + len,
          [&](std::uintptr_t s, std::uintptr_t x) {
            for (std::uintptr_t a = s; a < x; a += kPageSize) {
              const std::size_t i = (a - base) / kPageSize;
              if (pages_.state(i) == page_state::shared) pages_.set_state(i, page_state::host);
              ++found;
            }
          });
      if (rc < 0) {
        // Without the scan we cannot know what was written: treat all as written.
        for (std::size_t i = p; i < e; ++i) {
          if (pages_.state(i) == page_state::shared) pages_.set_state(i, page_state::host);
        }
      }
      counters::add(ctx_.count.written_pages_found, found);
    } else if (ctx_.tracking == tracking_mode::off) {
      for (std::size_t i = p; i < e; ++i) {
        if (pages_.state(i) == page_state::shared) pages_.set_state(i, page_state::host);
      }
    }
    if (!chunks_[c].device.valid()) res.make_resident(*this, c);
    else if (chunks_[c].on != k) move_chunk(c, k);
    else res.touch(*this, c);
    const std::size_t up = copy_runs(p, e, page_state::host, copy_direction::host_to_device, *ctx_.devices[k].transfer, k);
    counters::add(ctx_.count.bytes_to_device, up);
    for (std::size_t i = p; i < e; ++i) pages_.set_state(i, page_state::device);
  });
}

void region::to_host(std::size_t offset, std::size_t bytes) {
  const std::size_t first = offset / kPageSize;
  const std::size_t end = (offset + bytes + kPageSize - 1) / kPageSize;
  const trace_range trace(ctx_.drv, "umpager prefetch to host");
  std::lock_guard transfer(ctx_.transfer_mutex);
  for_each_chunk(first, end, [&](std::size_t c, std::size_t p, std::size_t e) {
    const unsigned on = chunks_[c].on;
    const std::size_t down =
        copy_runs(p, e, page_state::device, copy_direction::device_to_host, *ctx_.devices[on].transfer, on);
    counters::add(ctx_.count.bytes_to_host, down);
    if (!map_pages(p, e, [](std::size_t) { return false; })) {
      throw runtime_error("prefetch to host: the user view was unmapped by the application");
    }
  });
}

chunk_handle region::evict_locked(std::size_t c) {
  const trace_range trace(ctx_.drv, "umpager evict");
  const std::size_t ppc = chunk_bytes_ / kPageSize;
  const std::size_t first = c * ppc;
  const std::size_t end = std::min(first + ppc, pages_.size());
  const unsigned on = chunks_[c].on;
  const std::size_t down =
      copy_runs(first, end, page_state::device, copy_direction::device_to_host, *ctx_.devices[on].transfer, on);
  counters::add(ctx_.count.bytes_to_host, down);
  // Device pages are unmapped on the host: the next touch maps them without a copy.
  for (std::size_t i = first; i < end; ++i) pages_.set_state(i, page_state::host);
  chunk_handle h = chunks_[c].device;
  ctx_.devices[on].drv->unmap_chunk(device_[on] + c * chunk_bytes_);
  chunks_[c].device = {};
  return h;
}

}  // namespace umpager::detail
