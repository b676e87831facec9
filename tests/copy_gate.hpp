// A gate on the simulated device's copies: the device-to-host copy that covers a
// chosen address blocks until the test releases it, so a test can hold a resolver
// inside a fault's or a read-ahead's copy and change the world meanwhile.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

#include "sim/sim_driver.hpp"

namespace umpager::testing {

struct copy_gate {
  std::mutex m;
  std::condition_variable cv;
  std::atomic<std::uintptr_t> addr{0};  ///< 0: open
  bool entered = false, released = false;

  /// Waits until a copy is held at the gate; false after `limit`.
  bool wait_entered(std::chrono::seconds limit) {
    std::unique_lock l(m);
    return cv.wait_for(l, limit, [&] { return entered; });
  }
  /// Lets the held copy (and every later one) through.
  void release() {
    {
      std::lock_guard l(m);
      released = true;
      addr = 0;
    }
    cv.notify_all();
  }
};

/// A simulated device of `memory_bytes` whose copies pass `gate`.
inline sim::sim_config gated_sim(const std::shared_ptr<copy_gate>& gate, std::size_t memory_bytes) {
  sim::sim_config sc;
  sc.memory_bytes = memory_bytes;
  sc.faults.fail_copy = [gate](copy_direction dir, const copy_op& op) {
    const auto src = reinterpret_cast<std::uintptr_t>(op.src);
    const std::uintptr_t a = gate->addr;
    if (dir == copy_direction::device_to_host && a != 0 && a >= src && a < src + op.bytes) {
      std::unique_lock l(gate->m);
      gate->entered = true;
      gate->cv.notify_all();
      gate->cv.wait(l, [&] { return gate->released; });
    }
    return false;
  };
  return sc;
}

}  // namespace umpager::testing
