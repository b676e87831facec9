// The host budget's side of a region (UMPAGER_HOST_MEMORY): a chunk's host copies
// leave host memory in design.md's order: zap the user view, find what was written,
// write it to storage in one batch, change the states, and only then punch the memfd.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <vector>

#include "page_runs.hpp"
#include "region.hpp"
#include "storage/io_pool.hpp"
#include "storage/storage_file.hpp"
#include "trace_range.hpp"
#include "umpager/error.hpp"

namespace umpager::detail {

std::size_t region::host_bytes() const noexcept {
  struct stat st {};
  if (::fstat(memfd_.get(), &st) != 0) return 0;
  return static_cast<std::size_t>(st.st_blocks) * 512;
}

std::size_t region::release_host(std::size_t c, std::uint64_t seen_used) {
  if (!file_) return 0;
  const std::size_t ppc = chunk_bytes_ / kPageSize;
  const std::size_t p = c * ppc, e = std::min(pages_.size(), p + ppc);
  const std::vector<os::address_range> own = own_ranges(p, e);
  std::lock_guard g(chunks_[c].lock);
  // Work in flight may still read these host pages (an upload), or a read from storage
  // write them: leave the chunk.
  if (!idle_locked(c) || chunks_[c].reading.load(std::memory_order_relaxed) != 0) return 0;
  // A kernel may reach these host pages (zero-copy): they stay until it has passed.
  if (!reached_.idle(c)) return 0;
  // Used since the budget ranked it (e.g. just prefetched to the host): no longer cold.
  if (chunks_[c].host_used.load(std::memory_order_relaxed) > seen_used) return 0;
  bool any = false;
  for (std::size_t i = p; i < e && !any; ++i) any = pages_.state(i) != page_state::storage;
  if (!any) return 0;
  const trace_range trace(ctx_, "umpager spill");
  zap(c, p, e, own);  // from here a CPU touch waits for this lock
  (void)note_written_locked(p, e, own, false);
  // Written pages are written to where they belong: the spill file, or a read_write
  // mapped file (a read_only one keeps its written pages in memory).
  const bool writable = file_->spill || file_->write_back;
  auto dirty = [&](std::size_t i) { return pages_.state(i) == page_state::host && !pages_.backed(i); };
  std::vector<io_request> reqs;
  if (writable) {
    for_each_run(p, e, dirty, [&](std::size_t off, std::size_t len) {
      const std::uint64_t end = std::min<std::uint64_t>(off + len, file_->size);
      for (std::uint64_t o = off; o < end; o += std::size_t{256} << 10) {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(std::size_t{256} << 10, end - o));
        reqs.push_back({io_request::kind::write, file_->write_fd(n), file_->base + o, alias_.data() + o, n, 0});
      }
    });
  }
  int error = 0;
  if (!reqs.empty()) {
    auto engine = ctx_.io->acquire();
    write_storage(*file_, *engine, reqs);
    ctx_.count.note_queue_depth(std::min<std::size_t>(reqs.size(), engine->queue_depth()));
    std::uint64_t wrote = 0;
    for (const io_request& r : reqs) {
      const std::size_t first = (r.offset - file_->base) / kPageSize;
      const std::size_t last = (r.offset - file_->base + r.bytes + kPageSize - 1) / kPageSize;
      if (r.result != static_cast<ssize_t>(r.bytes)) {
        error = r.result < 0 ? static_cast<int>(-r.result) : EIO;
        continue;  // these pages stay in memory, still dirty
      }
      wrote += r.bytes;
      for (std::size_t i = first; i < last; ++i) pages_.set_backed(i, true);
    }
    counters::add(ctx_.count.bytes_to_storage, wrote);
  }
  // Pages past the end of a mapped file are never written: backed (zeros) by definition.
  for (std::size_t i = p; i < e; ++i) {
    if (dirty(i) && writable && i * kPageSize >= file_->size) pages_.set_backed(i, true);
  }
  // Only now free the host copies that have another valid copy.
  std::vector<bool> drop(e - p, false);
  for (std::size_t i = p; i < e; ++i) {
    switch (pages_.state(i)) {
      case page_state::shared:  // the device copy is valid
        pages_.set_state(i, page_state::device);
        drop[i - p] = true;
        break;
      case page_state::device:  // the host copy is stale
        drop[i - p] = true;
        break;
      case page_state::host:
        if (pages_.backed(i)) {
          pages_.set_state(i, page_state::storage);
          drop[i - p] = true;
        }
        break;
      case page_state::storage:
        break;
    }
  }
  std::size_t punched = 0;
  for_each_run(p, e, [&](std::size_t i) { return drop[i - p]; }, [&](std::size_t off, std::size_t len) {
    if (::fallocate(memfd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(off),
                    static_cast<off_t>(len)) == 0) {
      punched += len / kPageSize;
    }
  });
  if (error != 0) {
    throw system_error(error, "spilling to " + file_->path + " failed; the written pages stay in host memory");
  }
  return punched;
}

}  // namespace umpager::detail
