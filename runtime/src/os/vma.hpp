// Which parts of an address range are still a given file's mapping: the runtime
// owns a view only where the kernel says so. After the application unmaps part of a
// view, another mapping may land in the hole; zapping or replacing the original
// range would destroy it (issue 12).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace umpager::os {

struct address_range {
  std::uintptr_t start;
  std::uintptr_t end;
};

/// The sub-ranges of [base+offset, base+offset+bytes) mapped from the file open as
/// `fd` with file offset (address - base): the view mapped at `base` and nothing that
/// replaced part of it. PROCMAP_QUERY (one ioctl per VMA, Linux 6.11), else /proc/self/maps. If the
/// kernel cannot be asked at all, the whole range (the behaviour before holes were
/// checked).
std::vector<address_range> file_ranges(int fd, const void* base, std::size_t offset, std::size_t bytes);

}  // namespace umpager::os
