// The io_uring engine behind the storage tier: batches larger than the queue depth,
// results per request (bytes, a short read at the end of the file, -errno), reads
// spliced into a target file.
#include <fcntl.h>
#include <poll.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "umpager/error.hpp"
#include "umpager/io_engine.hpp"

namespace umpager {
namespace {

class temp_fd {
 public:
  temp_fd() : path_(::testing::TempDir() + "umpager_io_XXXXXX") { fd_ = ::mkstemp(path_.data()); }
  ~temp_fd() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  temp_fd(const temp_fd&) = delete;
  temp_fd& operator=(const temp_fd&) = delete;
  [[nodiscard]] int get() const { return fd_; }

 private:
  std::string path_;
  int fd_ = -1;
};

std::unique_ptr<io_engine> engine_or_null(unsigned depth, std::string* why) {
  try {
    return make_uring_engine(depth);
  } catch (const unsupported& e) {
    *why = e.what();
    return nullptr;
  }
}

TEST(io_engine, BatchesLargerThanTheQueueRoundTrip) {
  std::string why;
  auto e = engine_or_null(8, &why);
  if (!e) GTEST_SKIP() << why;
  EXPECT_EQ(e->queue_depth(), 8u);
  temp_fd f;
  ASSERT_GE(f.get(), 0);
  constexpr std::size_t kReqs = 200, kBytes = 4096;
  std::vector<std::uint32_t> out(kReqs * kBytes / 4), in(out.size(), 0);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint32_t>(i * 7 + 1);
  std::vector<io_request> w, r;
  for (std::size_t i = 0; i < kReqs; ++i) {
    // Written and read in a shuffled order: results must land per request.
    const std::size_t k = (i * 37) % kReqs;
    w.push_back({io_request::kind::write, f.get(), k * kBytes, reinterpret_cast<char*>(out.data()) + k * kBytes, kBytes, 0});
    r.push_back({io_request::kind::read, f.get(), k * kBytes, reinterpret_cast<char*>(in.data()) + k * kBytes, kBytes, 0});
  }
  e->run(w);
  for (const io_request& q : w) ASSERT_EQ(q.result, static_cast<ssize_t>(kBytes));
  e->run(r);
  for (const io_request& q : r) ASSERT_EQ(q.result, static_cast<ssize_t>(kBytes));
  EXPECT_EQ(std::memcmp(in.data(), out.data(), in.size() * 4), 0);
}

TEST(io_engine, ShortReadAtTheEndAndErrorsAreResults) {
  std::string why;
  auto e = engine_or_null(4, &why);
  if (!e) GTEST_SKIP() << why;
  temp_fd f;
  ASSERT_EQ(::pwrite(f.get(), "abcdef", 6, 0), 6);
  char buf[4096];
  io_request reqs[] = {{io_request::kind::read, f.get(), 0, buf, sizeof buf, 0},
                       {io_request::kind::read, -1, 0, buf, sizeof buf, 0},
                       {io_request::kind::read, f.get(), 8192, buf, sizeof buf, 0}};
  e->run(reqs);
  EXPECT_EQ(reqs[0].result, 6) << "short at the end of the file";
  EXPECT_EQ(std::memcmp(buf, "abcdef", 6), 0);
  EXPECT_EQ(reqs[1].result, -EBADF);
  EXPECT_EQ(reqs[2].result, 0) << "past the end";
  e->run(umpager::span<io_request>{});  // an empty batch is fine
}

// The asynchronous use (the storage tier's read-ahead): start() returns at once,
// readable_fd() polls readable while there are completions, progress(false) takes them
// without sleeping, resubmitting past the queue depth, until every request has its result.
TEST(io_engine, StartedBatchesCompleteThroughProgressWhenTheRingPollsReadable) {
  std::string why;
  auto e = engine_or_null(4, &why);
  if (!e) GTEST_SKIP() << why;
  ASSERT_GE(e->readable_fd(), 0);
  temp_fd f;
  constexpr std::size_t kReqs = 40, kBytes = 4096;
  std::vector<std::uint32_t> out(kReqs * kBytes / 4), in(out.size(), 0);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint32_t>(i * 5 + 3);
  ASSERT_EQ(::pwrite(f.get(), out.data(), out.size() * 4, 0), static_cast<ssize_t>(out.size() * 4));
  std::vector<io_request> r;
  for (std::size_t k = 0; k < kReqs; ++k) {
    r.push_back({io_request::kind::read, f.get(), k * kBytes, reinterpret_cast<char*>(in.data()) + k * kBytes, kBytes, 0});
  }
  r.push_back({io_request::kind::read, -1, 0, in.data(), kBytes, 0});  // fails: a result, not an exception
  e->start(r);
  unsigned polls = 0;
  while (!e->progress(false)) {
    pollfd p{e->readable_fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1) << "the ring became readable while requests were in flight";
    ++polls;
  }
  for (std::size_t k = 0; k < kReqs; ++k) ASSERT_EQ(r[k].result, static_cast<ssize_t>(kBytes)) << k;
  EXPECT_EQ(r.back().result, -EBADF);
  EXPECT_EQ(std::memcmp(in.data() + kBytes / 4, out.data() + kBytes / 4, (kReqs - 1) * kBytes), 0);
  EXPECT_TRUE(e->progress(true)) << "done stays done";
}

/// Fills `f` with `words` words of i * mul + add (fsynced, so an O_DIRECT read sees
/// them) and returns them, with `direct` a second, O_DIRECT descriptor of the file
/// (-1 where the filesystem refuses it).
std::vector<std::uint32_t> fill_file(const temp_fd& f, std::size_t words, std::uint32_t mul, std::uint32_t add,
                                     int* direct) {
  std::vector<std::uint32_t> out(words);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint32_t>(i * mul + add);
  const bool ok = ::pwrite(f.get(), out.data(), out.size() * 4, 0) == static_cast<ssize_t>(out.size() * 4) &&
                  ::fsync(f.get()) == 0;
  char self[64];
  std::snprintf(self, sizeof self, "/proc/self/fd/%d", f.get());
  *direct = ::open(self, O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (!ok) out.clear();
  return out;
}

/// A memfd of `bytes` (a splice target), optionally sealed against growing.
int target_memfd(std::size_t bytes, bool seal_size) {
  const int fd = ::memfd_create("umpager_io_target", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -1;
  if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0 ||
      (seal_size && ::fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK) != 0)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads with a target file (the storage tier's way into its memfd): each lands at its
// target offset, from a buffered source (splice(2) on the caller) and from an O_DIRECT
// one (IORING_OP_SPLICE pairs in flight) alike, more requests than pipes and queue
// entries, started asynchronously, with a short one at the end of the file.
TEST(io_engine, SplicedReadsLandInTheTargetAtTheirOffsets) {
  std::string why;
  auto e = engine_or_null(8, &why);
  if (!e) GTEST_SKIP() << why;
  ASSERT_TRUE(e->splices());
  temp_fd f;
  constexpr std::size_t kReqs = 24, kBytes = 64 * 1024, kTail = 1000;
  int direct = -1;
  const std::vector<std::uint32_t> out = fill_file(f, (kReqs * kBytes + kTail) / 4, 11, 5, &direct);
  ASSERT_FALSE(out.empty());
  for (const int src : {f.get(), direct}) {
    if (src < 0) {
      std::printf("skipping the O_DIRECT source: this filesystem refuses it\n");
      continue;
    }
    SCOPED_TRACE(src == direct ? "O_DIRECT source" : "buffered source");
    const std::size_t target_bytes = (kReqs + 2) * kBytes;
    const int t = target_memfd(target_bytes, false);
    ASSERT_GE(t, 0);
    std::vector<io_request> r;
    for (std::size_t i = 0; i <= kReqs; ++i) {
      const std::size_t k = (i * 7) % (kReqs + 1);  // shuffled; k == kReqs: the file's last, short piece
      // Landed one request further in the target: its offset, not the file's, places it.
      r.push_back({io_request::kind::read, src, k * kBytes, nullptr, kBytes, 0, t, (k + 1) * kBytes});
    }
    e->start(r);
    while (!e->progress(false)) {
      pollfd p{e->readable_fd(), POLLIN, 0};
      ASSERT_EQ(::poll(&p, 1, 5000), 1);
    }
    std::vector<std::uint32_t> in(out.size(), 0);
    ASSERT_EQ(::pread(t, in.data(), in.size() * 4, kBytes), static_cast<ssize_t>(in.size() * 4));
    for (const io_request& q : r) {
      // O_DIRECT reads whole blocks: the end of the file makes the last one short either way.
      ASSERT_EQ(q.result, static_cast<ssize_t>(q.offset == kReqs * kBytes ? kTail : kBytes)) << "offset " << q.offset;
    }
    EXPECT_EQ(std::memcmp(in.data(), out.data(), out.size() * 4), 0);
    ::close(t);
  }
  if (direct >= 0) ::close(direct);
}

// A target that refuses the bytes (here sealed against growing; in the runtime a memfd
// out of memory, ENOSPC) ends its request short or with -errno, never as success, and
// the engine's pipes carry no stale bytes into the next request.
TEST(io_engine, ATargetThatRefusesIsAShortOrFailedRequest) {
  std::string why;
  auto e = engine_or_null(8, &why);
  if (!e) GTEST_SKIP() << why;
  temp_fd f;
  constexpr std::size_t kBytes = 64 * 1024;
  int direct = -1;
  const std::vector<std::uint32_t> out = fill_file(f, 4 * kBytes / 4, 3, 1, &direct);
  ASSERT_FALSE(out.empty());
  for (const int src : {f.get(), direct}) {
    if (src < 0) continue;
    SCOPED_TRACE(src == direct ? "O_DIRECT source" : "buffered source");
    const int t = target_memfd(kBytes, true);  // room for one request
    ASSERT_GE(t, 0);
    io_request across[] = {{io_request::kind::read, src, 0, nullptr, 2 * kBytes, 0, t, 0}};
    e->run(across);
    EXPECT_EQ(across[0].result, static_cast<ssize_t>(kBytes)) << "what fit arrived; the rest is missing";
    io_request beyond[] = {{io_request::kind::read, src, kBytes, nullptr, kBytes, 0, t, kBytes}};
    e->run(beyond);
    EXPECT_EQ(beyond[0].result, -EPERM) << "a sealed memfd refuses growth";
    io_request fits[] = {{io_request::kind::read, src, 2 * kBytes, nullptr, kBytes, 0, t, 0}};
    e->run(fits);
    ASSERT_EQ(fits[0].result, static_cast<ssize_t>(kBytes));
    std::vector<std::uint32_t> in(kBytes / 4);
    ASSERT_EQ(::pread(t, in.data(), kBytes, 0), static_cast<ssize_t>(kBytes));
    EXPECT_EQ(std::memcmp(in.data(), out.data() + 2 * kBytes / 4, kBytes), 0) << "the file's bytes, nothing left over";
    ::close(t);
  }
  if (direct >= 0) ::close(direct);
}

}  // namespace
}  // namespace umpager
