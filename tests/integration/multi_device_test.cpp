// Several devices in one runtime (here two simulated devices): a page is resident on
// one device at most; a prefetch to another device moves its chunks there by a peer
// copy (device to device), or through the host where the peer copy fails; the old
// device's chunk is unmapped and back in its pool; kernels on either device see the
// data; a bad device number is an error.
#include <gtest/gtest.h>

#include <csignal>
#include <memory>

#include "runtime_fixture.hpp"
#include "sigbus_guard.hpp"

namespace umpager::testing {
namespace {

constexpr std::size_t kBytes = std::size_t{6} << 20;  // 3 chunks
constexpr std::size_t kWords = kBytes / 4;

struct two_devices {
  std::shared_ptr<std::atomic<bool>> fail_peer = std::make_shared<std::atomic<bool>>(false);
  std::unique_ptr<runtime> rt;

  explicit two_devices(std::size_t memory1 = std::size_t{64} << 20) {
    std::vector<std::unique_ptr<driver>> d;
    for (int k = 0; k < 2; ++k) {
      sim::sim_config sc;
      sc.memory_bytes = k == 0 ? std::size_t{64} << 20 : memory1;
      auto fail = fail_peer;
      sc.faults.fail_copy = [fail](copy_direction dir, const copy_op&) {
        return dir == copy_direction::device_to_device && fail->load();
      };
      d.push_back(sim::make_driver(sc));
    }
    rt = std::make_unique<runtime>(make_config(65536, tracking_mode::automatic), std::move(d));
  }
};

std::uint32_t* on(runtime& rt, const buffer& b, unsigned k) {
  return static_cast<std::uint32_t*>(rt.device_pointer(b.data(), k));
}

TEST(multi_device, chunks_move_between_devices_by_peer_copy) {
  two_devices t;
  runtime& rt = *t.rt;
  ASSERT_EQ(rt.devices(), 2u);
  auto s0 = rt.create_stream(0);
  auto s1 = rt.create_stream(1);
  buffer buf = rt.allocate(kBytes);
  auto* w = buf.as<std::uint32_t>();
  for (std::size_t i = 0; i < kWords; ++i) w[i] = static_cast<std::uint32_t>(i);

  rt.prefetch(w, kBytes, location::device, s0, 0);
  EXPECT_EQ(rt.device_bytes_in_use(0), kBytes);
  EXPECT_EQ(rt.device_bytes_in_use(1), 0u);
  kernels::add(rt.device_driver(0), s0.handle(), on(rt, buf, 0), kWords, 1);
  s0.synchronize();

  const stats a = rt.statistics();
  rt.prefetch(w, kBytes, location::device, s1, 1);
  const stats b = rt.statistics();
  EXPECT_EQ(b.bytes_device_to_device - a.bytes_device_to_device, kBytes) << "a peer copy moved every chunk";
  EXPECT_EQ(b.bytes_to_host, a.bytes_to_host) << "nothing went through the host";
  EXPECT_EQ(b.bytes_to_device, a.bytes_to_device);
  EXPECT_EQ(rt.device_bytes_in_use(0), 0u) << "resident on one device at most";
  EXPECT_EQ(rt.device_bytes_in_use(1), kBytes);
  EXPECT_EQ(guarded_read(on(rt, buf, 0)).signal, SIGSEGV) << "device 0's mapping is gone";

  kernels::add(rt.device_driver(1), s1.handle(), on(rt, buf, 1), kWords, 1);
  s1.synchronize();
  EXPECT_EQ(index_mismatches(w, kWords, 2), 0u) << "the CPU sees device 1's kernel on device 0's results";

  // A CPU write, then back to device 0 for half the allocation: the written page is
  // uploaded, the rest moves by peer copy; each chunk lives on one device.
  w[5] = 1000;
  rt.prefetch(w, kBytes / 3, location::device, s0, 0);  // chunk 0
  EXPECT_EQ(rt.device_bytes_in_use(0) + rt.device_bytes_in_use(1), kBytes);
  EXPECT_EQ(rt.device_bytes_in_use(0), kBytes / 3);
  kernels::add(rt.device_driver(0), s0.handle(), on(rt, buf, 0), kWords / 3, 10);
  s0.synchronize();
  EXPECT_EQ(w[5], 1010u);
  EXPECT_EQ(w[6], 6u + 12);
  EXPECT_EQ(w[kWords - 1], static_cast<std::uint32_t>(kWords - 1 + 2)) << "chunk 2 stayed on device 1";
}

TEST(multi_device, failed_peer_copy_moves_through_the_host) {
  two_devices t;
  runtime& rt = *t.rt;
  auto s1 = rt.create_stream(1);
  buffer buf = rt.allocate(kBytes);
  auto* w = buf.as<std::uint32_t>();
  for (std::size_t i = 0; i < kWords; ++i) w[i] = static_cast<std::uint32_t>(i);
  rt.prefetch(w, kBytes, location::device, {}, 0);
  kernels::add(rt.device_driver(0), rt.create_stream(0).handle(), on(rt, buf, 0), 0, 0);  // empty: no-op
  t.fail_peer->store(true);
  const stats a = rt.statistics();
  rt.prefetch(w, kBytes, location::device, s1, 1);
  const stats b = rt.statistics();
  EXPECT_EQ(b.bytes_device_to_device, a.bytes_device_to_device);
  EXPECT_EQ(b.bytes_to_host - a.bytes_to_host, kBytes) << "down from device 0";
  EXPECT_EQ(b.bytes_to_device - a.bytes_to_device, kBytes) << "up to device 1";
  EXPECT_EQ(rt.device_bytes_in_use(0), 0u);
  kernels::add(rt.device_driver(1), s1.handle(), on(rt, buf, 1), kWords, 3);
  s1.synchronize();
  EXPECT_EQ(index_mismatches(w, kWords, 3), 0u);
}

TEST(multi_device, too_small_a_device_is_an_error_and_loses_nothing) {
  two_devices t(std::size_t{4} << 20);  // device 1 holds 2 chunks, the data needs 3
  runtime& rt = *t.rt;
  buffer buf = rt.allocate(kBytes);
  auto* w = buf.as<std::uint32_t>();
  for (std::size_t i = 0; i < kWords; ++i) w[i] = static_cast<std::uint32_t>(i);
  rt.prefetch(w, kBytes, location::device, {}, 0);
  EXPECT_THROW(rt.prefetch(w, kBytes, location::device, {}, 1), out_of_memory);
  EXPECT_EQ(rt.device_bytes_in_use(0), kBytes);
  // Two chunks fit; a third move evicts the least recently used on device 1.
  rt.prefetch(w, kBytes / 3 * 2, location::device, {}, 1);
  rt.prefetch(buf.as<char>() + kBytes / 3 * 2, kBytes / 3, location::device, {}, 1);
  EXPECT_EQ(rt.device_bytes_in_use(1), std::size_t{4} << 20);
  EXPECT_GE(rt.statistics().chunks_evicted, 1u);
  EXPECT_EQ(index_mismatches(w, kWords, 0), 0u);
}

TEST(multi_device, bad_device_numbers_are_errors) {
  two_devices t;
  runtime& rt = *t.rt;
  buffer buf = rt.allocate(kBytes);
  EXPECT_THROW(rt.prefetch(buf.data(), kBytes, location::device, {}, 2), invalid_argument);
  EXPECT_THROW((void)rt.device_pointer(buf.data(), 7), invalid_argument);
  EXPECT_THROW((void)rt.create_stream(2), invalid_argument);
  EXPECT_THROW((void)rt.device_driver(2), invalid_argument);
  EXPECT_THROW((void)rt.device_bytes_in_use(2), invalid_argument);
  std::vector<std::unique_ptr<driver>> none;
  EXPECT_THROW(runtime(make_config(65536, tracking_mode::automatic), std::move(none)), invalid_argument);
  config c;
  c.devices = 0;
  EXPECT_THROW(c.validate(), invalid_argument);
  c.devices = 17;
  EXPECT_THROW(c.validate(), invalid_argument);
}

}  // namespace
}  // namespace umpager::testing
