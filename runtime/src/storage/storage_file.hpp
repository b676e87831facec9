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

#include "os/fd.hpp"

namespace umpager::detail {

struct storage_file {
  os::unique_fd owned;      ///< map_file's descriptor; empty for the spill file (the runtime's)
  int fd = -1;
  std::uint64_t base = 0;   ///< file offset of the region's first byte
  std::string path;         ///< for messages
  std::uint64_t size = 0;   ///< region bytes the file holds: pages past it read as zeros, are never written
  bool write_back = false;  ///< map_file read_write: written pages go back to the file
  bool spill = false;       ///< the spill file: a page never spilled has no copy there (reads as zeros)
  /// map_file: a second, O_DIRECT descriptor for reads where the filesystem allows it
  /// (reads then go straight into the alias view, not through the page cache and a copy).
  os::unique_fd direct;
  /// Where reads go: `direct` if open and not refused by a read (EINVAL), else `fd`.
  std::atomic<int> read_fd{-1};

  /// Reads through `direct` cover whole pages (O_DIRECT needs aligned lengths): the
  /// last partial page is read whole, and the file's end makes it short.
  [[nodiscard]] std::uint64_t read_end(int with) const noexcept {
    return with == direct.get() ? (size + 4095) / 4096 * 4096 : size;
  }
};

/// Opens `path` for map_file; invalid_argument (missing, a directory, not a regular
/// file, empty) or system_error (no permission, ...) naming the path.
[[nodiscard]] std::unique_ptr<storage_file> open_storage_file(const std::string& path, bool writable);

/// map_file of `length` bytes (0: to the end) at `offset` of the caller's open `fd`,
/// through a duplicate of it; invalid_argument or system_error(EBADF) naming "fd N"
/// (runtime.hpp lists the rules).
[[nodiscard]] std::unique_ptr<storage_file> open_storage_fd(int fd, bool writable, std::uint64_t offset,
                                                            std::size_t length);

/// The error to report when reading `bytes` at `offset` of `f` returned `result`:
/// says "truncated while mapped" when the file is now shorter than that.
[[nodiscard]] std::string storage_read_error(const storage_file& f, std::uint64_t offset, std::size_t bytes,
                                             long result);

}  // namespace umpager::detail
