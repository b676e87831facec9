// The io_uring engine behind the storage tier: batches larger than the queue depth,
// results per request (bytes, a short read at the end of the file, -errno).
#include <fcntl.h>
#include <poll.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
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
  e->run(std::span<io_request>{});  // an empty batch is fine
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

}  // namespace
}  // namespace umpager
