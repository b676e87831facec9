// PAGEMAP_SCAN over /proc/self/pagemap: finds pages written since the last
// write-protect arm (UFFD_FEATURE_WP_ASYNC) and re-arms them in the same call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "os/fd.hpp"

namespace umpager::os {

class pagemap {
 public:
  pagemap();
  /// True when the running kernel implements PAGEMAP_SCAN (Linux 6.7).
  [[nodiscard]] static bool supported();

  /// Calls `on_run(start, end)` for every run of pages in [start, end) written since
  /// they were last write-protected, and write-protects them again. Returns 0 or -errno.
  int collect_written(std::uintptr_t start, std::uintptr_t end,
                      const std::function<void(std::uintptr_t, std::uintptr_t)>& on_run) noexcept;

 private:
  unique_fd fd_;
  std::vector<std::uint64_t> vec_;  // page_region triples, reused across calls
};

}  // namespace umpager::os
