// The storage behind a region: a file made by runtime::map_file (its pages start in
// the `storage` state and are read from here on first touch or prefetch; with
// read_write, written pages go back on flush and on free), or the runtime's spill
// file (host budget: pages past it are written there and read back on touch).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "os/fd.hpp"
#include "umpager/io_engine.hpp"

namespace umpager::detail {

struct storage_file {
  os::unique_fd owned;      ///< map_file's descriptor; empty for the spill file (the runtime's)
  int fd = -1;
  std::uint64_t base = 0;   ///< file offset of the region's first byte
  std::string path;         ///< for messages
  std::uint64_t size = 0;   ///< region bytes the file holds: pages past it read as zeros, are never written
  bool write_back = false;  ///< map_file read_write: written pages go back to the file
  bool spill = false;       ///< the spill file: a page never spilled has no copy there (reads as zeros)
  /// map_file: a second, O_DIRECT descriptor (read_write with write_back) where the
  /// filesystem allows it and config::page_cache is off: reads and whole-page writes
  /// bypass the page cache, so the host budget bounds the file's pages.
  os::unique_fd direct;
  /// Where reads go: `direct` if open and not refused by a read (EINVAL), else `fd`.
  std::atomic<int> read_fd{-1};
  /// Whole-page writes go through `direct` until one is refused (EINVAL).
  std::atomic<bool> direct_writes{false};
  /// config::page_cache: buffered I/O stays in the page cache, and spliced reads come
  /// from `fd` (the kernel's read-ahead). Else what `fd` leaves there is dropped.
  bool keep_cache = false;
  /// `fd` goes through the page cache (a mapped file's; the spill file's is O_DIRECT
  /// where the filesystem allows).
  bool fd_buffered = true;

  /// The source of spliced reads: `fd` when the page cache is kept, else read_fd.
  [[nodiscard]] int splice_fd() const noexcept { return keep_cache ? fd : read_fd.load(std::memory_order_relaxed); }
  /// The descriptor a write of `bytes` at a page-aligned offset goes through: `direct`
  /// for whole pages, `fd` for the file's partial last page or without O_DIRECT.
  [[nodiscard]] int write_fd(std::size_t bytes) const noexcept {
    return bytes % 4096 == 0 && direct_writes.load(std::memory_order_relaxed) ? direct.get() : fd;
  }
  /// After transfers through `fd` that left pages in the page cache: drops the file
  /// range [lo, hi) from it (written back first if `written`), unless the cache is
  /// kept. Best effort, never throws.
  void drop_cached(std::uint64_t lo, std::uint64_t hi, bool written) const noexcept;
  /// drop_cached over the requests of `reqs` that went through `fd`.
  void drop_cached(umpager::span<const io_request> reqs, bool written) const noexcept;

  /// Reads through `direct` cover whole pages (O_DIRECT needs aligned lengths): the
  /// last partial page is read whole, and the file's end makes it short.
  [[nodiscard]] std::uint64_t read_end(int with) const noexcept {
    return with == direct.get() ? (size + 4095) / 4096 * 4096 : size;
  }
};

/// Opens `path` for map_file; invalid_argument (missing, a directory, not a regular
/// file, empty) or system_error (no permission, ...) naming the path. `keep_cache`:
/// config::page_cache (no O_DIRECT descriptor is opened).
[[nodiscard]] std::unique_ptr<storage_file> open_storage_file(const std::string& path, bool writable, bool keep_cache);

/// Runs the writes `reqs` (each on f.write_fd() of its length) on `engine`: a direct
/// write the device refuses (EINVAL: it wants larger alignment) is retried through
/// `fd` and turns direct writes off for the file; what went through `fd` is then
/// written back and dropped from the page cache (drop_cached). Results as io_engine::run.
void write_storage(storage_file& f, io_engine& engine, std::vector<io_request>& reqs);

/// map_file of `length` bytes (0: to the end) at `offset` of the caller's open `fd`,
/// through a duplicate of it; invalid_argument or system_error(EBADF) naming "fd N"
/// (runtime.hpp lists the rules). `keep_cache` as for open_storage_file.
[[nodiscard]] std::unique_ptr<storage_file> open_storage_fd(int fd, bool writable, std::uint64_t offset,
                                                            std::size_t length, bool keep_cache);

/// The error to report when reading `bytes` at `offset` of `f` returned `result`:
/// says "truncated while mapped" when the file is now shorter than that.
[[nodiscard]] std::string storage_read_error(const storage_file& f, std::uint64_t offset, std::size_t bytes,
                                             long result);

}  // namespace umpager::detail
