// The file behind a region made by runtime::map_file: its pages start in the
// `storage` state and are read from here on first touch or prefetch; with
// read_write, written pages go back here on flush and on free.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "os/fd.hpp"

namespace umpager::detail {

struct storage_file {
  os::unique_fd fd;
  std::string path;
  std::uint64_t size = 0;   ///< bytes when mapped: pages past it read as zeros, are never written
  bool write_back = false;  ///< read_write: written pages go back to the file
};

/// Opens `path` for map_file; invalid_argument (missing, a directory, not a regular
/// file, empty) or system_error (no permission, ...) naming the path.
[[nodiscard]] std::unique_ptr<storage_file> open_storage_file(const std::string& path, bool writable);

/// The error to report when reading `bytes` at `offset` of `f` returned `result`:
/// says "truncated while mapped" when the file is now shorter than that.
[[nodiscard]] std::string storage_read_error(const storage_file& f, std::uint64_t offset, std::size_t bytes,
                                             long result);

}  // namespace umpager::detail
