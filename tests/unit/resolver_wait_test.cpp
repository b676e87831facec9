// resolver_wait: each source wakes a sleeping resolver, a poll keeps firing after
// its first completion (multishot, re-armed when the kernel ends it), and an
// operation submitted on the ring completes through its ring_op (the storage seam).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "os/eventfd.hpp"
#include "resolver_wait.hpp"
#include "umpager/error.hpp"

namespace umpager::detail {
namespace {

struct sources {
  os::event_fd faults, ahead, stop;  // an eventfd stands in for the userfaultfd
};

std::unique_ptr<resolver_wait> make(const sources& s, resolver_wait_kind kind, std::string* why) {
  try {
    auto w = std::make_unique<resolver_wait>(s.faults.fd(), s.ahead.fd(), s.stop.fd(), kind);
    if (!w->start()) {
      *why = "start() failed";
      return nullptr;
    }
    return w;
  } catch (const unsupported& e) {
    *why = e.what();
    return nullptr;
  }
}

class resolver_wait_test : public ::testing::TestWithParam<resolver_wait_kind> {};

TEST_P(resolver_wait_test, every_source_wakes_it_every_time) {
  sources s;
  std::string why;
  auto w = make(s, GetParam(), &why);
  if (!w) GTEST_SKIP() << why;
  EXPECT_EQ(w->ring(), GetParam() != resolver_wait_kind::epoll);
  EXPECT_EQ(w->peek(), 0u);
  for (int round = 0; round < 3; ++round) {  // the polls stay armed
    s.faults.signal();
    EXPECT_EQ(w->sleep() & resolver_wait::kFaults, resolver_wait::kFaults);
    ASSERT_TRUE(s.faults.consume());
    s.ahead.signal();
    EXPECT_EQ(w->sleep() & resolver_wait::kReadahead, resolver_wait::kReadahead);
    ASSERT_TRUE(s.ahead.consume());
    EXPECT_EQ(w->peek(), 0u);
  }
  s.stop.signal();
  EXPECT_EQ(w->sleep() & resolver_wait::kStop, resolver_wait::kStop);
}

TEST_P(resolver_wait_test, a_burst_longer_than_the_completion_queue_is_not_lost) {
  sources s;
  std::string why;
  auto w = make(s, GetParam(), &why);
  if (!w) GTEST_SKIP() << why;
  // Far more wake-ups than the completion queue holds: the multishot poll ends
  // on overflow and must be re-armed, or the next fault would sleep forever.
  for (int i = 0; i < 2000; ++i) s.faults.signal();
  EXPECT_EQ(w->sleep() & resolver_wait::kFaults, resolver_wait::kFaults);
  ASSERT_TRUE(s.faults.consume());  // takes the whole count
  while (w->peek() != 0) {
  }
  s.faults.signal();
  EXPECT_EQ(w->sleep() & resolver_wait::kFaults, resolver_wait::kFaults);
}

TEST_P(resolver_wait_test, ring_ops_complete_on_the_resolver) {
  sources s;
  std::string why;
  auto w = make(s, GetParam(), &why);
  if (!w) GTEST_SKIP() << why;
  struct nop final : ring_op {
    int res = 1;
    void complete(int r) noexcept override { res = r; }
  } op;
  io_uring_sqe* sqe = w->prepare(op);
  if (!w->ring()) {
    EXPECT_EQ(sqe, nullptr);  // epoll has no ring to carry I/O
    EXPECT_EQ(w->submit(), -EOPNOTSUPP);
    return;
  }
  ASSERT_NE(sqe, nullptr);
  ::io_uring_prep_nop(sqe);
  ASSERT_EQ(w->submit(), 0);
  for (int i = 0; i < 1000 && op.res == 1; ++i) (void)w->peek();
  EXPECT_EQ(op.res, 0);
}

INSTANTIATE_TEST_SUITE_P(kinds, resolver_wait_test,
                         ::testing::Values(resolver_wait_kind::io_uring, resolver_wait_kind::epoll),
                         [](const auto& info) { return info.param == resolver_wait_kind::epoll ? "epoll" : "io_uring"; });

}  // namespace
}  // namespace umpager::detail
