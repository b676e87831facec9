#include "baselines.hpp"

#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "os/eventfd.hpp"
#include "os/linux_uapi.hpp"
#include "os/mapping.hpp"
#include "os/memfd.hpp"
#include "os/userfaultfd.hpp"
#include "umpager/error.hpp"

namespace umpager::bench {
namespace {

using steady = std::chrono::steady_clock;

double since(steady::time_point t0) {
  return std::chrono::duration<double>(steady::now() - t0).count();
}

void populate_write(const os::mapping& m) {
  UMPAGER_SYSCALL(::madvise(m.data(), m.size(), MADV_POPULATE_WRITE), "madvise(MADV_POPULATE_WRITE)");
}

// A memfd with its page cache filled through an alias view, and a user view
// aligned to the block (as the runtime aligns its regions) with no PTEs yet.
struct region {
  os::unique_fd fd;
  os::mapping alias;
  os::mapping user;

  region(const char* name, std::size_t bytes, std::size_t block) : fd(os::make_memfd(name, bytes)) {
    alias = os::mapping::map_shared(fd.get(), bytes);
    // MINOR faults only fire for pages in the page cache (design.md).
    populate_write(alias);
    auto reserved = os::mapping::reserve(bytes, std::max<std::size_t>(block, std::size_t{2} << 20));
    void* at = reserved.release();
    user = os::mapping::map_shared(fd.get(), bytes, at);
  }
};

// Kernel-mode faults like the runtime's default; user-mode only where that is
// not permitted (the touches are all user-mode, so the cost is the same).
os::userfaultfd open_uffd(std::uint64_t features) {
  try {
    return os::userfaultfd::open(features, false);
  } catch (const umpager::unsupported&) {
    return os::userfaultfd::open(features, true);
  }
}

[[noreturn]] void resolver_failed(const char* what, int err) {
  // A fault that cannot be served leaves the touching thread asleep forever: stop.
  std::fprintf(stderr, "umpager-bench: bare resolver: %s: %s\n", what, std::strerror(err));
  std::_Exit(1);
}

// The minimal resolver: wait (poll, or busy-poll the non-blocking userfaultfd
// when `spin`), read one message, CONTINUE the faulting block.
void serve(const os::userfaultfd& uffd, int stop_fd, std::uintptr_t base, std::size_t block, bool spin) {
  pollfd fds[2] = {{uffd.fd(), POLLIN, 0}, {stop_fd, POLLIN, 0}};
  for (;;) {
    if (spin) {
      // The stop eventfd is looked at without sleeping.
      if (::poll(&fds[1], 1, 0) > 0) return;
    } else {
      if (::poll(fds, 2, -1) == -1) {
        if (errno == EINTR) continue;
        resolver_failed("poll", errno);
      }
      if (fds[1].revents != 0) return;
    }
    uffd_msg msg{};
    if (::read(uffd.fd(), &msg, sizeof(msg)) != static_cast<ssize_t>(sizeof(msg))) {
      if (errno == EAGAIN || errno == EINTR) continue;
      resolver_failed("read", errno);
    }
    if (msg.event != UFFD_EVENT_PAGEFAULT) continue;
    const auto addr = static_cast<std::uintptr_t>(msg.arg.pagefault.address);
    const std::uintptr_t start = base + (addr - base) / block * block;
    for (;;) {
      const int rc = uffd.continue_range(reinterpret_cast<void*>(start), block, false, true, nullptr);
      if (rc == 0) break;
      if (rc == -EAGAIN) continue;  // the mm was changing: retry
      if (rc == -EEXIST) {
        // A duplicate message for a block already mapped: the failed ioctl woke nobody.
        uffd.wake(reinterpret_cast<void*>(start), block);
        break;
      }
      resolver_failed("UFFDIO_CONTINUE", -rc);
    }
  }
}

}  // namespace

double memcpy_seconds(std::size_t bytes) {
  auto src_fd = os::make_memfd("umpager-bench-memcpy-src", bytes);
  auto dst_fd = os::make_memfd("umpager-bench-memcpy-dst", bytes);
  auto src = os::mapping::map_shared(src_fd.get(), bytes, nullptr, true);
  auto dst = os::mapping::map_shared(dst_fd.get(), bytes, nullptr, true);
  // The runtime's copies run between views it has touched before (device memory,
  // the alias); an untimed copy first gives the same warm page tables here.
  std::memset(src.data(), 0x5a, bytes);
  std::memcpy(dst.data(), src.data(), bytes);
  const auto t0 = steady::now();
  std::memcpy(dst.data(), src.data(), bytes);
  const double s = since(t0);
  // Keep the copy observable so it cannot be elided.
  if (std::to_integer<int>(dst.data()[bytes - 1]) != 0x5a) throw runtime_error("memcpy baseline: bad copy");
  return s;
}

double first_touch_us(std::size_t bytes) {
  auto fd = os::make_memfd("umpager-bench-first-touch", bytes);
  auto writer = os::mapping::map_shared(fd.get(), bytes);
  std::memset(writer.data(), 1, bytes);  // the pages exist and are warm in this view
  auto fresh = os::mapping::map_shared(fd.get(), bytes, nullptr, true);  // populated PTEs
  const std::size_t pages = bytes / 4096;
  unsigned sum = 0;
  const auto t0 = steady::now();
  for (std::size_t i = 0; i < pages; ++i) sum += std::to_integer<unsigned>(fresh.data()[i * 4096]);
  const double s = since(t0);
  if (sum != pages) throw runtime_error("first-touch baseline: bad read");
  return s * 1e6 / static_cast<double>(pages);
}

continue_result continue_then_touch(const touch_plan& plan, access a) {
  const std::size_t bytes = plan.bytes();
  const std::size_t block = plan.block();
  region r("umpager-bench-continue", bytes, block);
  auto uffd = open_uffd(UFFD_FEATURE_MINOR_SHMEM);
  uffd.register_range(r.user.data(), bytes, UFFDIO_REGISTER_MODE_MINOR);

  continue_result out;
  const auto t0 = steady::now();
  for (std::size_t off = 0; off < bytes; off += block) {
    const std::size_t n = std::min(block, bytes - off);
    // DONTWAKE: nobody waits; a wake per call would only add its cost.
    const int rc = uffd.continue_range(r.user.data() + off, n, false, false, nullptr);
    if (rc != 0) throw system_error(-rc, "CONTINUE baseline: UFFDIO_CONTINUE");
  }
  out.continue_seconds = since(t0);
  out.populated = touch_pass(r.user.data(), plan, a, 1);
  uffd.unregister_range(r.user.data(), bytes);
  return out;
}

touch_result bare_resolver_pass(const touch_plan& plan, access a, bool spin) {
  const std::size_t bytes = plan.bytes();
  region r("umpager-bench-bare", bytes, plan.block());
  auto uffd = open_uffd(UFFD_FEATURE_MINOR_SHMEM);
  uffd.register_range(r.user.data(), bytes, UFFDIO_REGISTER_MODE_MINOR);

  os::event_fd stop;
  const auto base = reinterpret_cast<std::uintptr_t>(r.user.data());
  std::thread resolver([&] { serve(uffd, stop.fd(), base, plan.block(), spin); });
  touch_result out = touch_pass(r.user.data(), plan, a, 1);
  stop.signal();
  resolver.join();
  uffd.unregister_range(r.user.data(), bytes);
  return out;
}

touch_result wp_async_floor_pass(const touch_plan& plan) {
  const std::size_t bytes = plan.bytes();
  region r("umpager-bench-floor", bytes, plan.block());
  // Pages present, as host-resident pages of a region are.
  populate_write(r.user);
  auto uffd = open_uffd(UFFD_FEATURE_MINOR_SHMEM | UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED |
                        UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
  // MINOR | WP as the runtime registers its user view (os::userfaultfd requires
  // CONTINUE to be offered, which WP alone does not); with every page present,
  // MINOR never fires.
  uffd.register_range(r.user.data(), bytes, UFFDIO_REGISTER_MODE_MINOR | UFFDIO_REGISTER_MODE_WP);
  // wake = true: the kernel rejects WP together with DONTWAKE (EINVAL).
  const int rc = uffd.write_protect(r.user.data(), bytes, true, true);
  if (rc != 0) throw system_error(-rc, "WP_ASYNC floor: UFFDIO_WRITEPROTECT");
  touch_result out = touch_pass(r.user.data(), plan, access::write, 1);
  uffd.unregister_range(r.user.data(), bytes);
  return out;
}

}  // namespace umpager::bench
