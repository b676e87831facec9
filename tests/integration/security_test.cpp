// Hygiene: every fd the runtime opens is close-on-exec; system calls on managed
// memory are served (kernel-mode faults) unless user-mode-only was asked for.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <set>

#include "runtime_fixture.hpp"

namespace umpager::testing {
namespace {

std::set<int> open_fds() {
  std::set<int> fds;
  DIR* d = ::opendir("/proc/self/fd");
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') fds.insert(std::atoi(e->d_name));
  }
  ::closedir(d);
  return fds;
}

TEST(security, every_runtime_fd_is_close_on_exec) {
  const std::set<int> before = open_fds();
  runtime rt(make_config(65536, tracking_mode::automatic), sim::make_driver({}));
  buffer a = rt.allocate(std::size_t{4} << 20);
  buffer b = rt.allocate(std::size_t{4} << 20);
  rt.prefetch(a.data(), a.size(), location::device);
  auto s = rt.create_stream();
  std::size_t checked = 0;
  for (int fd : open_fds()) {
    if (before.count(fd) != 0) continue;
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0) continue;  // the directory fd of open_fds itself
    EXPECT_TRUE(flags & FD_CLOEXEC) << "fd " << fd << " leaks across exec";
    ++checked;
  }
  EXPECT_GE(checked, 4u) << "memfds, userfaultfd, eventfd, epoll, pagemap";
}

TEST(security, system_calls_on_device_resident_memory_are_served) {
  runtime rt(make_config(65536, tracking_mode::automatic), sim::make_driver({}));
  buffer buf = rt.allocate(1 << 20);
  std::memset(buf.data(), 'x', 1 << 20);
  rt.prefetch(buf.data(), 1 << 20, location::device);
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  // write(2) reads the user view inside the kernel: the fault goes to the resolver.
  EXPECT_EQ(::write(p[1], buf.as<char>() + 8192, 100), 100);
  char out[100];
  EXPECT_EQ(::read(p[0], out, 100), 100);
  EXPECT_EQ(out[0], 'x');
  // read(2) into device-resident memory, likewise.
  rt.prefetch(buf.data(), 1 << 20, location::device);
  EXPECT_EQ(::write(p[1], "hello", 5), 5);
  EXPECT_EQ(::read(p[0], buf.as<char>() + 4096 * 3, 5), 5);
  EXPECT_EQ(std::string(buf.as<char>() + 4096 * 3, 5), "hello");
  ::close(p[0]);
  ::close(p[1]);
}

TEST(security, user_mode_only_makes_system_calls_fail_with_efault) {
  config cfg = make_config(65536, tracking_mode::automatic);
  cfg.kernel_faults = false;
  runtime rt(cfg, sim::make_driver({}));
  buffer buf = rt.allocate(1 << 20);
  std::memset(buf.data(), 'y', 1 << 20);
  rt.prefetch(buf.data(), 1 << 20, location::device);
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  errno = 0;
  EXPECT_EQ(::write(p[1], buf.as<char>() + 8192, 100), -1);
  EXPECT_EQ(errno, EFAULT) << "documented: user-mode-only faults cannot serve the kernel";
  EXPECT_EQ(buf.as<char>()[8192], 'y') << "a CPU touch still works";
  EXPECT_EQ(::write(p[1], buf.as<char>() + 8192, 100), 100) << "once resident on the host";
  ::close(p[0]);
  ::close(p[1]);
}

}  // namespace
}  // namespace umpager::testing
