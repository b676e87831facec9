// Serving CPU faults: a block's device pages copied home in one batch, then mapped;
// a fault that cannot be served is poisoned (fail closed), never left waiting.
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>

#include "region.hpp"
#include "trace_range.hpp"

namespace umpager::detail {

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

  // An upload or a declared kernel still writing the device copy: copy after it.
  if (!wait_locked(c, true)) {
    fail_closed(faults, "work in flight that writes these pages did not finish in time");
    return;
  }
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
  map_pages(first, end, faults);
}

}  // namespace umpager::detail
