// The os layer on its own: memfd sealing, aligned reservations, userfaultfd
// probing and the CONTINUE/EEXIST/WAKE behaviour the resolver relies on; the io_uring
// wrapper's flag probing and a read through it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "os/cpu_pressure.hpp"
#include "os/io_ring.hpp"
#include "os/linux_uapi.hpp"
#include "os/mapping.hpp"
#include "os/memfd.hpp"
#include "os/pagemap.hpp"
#include "os/userfaultfd.hpp"

namespace umpager::os {
namespace {

constexpr std::size_t kPage = 4096;

TEST(memfd, is_sealed_and_close_on_exec) {
  unique_fd fd = make_memfd("t", 16 * kPage);
  EXPECT_EQ(::ftruncate(fd.get(), 4 * kPage), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::ftruncate(fd.get(), 32 * kPage), -1);
  EXPECT_TRUE(::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC);
  const int seals = ::fcntl(fd.get(), F_GET_SEALS);
  EXPECT_TRUE(seals & F_SEAL_SHRINK);
  EXPECT_TRUE(seals & F_SEAL_GROW);
}

TEST(mapping, reserve_is_aligned_and_released) {
  mapping m = mapping::reserve(3 << 20, 2 << 20);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(m.data()) % (2 << 20), 0u);
  EXPECT_EQ(m.size(), std::size_t{3} << 20);
  mapping moved = std::move(m);
  EXPECT_FALSE(m);
  EXPECT_TRUE(moved);
}

TEST(userfaultfd, probe_reports_the_features_umpager_uses) {
  uffd_features f = userfaultfd::probe(false);
  if (!f.has(UFFD_FEATURE_MINOR_SHMEM)) GTEST_SKIP() << "kernel lacks MINOR_SHMEM: " << f.missing(UFFD_FEATURE_MINOR_SHMEM);
  EXPECT_TRUE(f.missing(UFFD_FEATURE_MINOR_SHMEM).empty());
  EXPECT_FALSE(uffd_features{0}.missing(UFFD_FEATURE_WP_ASYNC).empty());
}

TEST(userfaultfd, fd_is_close_on_exec_and_nonblocking) {
  userfaultfd u = userfaultfd::open(UFFD_FEATURE_MINOR_SHMEM, false);
  EXPECT_TRUE(::fcntl(u.fd(), F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(::fcntl(u.fd(), F_GETFL) & O_NONBLOCK);
}

TEST(userfaultfd, continue_twice_is_eexist_and_wake_releases_the_waiter) {
  unique_fd fd = make_memfd("t", 4 * kPage);
  mapping alias = mapping::map_shared(fd.get(), 4 * kPage);
  ASSERT_EQ(::madvise(alias.data(), 4 * kPage, MADV_POPULATE_WRITE), 0);
  alias.data()[kPage] = std::byte{42};
  mapping user = mapping::map_shared(fd.get(), 4 * kPage);
  userfaultfd u = userfaultfd::open(UFFD_FEATURE_MINOR_SHMEM, false);
  u.register_range(user.data(), 4 * kPage, UFFDIO_REGISTER_MODE_MINOR);

  std::atomic<int> seen{-1};
  std::thread toucher([&] { seen = static_cast<int>(user.data()[kPage]); });
  // Wait for the fault message, then map the page twice.
  uffd_msg msg{};
  for (int i = 0; i < 2000 && ::read(u.fd(), &msg, sizeof(msg)) != sizeof(msg); ++i) ::usleep(1000);
  ASSERT_EQ(msg.event, UFFD_EVENT_PAGEFAULT);
  EXPECT_TRUE(msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_MINOR);
  std::size_t mapped = 0;
  EXPECT_EQ(u.continue_range(user.data() + kPage, kPage, false, false, &mapped), 0);
  EXPECT_EQ(u.continue_range(user.data() + kPage, kPage, false, false, &mapped), -EEXIST);
  EXPECT_EQ(u.wake(user.data() + kPage, kPage), 0);
  toucher.join();
  EXPECT_EQ(seen.load(), 42);
  u.unregister_range(user.data(), 4 * kPage);
}

TEST(pagemap, written_pages_survive_a_zap_under_wp_async) {
  uffd_features f = userfaultfd::probe(false);
  const std::uint64_t need = UFFD_FEATURE_MINOR_SHMEM | UFFD_FEATURE_WP_HUGETLBFS_SHMEM | UFFD_FEATURE_WP_UNPOPULATED | UFFD_FEATURE_WP_ASYNC;
  if (!f.has(need) || !pagemap::supported()) GTEST_SKIP() << "kernel lacks WP_ASYNC/PAGEMAP_SCAN: " << f.missing(need);
  constexpr std::size_t n = 16;
  unique_fd fd = make_memfd("t", n * kPage);
  mapping alias = mapping::map_shared(fd.get(), n * kPage);
  ASSERT_EQ(::madvise(alias.data(), n * kPage, MADV_POPULATE_WRITE), 0);
  mapping user = mapping::map_shared(fd.get(), n * kPage);
  userfaultfd u = userfaultfd::open(need, false);
  u.register_range(user.data(), n * kPage, UFFDIO_REGISTER_MODE_MINOR | UFFDIO_REGISTER_MODE_WP);
  ASSERT_EQ(u.write_protect(user.data(), n * kPage, true, false), 0);
  std::size_t mapped = 0;
  ASSERT_EQ(u.continue_range(user.data(), 8 * kPage, true, false, &mapped), 0);  // protected
  user.data()[3 * kPage] = std::byte{1};                                         // written (async)
  ASSERT_EQ(::madvise(user.data(), n * kPage, MADV_DONTNEED), 0);                // zap first
  pagemap pm;
  std::vector<std::size_t> written;
  const auto base = reinterpret_cast<std::uintptr_t>(user.data());
  ASSERT_EQ(pm.collect_written(base, base + n * kPage, [&](std::uintptr_t s, std::uintptr_t e) {
    for (auto a = s; a < e; a += kPage) written.push_back((a - base) / kPage);
  }), 0);
  EXPECT_EQ(written, std::vector<std::size_t>{3});
  written.clear();
  ASSERT_EQ(pm.collect_written(base, base + n * kPage, [&](std::uintptr_t s, std::uintptr_t e) {
    for (auto a = s; a < e; a += kPage) written.push_back((a - base) / kPage);
  }), 0);
  EXPECT_TRUE(written.empty()) << "the scan re-armed what it found";
}

TEST(io_ring, drops_flags_the_kernel_refuses_and_reads_a_file) {
  // Bit 30 is no IORING_SETUP flag: the kernel refuses it, the ring is made without it.
  io_ring ring(8, IORING_SETUP_SINGLE_ISSUER | (1u << 30));
  EXPECT_EQ(ring.flags() & (1u << 30), 0u);
  EXPECT_TRUE(ring.supports(IORING_OP_READ));
  EXPECT_FALSE(ring.supports(-1));
  EXPECT_FALSE(ring.supports(100000));

  unique_fd fd = make_memfd("io", 4 * kPage);
  std::vector<char> page(kPage, 'u');
  ASSERT_EQ(::pwrite(fd.get(), page.data(), kPage, 2 * kPage), static_cast<ssize_t>(kPage));
  std::vector<char> got(kPage, 0);
  io_uring_sqe* sqe = ring.next_sqe();
  ASSERT_NE(sqe, nullptr);
  io_uring_prep_read(sqe, fd.get(), got.data(), kPage, 2 * kPage);
  io_uring_sqe_set_data64(sqe, 42);
  ASSERT_EQ(ring.submit(), 1);
  io_uring_cqe* cqe = nullptr;
  ASSERT_EQ(io_uring_wait_cqe(ring.get(), &cqe), 0);
  EXPECT_EQ(io_uring_cqe_get_data64(cqe), 42u);
  EXPECT_EQ(cqe->res, static_cast<int>(kPage));
  io_uring_cqe_seen(ring.get(), cqe);
  EXPECT_EQ(got, page);
}

TEST(io_ring, next_sqe_submits_a_full_queue) {
  io_ring ring(2);
  for (int i = 0; i < 5; ++i) {
    io_uring_sqe* sqe = ring.next_sqe();
    ASSERT_NE(sqe, nullptr) << i;
    io_uring_prep_nop(sqe);
  }
  ASSERT_GE(ring.submit(), 0);
  for (int i = 0; i < 5; ++i) {
    io_uring_cqe* cqe = nullptr;
    ASSERT_EQ(io_uring_wait_cqe(ring.get(), &cqe), 0);
    io_uring_cqe_seen(ring.get(), cqe);
  }
}

// The resolvers' spin reads the stall time of tasks waiting for a CPU (PSI): it must
// parse, and grow while more threads than CPUs are runnable.
TEST(cpu_pressure, some_stall_time_grows_while_threads_wait_for_a_cpu) {
  const cpu_pressure p;
  if (!p.available()) GTEST_SKIP() << "no /proc/pressure/cpu (kernel without PSI, or psi=0): spins use the bound alone";
  const auto before = p.some_stall_us();
  ASSERT_TRUE(before.has_value());
  // Twice as many busy threads as CPUs for 200 ms: some always wait.
  const unsigned n = 2 * std::max(1u, std::thread::hardware_concurrency());
  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  for (unsigned i = 0; i < n; ++i) {
    busy.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop = true;
  for (auto& t : busy) t.join();
  const auto after = p.some_stall_us();
  ASSERT_TRUE(after.has_value());
  EXPECT_GT(*after, *before + 10'000) << "at least 10 ms of waiting in 200 ms";
}

}  // namespace
}  // namespace umpager::os
