// A chunk's work in flight on its own (inflight.hpp), over the simulated device's
// streams and events: which records keep a chunk busy, what waiting for the writers
// waits for, and how later work on a stream replaces that stream's record.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <vector>

#include "inflight.hpp"
#include "sim/sim_driver.hpp"

namespace umpager::detail {
namespace {

using namespace std::chrono_literals;

class inflight_test : public ::testing::Test {
 protected:
  ~inflight_test() override {
    open_gate();
    for (stream_handle s : {a, b}) {
      drv->synchronize(s);
      drv->destroy_stream(s);
    }
  }

  /// A fence recorded now on `s`.
  std::shared_ptr<fence> point_on(stream_handle s) {
    auto f = std::make_shared<fence>(*drv, alive);
    f->record(s);
    return f;
  }
  /// Holds `s` at a kernel until open_gate(): work recorded after it is not done.
  void close_gate(stream_handle s) {
    drv->launch(s, [f = gate_open] { f.wait(); });
  }
  void open_gate() {
    if (!opened) gate.set_value();
    opened = true;
  }

  std::unique_ptr<driver> drv = sim::make_driver(sim::sim_config{});
  liveness alive = std::make_shared<std::atomic<bool>>(true);
  stream_handle a = drv->create_stream();
  stream_handle b = drv->create_stream();
  std::promise<void> gate;
  std::shared_future<void> gate_open = gate.get_future().share();
  bool opened = false;
  work_in_flight w;
};

TEST_F(inflight_test, a_chunk_nobody_pinned_is_idle) {
  EXPECT_TRUE(w.idle());
  EXPECT_FALSE(w.writing());
  EXPECT_TRUE(w.wait(false, 0ms));
}

TEST_F(inflight_test, a_record_keeps_the_chunk_busy_until_its_point_passes) {
  close_gate(a);
  w.pin(a, point_on(a), false);
  EXPECT_FALSE(w.idle());
  EXPECT_FALSE(w.writing());  // a reader: the device copy is not being written
  open_gate();
  drv->synchronize(a);
  EXPECT_TRUE(w.idle());
  EXPECT_EQ(w.size(), 0u);  // passed records are dropped
}

TEST_F(inflight_test, waiting_for_the_writers_waits_for_writers_only) {
  close_gate(a);
  w.pin(a, point_on(a), false);
  EXPECT_TRUE(w.wait(true, 0ms));    // no writer
  EXPECT_FALSE(w.wait(false, 20ms));  // but a reader in flight
  close_gate(b);
  w.pin(b, point_on(b), true);
  EXPECT_TRUE(w.writing());
  EXPECT_FALSE(w.wait(true, 20ms));
  EXPECT_EQ(w.size(), 2u);  // a wait that timed out keeps the records
  open_gate();
  EXPECT_TRUE(w.wait(true, 5000ms));
  EXPECT_FALSE(w.writing());
  EXPECT_TRUE(w.wait(false, 5000ms));
  EXPECT_TRUE(w.idle());
}

TEST_F(inflight_test, one_record_per_stream_later_work_replaces_it) {
  close_gate(a);
  w.pin(a, point_on(a), true);
  w.pin(a, point_on(a), false);  // the writer before it has not passed: still a writer
  EXPECT_EQ(w.size(), 1u);
  EXPECT_TRUE(w.writing());
  w.pin(b, point_on(b), false);
  EXPECT_EQ(w.size(), 2u);
  open_gate();
  drv->synchronize(a);
  drv->synchronize(b);
  EXPECT_TRUE(w.idle());
}

TEST_F(inflight_test, a_writer_that_passed_does_not_make_its_streams_next_record_a_writer) {
  w.pin(a, point_on(a), true);
  drv->synchronize(a);
  close_gate(a);
  w.pin(a, point_on(a), false);
  EXPECT_EQ(w.size(), 1u);
  EXPECT_FALSE(w.writing());
  EXPECT_FALSE(w.idle());
}

TEST_F(inflight_test, an_open_ended_record_lasts_until_its_stream_is_idle) {
  const auto p = point_on(a);
  drv->synchronize(a);
  close_gate(a);  // undeclared work enqueued after the prefetch's point
  w.pin(a, p, false, true);
  EXPECT_FALSE(w.idle());
  w.pin(a, p, false, false);  // a declaration says exactly how long: its point passed
  EXPECT_TRUE(w.idle());
}

TEST_F(inflight_test, the_writers_besides_a_stream_are_the_other_streams_unpassed_writers) {
  w.pin(a, point_on(a), true);
  drv->synchronize(a);  // a's writer passed
  close_gate(b);
  const auto on_b = point_on(b);
  w.pin(b, on_b, true);
  EXPECT_TRUE(w.writers_besides(*drv, b).empty());  // b's own writer is ordered on b already
  const auto besides_a = w.writers_besides(*drv, a);
  ASSERT_EQ(besides_a.size(), 1u);
  EXPECT_EQ(besides_a[0], on_b);
  stream_handle c = drv->create_stream();
  close_gate(c);
  w.pin(c, point_on(c), false);  // a reader: nothing to follow
  EXPECT_EQ(w.writers_besides(*drv, a).size(), 1u);
  open_gate();
  drv->synchronize(b);
  EXPECT_TRUE(w.writers_besides(*drv, a).empty());
  drv->synchronize(c);
  drv->destroy_stream(c);
}

TEST_F(inflight_test, a_writer_on_another_drivers_stream_with_an_equal_handle_is_another_stream) {
  std::unique_ptr<driver> other = sim::make_driver(sim::sim_config{});
  work_in_flight records;  // goes before `other`: its fences belong to that driver
  stream_handle x = other->create_stream();
  ASSERT_EQ(x.impl, a.impl);  // each simulated driver numbers its streams from 1
  other->launch(x, [f = gate_open] { f.wait(); });
  auto on_x = std::make_shared<fence>(*other, alive);
  on_x->record(x);
  records.pin(x, on_x, true);
  // No ASSERT past the launch: `other` must not go away while its kernel waits.
  EXPECT_EQ(records.writers_besides(*drv, a), std::vector<std::shared_ptr<fence>>{on_x});
  EXPECT_TRUE(records.writers_besides(*other, x).empty());
  open_gate();
  other->synchronize(x);
  EXPECT_TRUE(records.idle());
  other->destroy_stream(x);
}

TEST_F(inflight_test, a_runtime_gone_leaves_nothing_in_flight) {
  close_gate(a);
  w.pin(a, point_on(a), true);
  alive->store(false);  // its streams were drained
  EXPECT_FALSE(w.writing());
  EXPECT_TRUE(w.idle());
}

TEST_F(inflight_test, clear_forgets_every_record) {
  close_gate(a);
  w.pin(a, point_on(a), true);
  w.clear();
  EXPECT_EQ(w.size(), 0u);
  EXPECT_TRUE(w.idle());
}

}  // namespace
}  // namespace umpager::detail
