#include "os/userfaultfd.hpp"

#include <fcntl.h>
#include <sys/syscall.h>

#include <array>
#include <utility>

#include "os/linux_uapi.hpp"
#include "umpager/error.hpp"

namespace umpager::os {
namespace {

constexpr std::array<std::pair<std::uint64_t, const char*>, 8> kFeatureNames{{
    {UFFD_FEATURE_MINOR_SHMEM, "MINOR_SHMEM (Linux 5.14)"},
    {UFFD_FEATURE_WP_HUGETLBFS_SHMEM, "WP_HUGETLBFS_SHMEM (Linux 6.1)"},
    {UFFD_FEATURE_WP_UNPOPULATED, "WP_UNPOPULATED (Linux 6.4)"},
    {UFFD_FEATURE_POISON, "POISON (Linux 6.6)"},
    {UFFD_FEATURE_WP_ASYNC, "WP_ASYNC (Linux 6.7)"},
    {UFFD_FEATURE_EXACT_ADDRESS, "EXACT_ADDRESS (Linux 5.18)"},
    {UFFD_FEATURE_THREAD_ID, "THREAD_ID (Linux 4.14)"},
    {UFFD_FEATURE_PAGEFAULT_FLAG_WP, "PAGEFAULT_FLAG_WP (Linux 5.7)"},
}};

// Returns an fd or -errno.
int open_raw(bool user_mode_only) {
  const int flags = O_CLOEXEC | O_NONBLOCK | (user_mode_only ? UFFD_USER_MODE_ONLY : 0);
  int fd = static_cast<int>(::syscall(SYS_userfaultfd, flags));
  if (fd >= 0) return fd;
  const int syscall_err = errno;
  // /dev/userfaultfd grants kernel-mode faults by file permission (Linux 6.1).
  unique_fd dev(::open("/dev/userfaultfd", O_RDWR | O_CLOEXEC));
  if (dev) {
    fd = ::ioctl(dev.get(), USERFAULTFD_IOC_NEW, flags);
    if (fd >= 0) return fd;
  }
  return -syscall_err;
}

[[noreturn]] void fail_open(int err, bool user_mode_only) {
  if (err == EPERM) {
    throw unsupported(std::string("userfaultfd is not permitted for this process: ") +
                      (user_mode_only
                           ? "set sysctl vm.unprivileged_userfaultfd=1, or give the user read/write "
                             "access to /dev/userfaultfd"
                           : "kernel-mode faults (system calls on managed memory) need "
                             "CAP_SYS_PTRACE or read/write access to /dev/userfaultfd; or set "
                             "UMPAGER_KERNEL_FAULTS=0 to handle user-mode faults only (system calls "
                             "then fail with EFAULT on pages not on the host)"));
  }
  if (err == ENOSYS) throw unsupported("userfaultfd is not built into this kernel (CONFIG_USERFAULTFD)");
  throw system_error(err, "userfaultfd");
}

}  // namespace

std::string uffd_features::missing(std::uint64_t f) const {
  std::string out;
  for (auto [bit, name] : kFeatureNames) {
    if ((f & bit) && !(bits & bit)) out += (out.empty() ? "" : ", ") + std::string(name);
  }
  return out;
}

uffd_features userfaultfd::probe(bool user_mode_only) {
  int fd = open_raw(user_mode_only);
  if (fd < 0) fail_open(-fd, user_mode_only);
  unique_fd owner(fd);
  uffdio_api api{.api = UFFD_API, .features = 0, .ioctls = 0};
  UMPAGER_SYSCALL(::ioctl(fd, UFFDIO_API, &api), "UFFDIO_API probe");
  return uffd_features{api.features};
}

userfaultfd userfaultfd::open(std::uint64_t features, bool user_mode_only) {
  int fd = open_raw(user_mode_only);
  if (fd < 0) fail_open(-fd, user_mode_only);
  unique_fd owner(fd);
  uffdio_api api{.api = UFFD_API, .features = features, .ioctls = 0};
  if (::ioctl(fd, UFFDIO_API, &api) == -1) {
    const int err = errno;
    if (err == EINVAL) {
      auto have = probe(user_mode_only);
      throw unsupported("this kernel's userfaultfd lacks " + have.missing(features) +
                        "; umpager needs Linux 6.7 or newer for every feature");
    }
    throw system_error(err, "UFFDIO_API");
  }
  return userfaultfd(std::move(owner), uffd_features{api.features});
}

void userfaultfd::register_range(void* addr, std::size_t bytes, std::uint64_t modes) const {
  uffdio_register reg{};
  reg.range.start = reinterpret_cast<std::uint64_t>(addr);
  reg.range.len = bytes;
  reg.mode = modes;
  UMPAGER_SYSCALL(::ioctl(fd(), UFFDIO_REGISTER, &reg), "UFFDIO_REGISTER");
  const std::uint64_t need = (std::uint64_t{1} << _UFFDIO_CONTINUE) |
                             ((modes & UFFDIO_REGISTER_MODE_WP) ? (std::uint64_t{1} << _UFFDIO_WRITEPROTECT) : 0);
  if ((reg.ioctls & need) != need) {
    unregister_range(addr, bytes);
    throw unsupported("userfaultfd registration does not offer UFFDIO_CONTINUE/UFFDIO_WRITEPROTECT on shmem");
  }
}

void userfaultfd::unregister_range(void* addr, std::size_t bytes) const noexcept {
  uffdio_range r{.start = reinterpret_cast<std::uint64_t>(addr), .len = bytes};
  ::ioctl(fd(), UFFDIO_UNREGISTER, &r);
}

int userfaultfd::continue_range(void* addr, std::size_t bytes, bool write_protect, bool wake,
                                std::size_t* mapped) const noexcept {
  uffdio_continue c{};
  c.range.start = reinterpret_cast<std::uint64_t>(addr);
  c.range.len = bytes;
  c.mode = (write_protect ? UFFDIO_CONTINUE_MODE_WP : 0) | (wake ? 0 : UFFDIO_CONTINUE_MODE_DONTWAKE);
  const int rc = ::ioctl(fd(), UFFDIO_CONTINUE, &c);
  const int err = errno;
  if (mapped != nullptr) *mapped = c.mapped > 0 ? static_cast<std::size_t>(c.mapped) : 0;
  return rc == -1 ? -err : 0;
}

int userfaultfd::wake(void* addr, std::size_t bytes) const noexcept {
  uffdio_range r{.start = reinterpret_cast<std::uint64_t>(addr), .len = bytes};
  return ::ioctl(fd(), UFFDIO_WAKE, &r) == -1 ? -errno : 0;
}

int userfaultfd::write_protect(void* addr, std::size_t bytes, bool protect, bool wake) const noexcept {
  uffdio_writeprotect wp{};
  wp.range.start = reinterpret_cast<std::uint64_t>(addr);
  wp.range.len = bytes;
  // The kernel rejects DONTWAKE together with WP (there is nobody to wake then).
  wp.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : (wake ? 0 : UFFDIO_WRITEPROTECT_MODE_DONTWAKE);
  return ::ioctl(fd(), UFFDIO_WRITEPROTECT, &wp) == -1 ? -errno : 0;
}

int userfaultfd::poison(void* addr, std::size_t bytes) const noexcept {
  uffdio_poison p{};
  p.range.start = reinterpret_cast<std::uint64_t>(addr);
  p.range.len = bytes;
  p.mode = 0;
  return ::ioctl(fd(), UFFDIO_POISON, &p) == -1 ? -errno : 0;
}

}  // namespace umpager::os
