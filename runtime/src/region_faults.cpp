// Serving CPU faults: a block's device pages copied home in one batch, then mapped;
// a fault that cannot be served is poisoned (fail closed), never left waiting.
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <tuple>
#include <cstdio>
#include <vector>

#include "region.hpp"
#include "storage/storage_file.hpp"
#include "trace_range.hpp"

namespace umpager::detail {
namespace {
/// What a mapped file's fault reads around itself (the kernel's default read_ahead_kb
/// is the same; docs/architecture.md "Storage tier").
constexpr std::size_t kReadAround = std::size_t{128} << 10;
}  // namespace

void region::fail_closed(std::span<const fault> faults, const char* why, const std::bitset<kMaxChunksPerBlock>& lost,
                         std::size_t c0) noexcept {
  const std::size_t ppc = chunk_bytes_ / kPageSize;
  // Never map a page whose data did not arrive: the threads faulting on such pages
  // get SIGBUS. Only those: a page whose host copy is valid, or whose chunk's copy worked,
  // can be served (issue 12, "poison only what is lost").
  bool reported = false;
  for (const fault& f : faults) {
    // A `storage` page still here had its read fail (region_storage.cpp).
    const page_state st = pages_.state(f.page);
    if (f.wp || (st != page_state::storage && (st != page_state::device || !lost[f.page / ppc - c0]))) continue;
    if (pages_.reading(f.page)) continue;  // its asynchronous read lands it (or wakes it to retry)
    std::byte* addr = user_.data() + f.page * kPageSize;
    if (!reported) {
      std::fprintf(stderr, "umpager: fault at %p not served (%s): SIGBUS for the faulting pages\n",
                   static_cast<void*>(addr), why);
      reported = true;
    }
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
    if (rc == -EEXIST) {
      // Still occupied: an earlier message for this page (a duplicate: the kernel
      // re-sends after a spurious wake-up) already poisoned it. Wake the thread so
      // it meets that poison; a signal here could reach it after it moved on.
      ctx_.uffd.wake(addr, kPageSize);
      continue;
    }
    // No poison (kernel before 6.6): signal the thread itself, so it cannot spin
    // between faults and wakes.
    if (f.tid != 0) ::syscall(SYS_tgkill, ::getpid(), f.tid, SIGBUS);
    ctx_.uffd.wake(addr, kPageSize);
  }
}

std::uint64_t region::resolve(std::size_t block, std::span<const fault> faults, std::span<copy_lane* const> lanes,
                              std::uint64_t read_at, counters::resolver_counts& mine) noexcept {
  const std::size_t ppb = block_ / kPageSize;
  const std::size_t ppc = chunk_bytes_ / kPageSize;
  std::size_t first = block * ppb;
  std::size_t end = std::min(first + ppb, pages_.size());
  // A block may span several chunks (a driver with chunks smaller than the block):
  // every one is locked, in address order (the order every multi-chunk holder uses).
  const std::size_t c0 = first / ppc, c1 = (end - 1) / ppc + 1;
  const trace_range trace(ctx_, "umpager fault");
  const auto held = lock_chunks(c0, c1);  // let go in reverse order

  // Each message is counted here, under the chunk locks and before the wake that ends
  // its thread's wait, as served (by kind) or as stale (only woken), never both: a
  // message read long before its chunk lock was free must not change the served count
  // of whatever runs meanwhile, and a woken thread must see its own fault counted.
  std::uint64_t only_woken = 0;
  auto wake_stale = [&](std::size_t i) {
    only_woken |= std::uint64_t{1} << i;
    counters::add(ctx_.count.stale_faults, 1);
    ctx_.uffd.wake(user_.data() + faults[i].page * kPageSize, kPageSize);
  };
  bool stale = false;
  for (std::size_t c = c0; c < c1; ++c) stale |= chunks_[c].zapped_at > read_at;
  if (stale) {
    // Read before the chunk was zapped: the message may be a duplicate of a fault
    // already served (the kernel re-sends after a signal). A read message always
    // belonged to a blocked thread, so only wake: a thread still waiting faults
    // again, and that message, read after the zap, is served.
    for (std::size_t i = 0; i < faults.size(); ++i) wake_stale(i);
    return only_woken;
  }
  bool missing = false;
  for (std::size_t i = 0; i < faults.size(); ++i) {
    const fault& f = faults[i];
    if (!f.wp && pages_.mapped(f.page) && chunks_[f.page / ppc].mapped_at > read_at) {
      // Mapped since this message was read, with no zap between (another resolver's
      // block or a read-ahead mapped the page, and its CONTINUE woke the thread): served.
      // Fetching a block for it would copy pages nobody waits for (found by a soak: a
      // starved resolver's late message pulled a dense chunk home). A bit set before the
      // read is not trusted (the application may have zapped its view): served below.
      wake_stale(i);
      continue;
    }
    if (!f.wp) {
      counters::add(f.write ? mine.write_faults : mine.read_faults, 1);
      pages_.set_mapped(f.page, false);  // a missing fault proves there is no PTE
      missing = true;
      continue;
    }
    std::byte* addr = user_.data() + f.page * kPageSize;
    if (pages_.state(f.page) == page_state::device || !pages_.mapped(f.page)) {
      // Zapped since the fault: the retry raises a missing fault instead.
      wake_stale(i);
      continue;
    }
    counters::add(mine.wp_faults, 1);
    pages_.set_state(f.page, page_state::host);  // the device copy is now stale
    pages_.set_backed(f.page, false);             // and so is a mapped file's
    if (ctx_.uffd.write_protect(addr, kPageSize, false, true) < 0) ctx_.uffd.wake(addr, kPageSize);
  }
  if (!missing) return only_woken;
  // Adaptive: grown by density, within the one chunk held (an adaptive block is one page).
  std::size_t at = first;
  if (adaptive_) {
    region_chunk& ch = chunks_[c0];
    const bool whole = ch.density(held.token(c0)).count(ch.zapped_at, faults);
    std::tie(first, end) = dense_range(held.token(c0), pages_, ppc, faults, whole);
    at = std::min_element(faults.begin(), faults.end(), [](const fault& a, const fault& b) {
           return a.page < b.page;
         })->page;
  }
  // A mapped file's fault also reads around itself, like the kernel's mmap faults
  // (read-around and fault-around): the aligned kReadAround bytes that hold the block,
  // within its chunk. Not the spill file: spilled data keeps the block's sparse reads.
  std::size_t load_first = first, around_end = end;
  if (file_ && !file_->spill && c1 - c0 == 1) {
    constexpr std::size_t around = kReadAround / kPageSize;
    load_first = std::max(c0 * ppc, first / around * around);
    around_end = std::max(end, std::min({(end + around - 1) / around * around, c1 * ppc, pages_.size()}));
  }
  // Before this block's copy, so other resolvers copy the next blocks meanwhile. From
  // the end of what this fault maps: a scan's next fault is there (planned from the
  // block's end, a read-around hid every scan from the read-ahead: measured).
  const std::size_t ahead =
      plan_readahead(at, around_end, read_at,
                     std::any_of(faults.begin(), faults.end(), [](const fault& f) { return f.write && !f.wp; }));
  // Every fault on pages an asynchronous read-ahead has in flight: its completion
  // maps them and so wakes these threads (or wakes them to fault again).
  if (std::all_of(faults.begin(), faults.end(), [&](const fault& f) { return f.wp || pages_.reading(f.page); })) {
    return only_woken;
  }
  // Storage: a sequential scan reads its window (within this chunk) in the block's own
  // batch, at the engine's queue depth, and maps it with the block, rather than one
  // synchronous read per block fault (docs/architecture.md "Storage tier").
  std::size_t load_end = file_ && c1 - c0 == 1 ? std::max(around_end, std::min(ahead, c1 * ppc)) : end;
  // A mapped file's random fault in a chunk already dense (the adaptive faults' threshold,
  // an eighth of its pages mapped: two read-arounds) reads and maps the rest of the chunk: a
  // random pass then takes ~3 faults per chunk instead of one per read-around
  // (docs/bench.md, "Session 5: random faults of a mapped file").
  if (file_ && !file_->spill && c1 - c0 == 1 && load_end == around_end) {
    const std::size_t lo = c0 * ppc, hi = std::min(c1 * ppc, pages_.size());
    if (hi - lo - unmapped_pages(lo, hi) >= dense_threshold(hi - lo)) {
      load_first = lo;
      load_end = hi;
    }
  }

  // Each chunk's part from the device it is resident on; a part that cannot be had
  // leaves only its own device pages unserved: those faults are poisoned first, then
  // everything else is mapped (the wake at its end finds the poisoned threads gone).
  char why[256] = "";
  std::bitset<kMaxChunksPerBlock> lost;
  // A mapped file's pages not read yet: from the file first (failures stay `storage`).
  const bool unread = file_ && !load_storage_locked(load_first, load_end, why, sizeof why);
  for (std::size_t c = c0; c < c1; ++c) {
    const std::size_t p = std::max(first, c * ppc), e = std::min(end, (c + 1) * ppc);
    // An upload or a declared kernel still writing the device copy: copy after it.
    if (!wait_locked(c, true)) {
      lost.set(c - c0);
      std::snprintf(why, sizeof why, "work in flight that writes these pages did not finish in time");
      continue;
    }
    try {
      const unsigned on = chunks_[c].on;  // `device` pages exist only while resident there
      counters::add(ctx_.count.bytes_to_host,
                    copy_runs(p, e, page_state::device, copy_direction::device_to_host, *lanes[on], on));
    } catch (const std::exception& ex) {
      lost.set(c - c0);
      std::snprintf(why, sizeof why, "%s", ex.what());
    } catch (...) {
      lost.set(c - c0);
      std::snprintf(why, sizeof why, "unknown error");
    }
  }
  if (lost.any() || unread) fail_closed(faults, why, lost, c0);
  // The window first (host copies only: its device pages were not copied; the chunk's
  // writers in flight were waited for above), then the block, whose CONTINUE wakes.
  auto map_around = [&](std::size_t p, std::size_t e) {
    if (p >= e || lost[0]) return;
    const std::size_t before = unmapped_pages(p, e);
    map_pages(p, e, {}, true);
    counters::add(ctx_.count.pages_read_ahead, before - unmapped_pages(p, e));  // mapped ahead of the scan
  };
  map_around(end, load_end);
  map_around(load_first, first);
  for (std::size_t c = c0; c < c1; ++c) {
    map_pages(std::max(first, c * ppc), std::min(end, (c + 1) * ppc), faults, lost[c - c0]);
  }
  return only_woken;
}

}  // namespace umpager::detail
