// The storage tier of a mapped file (runtime::map_file): pages in the `storage` state
// are holes in the memfd; they are read from the file (one batch
// of io_uring reads per call, at the engine's queue depth: spliced into the memfd, or
// read into the alias view where the engine cannot splice) and then map like host
// pages. Written pages (the `backed` bit cleared) go back to the file on flush.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include "page_runs.hpp"
#include "region.hpp"
#include "storage/host_budget.hpp"
#include "storage/io_pool.hpp"
#include "storage/storage_file.hpp"
#include "trace_range.hpp"
#include "umpager/error.hpp"

namespace umpager::detail {
namespace {

/// Requests larger than this are split, so a long run still fills the queue.
constexpr std::size_t kMaxRequest = std::size_t{256} << 10;

/// Calls add(offset, bytes) for pieces of at most kMaxRequest covering [off, off+len)
/// clamped to `file_size` (nothing past the end of the file is read or written).
template <class Add>
void split(std::uint64_t off, std::size_t len, std::uint64_t file_size, Add&& add) {
  const std::uint64_t end = std::min<std::uint64_t>(off + len, file_size);
  for (std::uint64_t o = off; o < end; o += kMaxRequest) add(o, static_cast<std::size_t>(std::min<std::uint64_t>(kMaxRequest, end - o)));
}

}  // namespace

bool region::writes_back() const noexcept { return file_ && file_->write_back; }

void region::collect_reads_locked(std::size_t first, std::size_t end, bool splice, std::vector<io_request>& reqs) {
  // Pages another read has in flight (`reading`) are that read's: skipped throughout.
  auto unread = [&](std::size_t p) { return pages_.state(p) == page_state::storage && !pages_.reading(p); };
  // Spliced reads fill the memfd's holes (`storage` pages are holes) in the kernel: no
  // view's page tables are touched (docs/bench.md "Session 5: splice ingest"). They come
  // from the file's O_DIRECT descriptor where there is one (the spill file's own is
  // O_DIRECT where allowed); with config::page_cache from its buffered one (the
  // kernel's read-ahead and page cache, as mmap's).
  // Otherwise the holes are allocated and mapped in the alias view first, one call per
  // run: the reads (a buffered copy, or O_DIRECT's pinning) and the zero fill then take
  // no page fault per page, which costs a full exception each (measured: a buffered read
  // of a mapped file spent half its time faulting inside the copy). Failure only costs speed.
  if (!splice) {
    for_each_run(first, end, unread,
                 [&](std::size_t off, std::size_t len) { (void)::madvise(alias_.data() + off, len, MADV_POPULATE_WRITE); });
  }
  const int rfd = splice ? file_->splice_fd() : file_->read_fd.load(std::memory_order_relaxed);
  for_each_run(
      first, end, [&](std::size_t p) { return unread(p) && pages_.backed(p); },
      [&](std::size_t off, std::size_t len) {
        split(off, len, file_->read_end(rfd), [&](std::uint64_t o, std::size_t n) {
          reqs.push_back({io_request::kind::read, rfd, file_->base + o, alias_.data() + o, n, 0, splice ? memfd_.get() : -1, o});
        });
      });
}

void region::retry_reads(io_engine& engine, std::vector<io_request>& reqs) {
  // A failed request of several pages is retried page by page, so only the pages
  // that cannot be read are lost (and only their faults get SIGBUS). Retries are
  // buffered: a direct read refused (EINVAL: alignment the device wants) switches
  // the file to buffered reads for good.
  auto retried = [&](const io_request& r) {
    return r.result != static_cast<ssize_t>(r.bytes) && (r.bytes > kPageSize || (r.fd != file_->fd && r.result < 0));
  };
  std::vector<io_request> again;
  for (const io_request& r : reqs) {
    if (!retried(r)) continue;
    if (r.result == -EINVAL && r.fd != file_->fd) file_->read_fd.store(file_->fd, std::memory_order_relaxed);
    const std::uint64_t stop = std::min<std::uint64_t>(r.offset + r.bytes, file_->base + file_->size);
    for (std::uint64_t o = r.offset; o < stop; o += kPageSize) {
      again.push_back({io_request::kind::read, file_->fd, o, alias_.data() + (o - file_->base),
                       static_cast<std::size_t>(std::min<std::uint64_t>(kPageSize, stop - o)), 0});
    }
  }
  if (again.empty()) return;
  engine.run(again);
  std::erase_if(reqs, retried);
  reqs.insert(reqs.end(), again.begin(), again.end());
  std::sort(reqs.begin(), reqs.end(), [](const io_request& a, const io_request& b) { return a.offset < b.offset; });
}

bool region::land_reads_locked(std::size_t first, std::size_t end, umpager::span<const io_request> reqs, bool async,
                               char* why, std::size_t why_bytes) noexcept {
  // This read's pages: the synchronous one's are not `reading`, an asynchronous one's
  // are (and no other read of the chunk is in flight meanwhile).
  auto ours = [&](std::size_t p) { return pages_.state(p) == page_state::storage && pages_.reading(p) == async; };
  // Only pages whose every byte arrived leave `storage`. A page with no copy (never
  // spilled, or past the end of a mapped file) reads as zeros, as with mmap.
  bool ok = true;
  std::size_t ri = 0;
  std::uint64_t read = 0;
  std::size_t loaded = 0;
  // Pages with no copy: allocated zeroed in the memfd by runs, after the loop.
  std::size_t zero_from = 0, zero_end = 0;
  auto zero_run = [&] {
    if (zero_from == zero_end) return;
    // The kernel allocates the pages, zeroed when CONTINUE first maps them (a
    // fallocated shmem page is cleared on first use). A memset through the alias view
    // instead faulted its page tables in page by page: ~14 us a page on this VM
    // (docs/bench.md "Session 6"). The pages are holes (never written), so no data
    // survives the allocation; a refusal (ENOMEM) falls back to that memset.
    const auto off = static_cast<off_t>(zero_from * kPageSize), len = static_cast<off_t>((zero_end - zero_from) * kPageSize);
    if (::fallocate(memfd_.get(), FALLOC_FL_KEEP_SIZE, off, len) != 0) {
      std::memset(alias_.data() + off, 0, static_cast<std::size_t>(len));
    }
    zero_from = zero_end = 0;
  };
  for (std::size_t p = first; p < end; ++p) {
    if (!ours(p)) continue;
    const std::uint64_t lo = file_->base + p * kPageSize;
    const std::uint64_t hi = file_->base + std::min<std::uint64_t>(p * kPageSize + kPageSize, file_->size);
    const bool stored = pages_.backed(p) && hi > lo;
    bool good = true;
    while (stored && ri < reqs.size() && reqs[ri].offset + reqs[ri].bytes <= lo) ++ri;
    for (std::size_t k = ri; stored && k < reqs.size() && reqs[k].offset < hi; ++k) {
      const io_request& r = reqs[k];
      if (r.result == static_cast<ssize_t>(r.bytes)) continue;
      // A short result covers the page if what arrived reaches past it.
      if (r.result >= 0 && r.offset + static_cast<std::uint64_t>(r.result) >= hi) continue;
      good = false;
      if (ok) std::snprintf(why, why_bytes, "%s", storage_read_error(*file_, r.offset, r.bytes, r.result).c_str());
      ok = false;
    }
    if (!good) continue;
    if (!stored) {
      if (zero_end != p) zero_run(), zero_from = p;
      zero_end = p + 1;
    }
    // The file's last, partial page: zeros past its end (a whole-page direct read leaves
    // the rest of the buffer unspecified).
    else if (hi - lo < kPageSize) std::memset(alias_.data() + p * kPageSize + (hi - lo), 0, kPageSize - (hi - lo));
    pages_.set_state(p, page_state::host);
    pages_.set_mapped(p, false);
    read += stored ? hi - lo : 0;
    ++loaded;
  }
  zero_run();
  file_->drop_cached(reqs, false);  // buffered reads (no O_DIRECT) leave nothing cached
  if (ctx_.budget != nullptr && loaded != 0) ctx_.budget->grew(loaded * kPageSize);
  counters::add(ctx_.count.bytes_from_storage, read);
  // Pages whose read failed stay `storage`: give back what the populate or a splice allocated.
  if (!ok) {
    for_each_run(first, end, ours, [&](std::size_t off, std::size_t len) {
      (void)::fallocate(memfd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(off),
                        static_cast<off_t>(len));
    });
  }
  // The read is over for every page it had, landed or not (after the punch above, which
  // needs the failed ones still marked).
  for (std::size_t p = first; p < end && async; ++p) pages_.set_reading(p, false);
  return ok;
}

bool region::load_storage_locked(std::size_t first, std::size_t end, char* why, std::size_t why_bytes) noexcept {
  std::vector<io_request> reqs;
  std::optional<io_pool::lease> engine;
  try {
    engine.emplace(ctx_.io->acquire());
  } catch (const std::exception& e) {
    std::snprintf(why, why_bytes, "%s", e.what());  // an error only if there is something to read
  } catch (...) {
    std::snprintf(why, why_bytes, "I/O engine failed");
  }
  try {
    collect_reads_locked(first, end, engine && (*engine)->splices(), reqs);
  } catch (...) {
    std::snprintf(why, why_bytes, "out of memory");
    return false;
  }
  if (!reqs.empty()) {
    if (!engine) return false;
    const trace_range trace(ctx_, "umpager storage read");
    try {
      const auto t0 = std::chrono::steady_clock::now();
      (*engine)->run(reqs);
      retry_reads(**engine, reqs);
      note_storage_read(t0, reqs.size(), (*engine)->queue_depth());
    } catch (const std::exception& e) {
      std::snprintf(why, why_bytes, "%s", e.what());
      return false;
    } catch (...) {
      std::snprintf(why, why_bytes, "I/O engine failed");
      return false;
    }
  }
  return land_reads_locked(first, end, reqs, false, why, why_bytes);
}

void region::note_storage_read(std::chrono::steady_clock::time_point t0, std::size_t requests, unsigned depth) noexcept {
  ctx_.count.storage_read.record(static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count()));
  ctx_.count.note_queue_depth(std::min<std::size_t>(requests, depth));
}

void region::load_storage_or_throw(std::size_t first, std::size_t end, const char* what) {
  char why[256] = "";
  if (!load_storage_locked(first, end, why, sizeof why)) throw runtime_error(std::string(what) + ": " + why);
}

void region::flush(std::size_t offset, std::size_t bytes) {
  // A file mapped read_only has nothing to write back: done, as msync of a read-only
  // mapping is (a program may flush every mapping before it exits).
  if (file_ && !file_->spill && !file_->write_back) return;
  UMPAGER_EXPECTS(writes_back(), "flush: the allocation is not a mapped file");
  const std::size_t first = offset / kPageSize;
  const std::size_t end = std::min(pages_.size(), (offset + bytes + kPageSize - 1) / kPageSize);
  const trace_range trace(ctx_, "umpager flush");
  struct stat st {};
  UMPAGER_SYSCALL(::fstat(file_->fd, &st), "flush: fstat");
  // The mapping is [base, base+size) of the file: the flushed part of it must still be there.
  const std::uint64_t needed = file_->base + std::min<std::uint64_t>(file_->size, end * kPageSize);
  if (static_cast<std::uint64_t>(st.st_size) < needed) {
    throw runtime_error("flush: " + file_->path + " was truncated while mapped (now " + std::to_string(st.st_size) +
                        " bytes, mapped up to " + std::to_string(file_->base + file_->size) +
                        "); written pages stay in memory");
  }
  const std::vector<os::address_range> own = own_ranges(first, end);
  std::lock_guard transfer(ctx_.transfer_mutex);
  auto one_chunk = [&](std::size_t c, std::size_t p, std::size_t e) {
    // Device copies are the newest: home first, after any writer in flight. They
    // stay valid on the device (shared), unmapped here.
    if (!wait_locked(c, true)) {
      throw driver_error("flush: work in flight that writes the range did not finish within " +
                         std::to_string(ctx_.wait_ms) + " ms");
    }
    if (chunks_[c].device.valid()) {
      const unsigned on = chunks_[c].on;
      counters::add(ctx_.count.bytes_to_host, copy_runs(p, e, page_state::device, copy_direction::device_to_host,
                                                        *ctx_.devices[on].transfer, on));
      for (std::size_t i = p; i < e; ++i) {
        if (pages_.state(i) == page_state::device) pages_.set_state(i, page_state::shared);
      }
    }
    // Which mapped pages were written, found *before* the write below (re-armed or
    // write-protected), so a CPU write during or after it is seen by the next flush.
    const bool armed = note_written_locked(p, e, own, true);
    auto written = [&](std::size_t i) {
      const page_state st = pages_.state(i);
      return (st == page_state::host || st == page_state::shared) && !pages_.backed(i);
    };
    std::vector<io_request> reqs;
    for_each_run(p, e, written, [&](std::size_t off, std::size_t len) {
      split(off, len, file_->size, [&](std::uint64_t o, std::size_t n) {
        reqs.push_back({io_request::kind::write, file_->write_fd(n), file_->base + o, alias_.data() + o, n, 0});
      });
    });
    if (reqs.empty()) return;
    {
      auto engine = ctx_.io->acquire();
      write_storage(*file_, *engine, reqs);
      ctx_.count.note_queue_depth(std::min<std::size_t>(reqs.size(), engine->queue_depth()));
    }
    std::uint64_t wrote = 0;
    for (const io_request& r : reqs) {
      if (r.result == static_cast<ssize_t>(r.bytes)) {
        wrote += r.bytes;
        continue;
      }
      counters::add(ctx_.count.bytes_to_storage, wrote);
      const int err = r.result < 0 ? static_cast<int>(-r.result) : EIO;
      // Nothing is marked written back: the pages keep their data and stay dirty.
      throw system_error(err, "flush: write of " + file_->path + " at " + std::to_string(r.offset) + " (" +
                                  std::to_string(r.bytes) + " bytes)" +
                                  (r.result >= 0 ? " was short (" + std::to_string(r.result) + " bytes)" : ""));
    }
    counters::add(ctx_.count.bytes_to_storage, wrote);
    // Not armed (the view changed under us): written again, unseen, later; stays dirty.
    for (std::size_t i = p; i < e && armed; ++i) {
      if (written(i)) pages_.set_backed(i, true);
    }
  };
  const std::size_t ppc = chunk_bytes_ / kPageSize;
  for (std::size_t p = first; p < end;) {
    const std::size_t c = p / ppc, e = std::min(end, (c + 1) * ppc);
    std::lock_guard g(chunks_[c].lock);
    one_chunk(c, p, e);
    p = e;
  }
  // Durable when it returns, as msync(MS_SYNC) is: what this flush and earlier
  // write-backs (the host budget's) wrote is on the disk, not only in the page cache.
  UMPAGER_SYSCALL(::fdatasync(file_->fd), "flush: fdatasync of " + file_->path);
}

bool region::note_written_locked(std::size_t p, std::size_t e, std::span<const os::address_range> own,
                                 bool protect) {
  retire_speculative_locked(p * kPageSize / chunk_bytes_, p, e);  // write read-ahead's pages first
  bool armed = true;
  const auto base = reinterpret_cast<std::uintptr_t>(user_.data());
  const auto lo = base + p * kPageSize, hi = base + e * kPageSize;
  std::uint64_t found = 0;
  for (const os::address_range& r : own) {
    const std::uintptr_t s = std::max(r.start, lo), x = std::min(r.end, hi);
    if (s >= x) continue;
    if (ctx_.tracking == tracking_mode::wp_async) {
      std::lock_guard pm(ctx_.pagemap_mutex);
      const int rc = ctx_.pagemap.collect_written(s, x, [&](std::uintptr_t ws, std::uintptr_t wx) {
        for (std::uintptr_t a = ws; a < wx; a += kPageSize, ++found) note_page_written((a - base) / kPageSize);
      });
      // Without the scan we cannot know what was written: treat all as written.
      if (rc < 0) {
        for (std::uintptr_t a = s; a < x; a += kPageSize) note_page_written((a - base) / kPageSize);
      }
    } else if (ctx_.tracking == tracking_mode::off) {
      for (std::uintptr_t a = s; a < x; a += kPageSize) {
        const std::size_t i = (a - base) / kPageSize;
        if (pages_.state(i) == page_state::shared || pages_.mapped(i)) note_page_written(i);
      }
    } else if (protect) {
      // sync: a written page is already known (its WP fault); protect the mapped ones
      // so the next write faults again.
      if (ctx_.uffd.write_protect(reinterpret_cast<void*>(s), x - s, true, false) < 0) armed = false;
    }
  }
  counters::add(ctx_.count.written_pages_found, found);
  return armed;
}

}  // namespace umpager::detail
