// What the kernel's page table says of a range of the user view (PAGEMAP_SCAN): a
// read-only look that re-arms nothing. Tests that depend on idle resolvers getting
// ahead of a scan use it to give them a moment instead of asserting a speed.
#pragma once

#include <fcntl.h>
#include <sys/ioctl.h>

#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "os/fd.hpp"
#include "os/linux_uapi.hpp"

namespace umpager::testing {

/// Pages of [p, p + bytes) with every flag of `mask` (PAGE_IS_* categories).
inline std::size_t pages_with(const void* p, std::size_t bytes, std::uint64_t mask) {
  constexpr std::size_t kPageBytes = 4096;
  os::unique_fd fd(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
  std::vector<page_region> regions(bytes / kPageBytes + 1);
  pm_scan_arg arg{};
  arg.size = sizeof(arg);
  arg.start = reinterpret_cast<std::uint64_t>(p);
  arg.end = arg.start + bytes;
  arg.vec = reinterpret_cast<std::uint64_t>(regions.data());
  arg.vec_len = regions.size();
  arg.category_mask = mask;
  arg.return_mask = mask;
  const int n = ::ioctl(fd.get(), PAGEMAP_SCAN, &arg);
  EXPECT_GE(n, 0) << "PAGEMAP_SCAN";
  std::size_t pages = 0;
  for (int i = 0; i < n; ++i) pages += (regions[i].end - regions[i].start) / kPageBytes;
  return pages;
}

/// Present and writable (not write-protected): what the kernel reports written.
inline std::size_t writable_pages(const void* p, std::size_t bytes) {
  return pages_with(p, bytes, PAGE_IS_WRITTEN | PAGE_IS_PRESENT);
}

/// Present in the view (mapped by a fault or by read-ahead).
inline std::size_t mapped_pages(const void* p, std::size_t bytes) { return pages_with(p, bytes, PAGE_IS_PRESENT); }

/// Before a scan touches the page at `p`: up to `patience` for read-ahead to map it.
inline void let_read_ahead_reach(const void* p, std::chrono::microseconds patience) {
  const auto until = std::chrono::steady_clock::now() + patience;
  while (mapped_pages(p, 4096) == 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

}  // namespace umpager::testing
