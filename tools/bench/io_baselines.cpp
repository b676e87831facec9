#include "io_baselines.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>

#include "os/eventfd.hpp"
#include "os/linux_uapi.hpp"
#include "os/mapping.hpp"
#include "os/memfd.hpp"
#include "os/userfaultfd.hpp"
#include "umpager/error.hpp"
#include "umpager/io_engine.hpp"

namespace umpager::bench {
namespace {

using steady = std::chrono::steady_clock;
constexpr std::size_t kPage = 4096;

std::string default_dir(const std::string& dir) {
  if (!dir.empty()) return dir;
  const char* t = std::getenv("TMPDIR");
  return t != nullptr && *t != '\0' ? t : "/var/tmp";
}

}  // namespace

io_baselines measure_io_baselines(const std::string& dir_in, std::size_t bytes, std::size_t block, unsigned depth,
                                  std::size_t touches) {
  io_baselines out;
  const std::string dir = default_dir(dir_in);
  os::unique_fd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC | O_DIRECT, 0600));
  if (!fd) {
    fd.reset(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    out.note = "O_DIRECT refused in " + dir + ": buffered reads";
  }
  if (!fd) throw system_error(errno, "io baselines: cannot create a file in " + dir);
  // An aligned buffer (O_DIRECT), written with the file's data, then read back.
  auto buf = os::mapping::map_shared(os::make_memfd("umpager-bench-io", block).get(), block);
  std::memset(buf.data(), 0x5a, block);
  for (std::size_t off = 0; off < bytes; off += block) {
    if (::pwrite(fd.get(), buf.data(), block, static_cast<off_t>(off)) != static_cast<ssize_t>(block)) {
      throw system_error(errno, "io baselines: write");
    }
  }
  (void)::fsync(fd.get());
  (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
  auto engine = make_uring_engine(depth);
  // Every request reads into the same buffer: the bandwidth of the device, not of memory.
  std::vector<io_request> reqs;
  for (std::size_t off = 0; off < bytes; off += block) reqs.push_back({io_request::kind::read, fd.get(), off, buf.data(), block, 0});
  const auto t0 = steady::now();
  for (std::size_t i = 0; i < reqs.size(); i += depth) {
    engine->run(umpager::span<io_request>(reqs.data() + i, std::min<std::size_t>(depth, reqs.size() - i)));
  }
  out.read_seconds = std::chrono::duration<double>(steady::now() - t0).count();
  for (const io_request& r : reqs) {
    if (r.result != static_cast<ssize_t>(block)) throw runtime_error("io baselines: a read failed");
  }

  // The bare round trip: a memfd hole faults MISSING; the resolver reads the page
  // from the file into the alias view with io_uring and CONTINUEs it.
  const std::size_t pages = std::min(bytes, std::size_t{256} << 20) / kPage;
  os::unique_fd mem = os::make_memfd("umpager-bench-io-bare", pages * kPage);
  auto alias = os::mapping::map_shared(mem.get(), pages * kPage);
  auto user = os::mapping::map_shared(mem.get(), pages * kPage);
  os::userfaultfd uffd = [] {
    try {
      return os::userfaultfd::open(UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_MINOR_SHMEM, false);
    } catch (const unsupported&) {
      return os::userfaultfd::open(UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_MINOR_SHMEM, true);
    }
  }();
  uffd.register_range(user.data(), user.size(), UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR);
  os::event_fd stop;
  auto io = make_uring_engine(1);
  std::thread resolver([&] {
    pollfd fds[2] = {{uffd.fd(), POLLIN, 0}, {stop.fd(), POLLIN, 0}};
    for (;;) {
      if (::poll(fds, 2, -1) < 0) continue;
      if (fds[1].revents != 0) return;
      uffd_msg msg{};
      if (::read(uffd.fd(), &msg, sizeof msg) != static_cast<ssize_t>(sizeof msg)) continue;
      if (msg.event != UFFD_EVENT_PAGEFAULT) continue;
      const std::size_t off = (msg.arg.pagefault.address - reinterpret_cast<std::uintptr_t>(user.data())) / kPage * kPage;
      io_request r{io_request::kind::read, fd.get(), off % bytes, alias.data() + off, kPage, 0};
      io->run(umpager::span<io_request>(&r, 1));
      if (uffd.continue_range(user.data() + off, kPage, false, true, nullptr) < 0) uffd.wake(user.data() + off, kPage);
    }
  });
  std::mt19937_64 rng(7);
  for (std::size_t i = 0; i < touches && i < pages; ++i) {
    const std::size_t p = rng() % pages;
    volatile const std::byte* at = user.data() + p * kPage;
    const auto t = steady::now();
    (void)*at;
    out.bare_us.push_back(std::chrono::duration<double, std::micro>(steady::now() - t).count());
  }
  stop.signal();
  resolver.join();
  return out;
}

}  // namespace umpager::bench
