#include "os/pagemap.hpp"

#include <fcntl.h>

#include "os/linux_uapi.hpp"
#include "umpager/error.hpp"

namespace umpager::os {

namespace {
constexpr std::size_t kRegions = 512;
}

pagemap::pagemap() : fd_(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)), vec_(kRegions * 3) {
  if (!fd_) throw system_error(errno, "open /proc/self/pagemap");
}

bool pagemap::supported() {
  unique_fd fd(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  pm_scan_arg arg{};
  arg.size = sizeof(arg);
  // An empty range is valid on kernels that know the ioctl.
  return ::ioctl(fd.get(), PAGEMAP_SCAN, &arg) >= 0;
}

int pagemap::collect_written(std::uintptr_t start, std::uintptr_t end,
                             const std::function<void(std::uintptr_t, std::uintptr_t)>& on_run) noexcept {
  while (start < end) {
    pm_scan_arg arg{};
    arg.size = sizeof(arg);
    arg.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
    arg.start = start;
    arg.end = end;
    arg.vec = reinterpret_cast<std::uint64_t>(vec_.data());
    arg.vec_len = kRegions;
    arg.category_mask = PAGE_IS_WRITTEN;
    arg.return_mask = PAGE_IS_WRITTEN;
    const int n = ::ioctl(fd_.get(), PAGEMAP_SCAN, &arg);
    if (n < 0) return -errno;
    auto* regions = reinterpret_cast<const page_region*>(vec_.data());
    for (int i = 0; i < n; ++i) on_run(regions[i].start, regions[i].end);
    if (arg.walk_end <= start) return -EIO;  // no progress: never loop forever
    start = arg.walk_end;
  }
  return 0;
}

}  // namespace umpager::os
