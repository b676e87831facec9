// A region's life (memfd, views, device ranges) and the two primitives every
// transition uses: batched copies of page runs and mapping pages with CONTINUE.
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
#include "os/vma.hpp"
#include "page_runs.hpp"
#include "residency.hpp"
#include "storage/spill_file.hpp"
#include "storage/storage_file.hpp"
#include "umpager/error.hpp"

namespace umpager::detail {
namespace {

constexpr std::size_t kMaxAlign = std::size_t{2} << 20;
constexpr int kEagainRetries = 1000;

std::size_t round_up(std::size_t v, std::size_t a) { return (v + a - 1) / a * a; }

}  // namespace

region::region(context& ctx, std::size_t bytes, std::size_t block_bytes, bool adaptive,
               std::unique_ptr<storage_file> file)
    : ctx_(ctx),
      bytes_(round_up(bytes, block_bytes)),
      block_(block_bytes),
      adaptive_(adaptive),
      chunk_bytes_(ctx.drv.info().chunk_bytes),
      pages_(bytes_ / kPageSize),
      chunks_((bytes_ + chunk_bytes_ - 1) / chunk_bytes_),
      file_(std::move(file)),
      // The read-ahead window grows in units of a block (adaptive: of a density leaf).
      scan_(pages_.size(), adaptive ? kDenseLeafPages : block_bytes / kPageSize, ctx.readahead_bytes / kPageSize),
      reached_(chunks_.size()) {
  if (file_ && !ctx_.uffd.features().has(UFFD_FEATURE_MISSING_SHMEM)) {
    throw unsupported("the storage tier (map_file, UMPAGER_HOST_MEMORY) needs userfaultfd MISSING_SHMEM (Linux 4.11+)");
  }
  memfd_ = os::make_memfd("umpager", bytes_);
  // The alias view is written by copies: fault every page in for writing now, which
  // also allocates the memfd pages (MINOR faults never fire on a hole). A mapped
  // file's pages stay holes until read (region_storage.cpp): a touch raises MISSING.
  alias_ = os::mapping::map_shared(memfd_.get(), bytes_);
  if (file_) {
    // A mapped file holds every page; the spill file none yet (they read as zeros).
    for (std::size_t p = 0; p < pages_.size(); ++p) {
      pages_.set_state(p, page_state::storage);
      pages_.set_backed(p, !file_->spill);
    }
  } else {
    UMPAGER_SYSCALL(::madvise(alias_.data(), bytes_, MADV_POPULATE_WRITE), "populate alias view");
  }
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
  if (file_) modes |= UFFDIO_REGISTER_MODE_MISSING;
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
  // Only where the view still is: a mapping the application placed in a hole it
  // unmapped is not ours (docs/lifecycle.md).
  const std::vector<os::address_range> own = own_ranges(0, pages_.size());
  for (const os::address_range& r : own) {
    void* at = reinterpret_cast<void*>(r.start);
    void* p = ::mmap(at, r.end - r.start, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED) ctx_.uffd.unregister_range(at, r.end - r.start);
  }
  ctx_.uffd.wake(user_.data(), bytes_);
  // A copy given up on that may still write this region's memory: keep that memory
  // (alias view, device chunks) rather than let the copy land in someone else's.
  bool quiet = ctx_.graveyard->settle(alias_.data(), bytes_);
  for (std::size_t k = 0; k < device_.size(); ++k) {
    quiet = quiet && (device_[k] == nullptr || ctx_.graveyard->settle(device_[k], device_bytes_));
  }
  if (quiet) {
    for (const device_slot& d : ctx_.devices) d.res->release_all(*this);
  } else {
    std::fprintf(stderr, "umpager: a timed-out device copy may still write the allocation at %p; its memory is "
                         "kept, not freed\n", static_cast<void*>(user_.data()));
    for (const device_slot& d : ctx_.devices) d.res->forget_all(*this);
    (void)alias_.release();  // and registered with the drivers, and its device ranges reserved
    registered_ = 0;
    for (std::size_t k = ctx_.single_pointer ? 1 : 0; k < device_.size(); ++k) device_[k] = nullptr;
  }
  if (file_ && file_->spill) ctx_.spill->release(file_->base, bytes_);  // its spilled pages
  if (ctx_.single_pointer) {
    (void)user_.release();  // the PROT_NONE view above is the driver's again
    if (device_[0] != nullptr) ctx_.drv.release(device_[0], device_bytes_);
    device_[0] = nullptr;
  } else {
    for (const os::address_range& r : own) ::munmap(reinterpret_cast<void*>(r.start), r.end - r.start);
    (void)user_.release();
  }
  release_devices();
}

std::vector<os::address_range> region::own_ranges(std::size_t first, std::size_t end) const {
  return os::file_ranges(memfd_.get(), user_.data(), first * kPageSize, (end - first) * kPageSize);
}

std::size_t region::metadata_bytes() const noexcept {
  return sizeof(*this) + pages_.memory_bytes() + chunks_.size() * sizeof(region_chunk);
}

void region::settle_uploads_locked(std::size_t c) noexcept {
  auto& ups = chunks_[c].uploads;
  for (auto it = ups.begin(); it != ups.end();) {
    // Only a point the driver says passed: asking a point that has not would wait
    // for its stream (with this chunk's lock held).
    if (!it->copied->passed_now()) {
      ++it;
      continue;
    }
    if (chunks_[c].zapped_at == it->zapped_at && it->copied->failed()) {
      for (const auto& [a, b] : it->runs) {
        for (std::size_t p = a; p < b; ++p) {
          if (pages_.state(p) == page_state::device || pages_.state(p) == page_state::shared) {
            pages_.set_state(p, page_state::host);
            pages_.set_uploaded(p, false);
          }
        }
      }
    }
    it = ups.erase(it);
  }
}

std::size_t region::runs_to_copy(std::size_t first, std::size_t end, page_state from, copy_direction dir,
                                 unsigned dev, std::vector<copy_op>& ops) {
  const std::size_t ppc = chunk_bytes_ / kPageSize;
  if (first < end) {
    for (std::size_t c = first / ppc; c <= (end - 1) / ppc; ++c) settle_uploads_locked(c);
  }
  std::byte* const device = device_[dev];
  return for_each_run(
      first, end, [&](std::size_t p) { return pages_.state(p) == from; },
      [&](std::size_t off, std::size_t len) {
        if (dir == copy_direction::host_to_device) ops.push_back({device + off, alias_.data() + off, len});
        else ops.push_back({alias_.data() + off, device + off, len});
      });
}

std::size_t region::copy_runs(std::size_t first, std::size_t end, page_state from, copy_direction dir,
                              copy_lane& lane, unsigned dev) {
  std::vector<copy_op> ops;
  const std::size_t bytes = runs_to_copy(first, end, from, dir, dev, ops);
  lane.copy(ops, dir);
  return bytes;
}

bool region::map_pages(std::size_t first, std::size_t end, std::span<const fault> writes, bool skip_device,
                       bool speculative) noexcept {
  auto want_write = [&](std::size_t p) {
    return std::any_of(writes.begin(), writes.end(), [p](const fault& f) { return f.page == p && f.write; });
  };
  const bool tracking = ctx_.tracking != tracking_mode::off;
  bool all_mapped = true;
  bool need_wake = false;
  // A `storage` page is a hole: nothing to map (its fault waits for a read).
  auto skip = [&](std::size_t i) {
    return pages_.mapped(i) || pages_.state(i) == page_state::storage ||
           (skip_device && pages_.state(i) == page_state::device);
  };
  for (std::size_t p = first; p < end;) {
    if (skip(p)) {
      ++p;
      continue;
    }
    // Writable for host pages and written pages; protected where the device copy
    // (or a mapped file's copy) stays valid, so the first write is seen.
    auto dirty = [&](std::size_t i) {
      return !tracking || (pages_.state(i) == page_state::host && !pages_.backed(i)) || want_write(i);
    };
    // Speculative: writable too, but still clean (the snapshot tells later).
    auto writable = [&](std::size_t i) { return speculative || dirty(i); };
    const bool w = writable(p);
    std::size_t q = p + 1;
    while (q < end && !skip(q) && writable(q) == w) ++q;
    // Wake only once everything is mapped: a thread woken early would fault
    // again on the next run of its block. A single run wakes by itself.
    const bool wake_now = p == first && q == end;
    need_wake |= !wake_now;
    // Counted before the CONTINUE, waking or not: from it on any thread may read the
    // pages without a fault, and its statistics must already include them. Corrected
    // below if fewer were mapped.
    counters::add(ctx_.count.pages_continued, q - p);
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
      if (speculative && !dirty(i)) {
        pages_.set_speculative(i, true);
        if (pages_.state(i) != page_state::host) pages_.set_state(i, page_state::shared);
        continue;
      }
      // A protected host page stays host (its device copy is stale or absent).
      if (w || pages_.state(i) != page_state::host) pages_.set_state(i, w ? page_state::host : page_state::shared);
      if (w) pages_.set_backed(i, false);  // writable: may be written from now on
    }
    ctx_.count.pages_continued.fetch_sub((q - p) - (upto - p), std::memory_order_relaxed);
    // The host budget's coldness clock (storage tier).
    if (file_ && upto > p) chunks_[p * kPageSize / chunk_bytes_].host_used.store(++ctx_.host_clock, std::memory_order_relaxed);
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
  if (need_wake) ctx_.uffd.wake(user_.data() + first * kPageSize, (end - first) * kPageSize);
  // After the CONTINUEs: a fault message read before this tick whose page is now mapped
  // was woken by them (region::resolve serves it by a wake only).
  if (first < end) {
    const std::uint64_t now = ctx_.zap_clock.fetch_add(1) + 1;
    for (std::size_t c = first * kPageSize / chunk_bytes_; c <= (end - 1) * kPageSize / chunk_bytes_; ++c) chunks_[c].mapped_at = now;
  }
  return all_mapped;
}

}  // namespace umpager::detail
