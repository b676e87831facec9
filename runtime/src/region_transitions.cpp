// Transitions of whole ranges (design.md "Page states"): make resident on a device
// (zap, scan, upload), bring home, and evict a chunk; each one chunk at a time
// under that chunk's lock.
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "page_runs.hpp"
#include "region.hpp"
#include "storage/host_budget.hpp"
#include "residency.hpp"
#include "trace_range.hpp"
#include "umpager/error.hpp"

namespace umpager::detail {

template <class Fn>
void region::for_each_chunk(std::size_t first_page, std::size_t end_page, Fn&& fn) {
  const std::size_t pages_per_chunk = chunk_bytes_ / kPageSize;
  for (std::size_t p = first_page; p < end_page;) {
    const std::size_t c = p / pages_per_chunk;
    const std::size_t e = std::min(end_page, (c + 1) * pages_per_chunk);
    // After any asynchronous read of the chunk (its pages are not anyone's until it lands).
    const std::unique_lock g = lock_unread(c);
    fn(c, p, e);
    p = e;
  }
}

void region::zap(std::size_t c, std::size_t first, std::size_t end, std::span<const os::address_range> own) {
  const auto lo = reinterpret_cast<std::uintptr_t>(user_.data() + first * kPageSize);
  const auto hi = reinterpret_cast<std::uintptr_t>(user_.data() + end * kPageSize);
  // Pages mapped writable ahead of a write scan: which were written is known only
  // while they are still mapped (region_write_ahead.cpp).
  retire_speculative_locked(c, first, end);
  chunks_[c].zapped_at = ctx_.zap_clock.fetch_add(1) + 1;
  // Only what is still the view: a hole the application unmapped may hold another
  // mapping by now, which a zap would destroy (docs/lifecycle.md).
  for (const os::address_range& r : own) {
    const std::uintptr_t s = std::max(r.start, lo), x = std::min(r.end, hi);
    // ENOMEM: the application unmapped part of its view since own_ranges.
    if (s < x && ::madvise(reinterpret_cast<void*>(s), x - s, MADV_DONTNEED) != 0 && errno != ENOMEM) {
      throw system_error(errno, "zap user view");
    }
  }
  for (std::size_t i = first; i < end; ++i) pages_.set_mapped(i, false);
}

void region::enqueue_copies(umpager::span<const copy_op> ops, std::size_t bytes, copy_direction dir, driver& drv,
                            stream_handle s, const char* what) {
  if (ops.empty()) return;
  drv.copy_async(ops, dir, s);
  if (ctx_.trace != nullptr) ctx_.trace->enqueued_copy(what, s.impl, bytes);
}

void region::to_device(std::size_t offset, std::size_t bytes, move_op& op) {
  const unsigned k = op.device;
  const std::size_t first = offset / kPageSize;
  const std::size_t end = (offset + bytes + kPageSize - 1) / kPageSize;
  device_slot& slot = ctx_.devices[k];
  residency& res = *slot.res;
  const trace_range trace(ctx_, op.prefetch ? "umpager prefetch to device" : "umpager declare on device");
  std::lock_guard transfer(ctx_.transfer_mutex);
  const std::vector<os::address_range> own = own_ranges(first, end);
  // A declared read leaves the host copy valid (`shared`), so its pages stay mapped,
  // write-protected: a CPU write after the scan is caught by the next scan (or its
  // WP fault) and only marks the page stale on the device, which a read-only kernel
  // cannot make wrong. Zapping them would cost a TLB shootdown per range and a fault
  // per page on the next CPU read. Untracked mode has no write protection: zap.
  const bool keep_mapped = op.read_only && ctx_.tracking != tracking_mode::off;
  for_each_chunk(first, end, [&](std::size_t c, std::size_t p, std::size_t e) {
    // Zap first: from here every CPU access faults and waits for this chunk's lock.
    if (!keep_mapped) zap(c, p, e, own);
    // Then collect what was written since the last arm, re-arming it (and under sync
    // tracking write-protecting what stays mapped).
    note_written_locked(p, e, own, keep_mapped);
    // storage -> host -> device: a mapped file's pages not read yet are read first.
    if (file_) load_storage_or_throw(p, e, "to device");
    region_chunk& rc = chunks_[c];
    // A kernel reaching the chunk in host memory reads its table entry, which moving
    // it would change under it: after that kernel (its close takes no chunk lock).
    // Earlier kernels of the op's own stream are followed by event: their table
    // entries are rewritten in stream order after them.
    std::vector<std::shared_ptr<fence>> reachers;
    if (!rc.device.valid() || rc.on != k) {
      const auto patience = std::chrono::milliseconds(ctx_.wait_ms);
      const bool settled = op.stream.impl != nullptr ? reached_.settle(c, *slot.drv, op.stream, patience, reachers)
                                                     : reached_.wait_idle(c, patience);
      if (!settled) {
        throw driver_error("to device: a kernel reaching the range in host memory did not finish within " +
                           std::to_string(ctx_.wait_ms) + " ms (a declaration left open?); the chunk stays there");
      }
    }
    if (!rc.device.valid()) {
      res.make_resident(*this, c);
    } else if (rc.on != k) {
      // The old device's copy must not be in use while it moves.
      if (!wait_locked(c, false)) throw driver_error("to device: work in flight on device " + std::to_string(rc.on) +
                                                     " did not finish in time; the chunk stays there");
      move_chunk(c, k);
    } else {
      res.touch(*this, c);
    }
    op.pinned.emplace_back(this, c);
    std::size_t up = 0;
    if (op.stream.impl == nullptr) {
      up = copy_runs(p, e, page_state::host, copy_direction::host_to_device, *slot.transfer, k);
    } else {
      // On the upload stream, which the caller's stream then waits for: the copies
      // overlap kernels already queued there (they never use pages still `host`).
      const bool side = op.uploads_aside && slot.upload.impl != nullptr;
      // The uploads read host pages those kernels may write.
      for (const std::shared_ptr<fence>& f : reachers) slot.drv->wait(side ? slot.upload : op.stream, f->event());
      std::vector<copy_op> ops;
      up = runs_to_copy(p, e, page_state::host, copy_direction::host_to_device, k, ops);
      // A point of this chunk's own after its copies: a failure is then known chunk by
      // chunk (an event carries the failures since its stream's previous record). Made
      // before the copies, so that failing to make it enqueues nothing.
      const std::shared_ptr<fence> copied = up != 0 ? op.point->sibling() : nullptr;
      enqueue_copies(ops, up, copy_direction::host_to_device, *slot.drv, side ? slot.upload : op.stream,
                     "copy to device");
      if (up != 0) {
        copied->record(side ? slot.upload : op.stream);
        if (side) {
          pin_locked(c, slot.upload, copied, true);  // an eviction waits for the copy itself too
          slot.drv->wait(op.stream, copied->event());
        }
        region_chunk::upload u{copied, {}, rc.zapped_at};
        for (const copy_op& o : ops) {
          const auto at = static_cast<std::size_t>(static_cast<const std::byte*>(o.src) - alias_.data()) / kPageSize;
          u.runs.emplace_back(at, at + o.bytes / kPageSize);
        }
        rc.uploads.push_back(std::move(u));
      }
      // Pinned until the stream passes this chunk's uploads; a fault waits for them.
      op.point->record(op.stream);
      pin_locked(c, op.stream, op.point, true, op.prefetch);
    }
    counters::add(ctx_.count.bytes_to_device, up);
    op.uploaded += up;
    for (std::size_t i = p; i < e; ++i) {
      // Read declarations and read-mostly pages keep their host copy valid.
      const bool keep_host = (op.read_only || pages_.read_mostly(i)) && pages_.state(i) != page_state::device;
      pages_.set_state(i, keep_host ? page_state::shared : page_state::device);
      pages_.set_uploaded(i, true);
      // A kernel may write the device copy (undeclared launches too): a flush writes it.
      if (!keep_host) pages_.set_backed(i, false);
    }
    if (op.prefetch) rc.last_prefetch.store(static_cast<int>(k), std::memory_order_relaxed);
  });
}

void region::declared_done(std::size_t offset, std::size_t bytes, bool writes, stream_handle s,
                           const std::shared_ptr<fence>& point) {
  const std::size_t first = offset / kPageSize;
  const std::size_t end = (offset + bytes + kPageSize - 1) / kPageSize;
  // Asked of the kernel once for the range, as to_device does, not once per chunk.
  const std::vector<os::address_range> own = writes ? own_ranges(first, end) : std::vector<os::address_range>{};
  for_each_chunk(first, end, [&](std::size_t c, std::size_t p, std::size_t e) {
    pin_locked(c, s, point, writes);
    if (!writes) return;
    // The kernel writes the device copy: CPU touches fault (and wait for it).
    zap(c, p, e, own);
    for (std::size_t i = p; i < e; ++i) {
      pages_.set_state(i, page_state::device);
      // The kernel wrote the device copy: a storage copy is stale now too. (A read-mostly
      // page stayed `shared` and `backed` through its upload; left backed, the host
      // budget would later drop its evicted copy as if storage held it.)
      pages_.set_backed(i, false);
    }
  });
}

void region::home_locked(std::size_t c, std::size_t p, std::size_t e) {
  // A kernel or upload in flight still writes the device copy: copying now would
  // leave the host with old bytes marked valid.
  if (!wait_locked(c, true)) {
    throw driver_error("prefetch to host: work in flight that writes the range did not finish within " +
                       std::to_string(ctx_.wait_ms) + " ms");
  }
  const unsigned on = chunks_[c].on;
  const std::size_t down =
      copy_runs(p, e, page_state::device, copy_direction::device_to_host, *ctx_.devices[on].transfer, on);
  counters::add(ctx_.count.bytes_to_host, down);
  if (file_) load_storage_or_throw(p, e, "prefetch to host");
  if (!map_pages(p, e, {})) {
    throw runtime_error("prefetch to host: the user view was unmapped by the application");
  }
  chunks_[c].last_prefetch.store(kPreferHost, std::memory_order_relaxed);
}

void region::to_host(std::size_t offset, std::size_t bytes) {
  const std::size_t first = offset / kPageSize;
  const std::size_t end = (offset + bytes + kPageSize - 1) / kPageSize;
  const trace_range trace(ctx_, "umpager prefetch to host");
  std::lock_guard transfer(ctx_.transfer_mutex);
  for_each_chunk(first, end, [&](std::size_t c, std::size_t p, std::size_t e) { home_locked(c, p, e); });
}

namespace {

/// Records `point` after copies already enqueued on `s`. The copies write the host
/// copy, so they must not be left unpinned: a record that keeps failing is replaced by
/// waiting for the stream (only on that failure path), and the error is thrown.
void record_after_copies(driver& d, stream_handle s, fence& point) {
  for (int tries = 0;; ++tries) {
    try {
      point.record(s);
      return;
    } catch (...) {
      if (tries < 8) continue;
      for (int waits = 0;; ++waits) {
        try {
          d.synchronize(s);
          break;
        } catch (...) {
          if (waits == 8) break;  // the stream reports its failure: the copies ended either way
        }
      }
      throw;
    }
  }
}

}  // namespace

std::vector<pending_home> region::to_host_ordered(std::size_t offset, std::size_t bytes, driver& d, unsigned dev,
                                                  stream_handle s, const liveness& alive) {
  const std::size_t first = offset / kPageSize;
  const std::size_t end = (offset + bytes + kPageSize - 1) / kPageSize;
  const trace_range trace(ctx_, "umpager prefetch to host on a stream");
  std::lock_guard transfer(ctx_.transfer_mutex);
  std::vector<pending_home> pending;
  for_each_chunk(first, end, [&](std::size_t c, std::size_t p, std::size_t e) {
    region_chunk& rc = chunks_[c];
    std::vector<copy_op> ops;
    const std::size_t down = runs_to_copy(p, e, page_state::device, copy_direction::device_to_host, dev, ops);
    // Nothing to copy (the host copy is valid wherever a device copy is being
    // written: a declared writer makes its pages `device` when it is declared), or
    // resident on another device than the stream's: now, as to_host does.
    if (ops.empty() || !rc.device.valid() || rc.on != dev) {
      home_locked(c, p, e);
      return;
    }
    // Writers on other streams of this device: the stream waits for them by event.
    for (const std::shared_ptr<fence>& w : rc.inflight.writers_besides(d, s)) {
      if (&w->owner() == &d) {
        d.wait(s, w->event());
      } else if (!w->wait_for(std::chrono::milliseconds(ctx_.wait_ms))) {
        throw driver_error("prefetch to host: work in flight on another device that writes the range did not "
                           "finish within " + std::to_string(ctx_.wait_ms) + " ms");
      }
    }
    enqueue_copies(ops, down, copy_direction::device_to_host, d, s, "copy to host");
    counters::add(ctx_.count.bytes_to_host, down);
    // One point per chunk: a failure is then known chunk by chunk (an event carries
    // the failures since the stream's previous record).
    auto point = std::make_shared<fence>(d, alive);
    record_after_copies(d, s, *point);
    // Written: a fault, a move home and an eviction wait until the copies are done.
    pin_locked(c, s, point, true);
    // The host part of the chunk is mapped now, its device pages at land().
    if (file_) load_storage_or_throw(p, e, "prefetch to host");
    (void)map_pages(p, e, {}, true);
    rc.last_prefetch.store(kPreferHost, std::memory_order_relaxed);
    pending.push_back({c, p, e, rc.zapped_at, std::move(point)});
  });
  return pending;
}

void region::land(const pending_home& h) {
  const std::unique_lock g = lock_unread(h.chunk);
  // Zapped since: made resident or written again; the copies home are not its contents.
  if (chunks_[h.chunk].zapped_at != h.zapped_at) return;
  (void)map_pages(h.first, h.end, {});
}

chunk_handle region::evict_locked(std::size_t c) {
  const trace_range trace(ctx_, "umpager evict");
  const std::size_t ppc = chunk_bytes_ / kPageSize;
  const std::size_t first = c * ppc;
  const std::size_t end = std::min(first + ppc, pages_.size());
  const unsigned on = chunks_[c].on;
  // A copy given up on may still write this chunk: it must not go back to the pool.
  if (!ctx_.graveyard->settle(device_[on] + c * chunk_bytes_, chunk_bytes_)) {
    throw driver_error("evict: a timed-out copy may still write this chunk");
  }
  const std::size_t down =
      copy_runs(first, end, page_state::device, copy_direction::device_to_host, *ctx_.devices[on].transfer, on);
  counters::add(ctx_.count.bytes_to_host, down);
  // Host memory grew without a load: nudge the budget's thread as loads do, rather
  // than leave it to its periodic look.
  if (ctx_.budget != nullptr) ctx_.budget->grew(down);
  // Device pages are unmapped on the host: the next touch maps them without a copy.
  for (std::size_t i = first; i < end; ++i) {
    // A spilled page (storage tier) stays where it is: it has no host copy to map.
    if (pages_.state(i) != page_state::storage) pages_.set_state(i, page_state::host);
    pages_.set_uploaded(i, false);
  }
  chunks_[c].inflight.clear();  // all passed: residency evicts only idle chunks
  chunk_handle h = chunks_[c].device;
  ctx_.devices[on].drv->unmap_chunk(device_[on] + c * chunk_bytes_);
  chunks_[c].device = {};
  return h;
}

}  // namespace umpager::detail
