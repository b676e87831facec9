// A simulated stream: an in-order queue of copies, kernels and event
// operations served by one worker thread (a copy engine plus an SM queue).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "sim/sim_driver.hpp"

namespace umpager::sim::detail {

/// One record of an event: completes once its stream reaches it. It carries a failure
/// of its stream since the record before (as CUDA's errors are sticky), so a stream
/// that waits for it fails too: an upload on a copy stream fails the kernels' stream.
class completion {
 public:
  /// Before complete(): the work this record follows failed.
  void fail(std::string why) noexcept {
    try {
      error_ = std::move(why);
    } catch (...) {
    }
    failed_ = true;
  }
  [[nodiscard]] bool failed() const noexcept { return failed_; }
  [[nodiscard]] const std::string& error() const noexcept { return error_; }
  void complete() noexcept {
    done_.store(true, std::memory_order_release);
    done_.notify_all();
  }
  [[nodiscard]] bool done() const noexcept { return done_.load(std::memory_order_acquire); }
  void wait() const noexcept {
    while (!done()) done_.wait(false, std::memory_order_acquire);
  }

 private:
  std::atomic<bool> done_{false};
  bool failed_ = false;  ///< written before done_ is released, read after it is acquired
  std::string error_;
};

/// What a copy costs on the simulated device, and which copies fail.
struct copy_model {
  double bandwidth_gbps = 0;
  double latency_us = 0;
  fault_plan faults;
  /// ThreadSanitizer sees no order between device ops that the runtime orders
  /// through the kernel (a kernel completes, a CPU thread faults, a resolver copies
  /// back); device memory is coherent across completed ops, so each op acquires
  /// this at its start and releases it at its end. Overlapping ops stay unordered.
  mutable char device_clock = 0;
  void op_begins() const noexcept;
  void op_ends() const noexcept;
  /// True when a copy is anything other than a plain memcpy.
  [[nodiscard]] bool modelled() const noexcept {
    return bandwidth_gbps > 0 || latency_us > 0 || faults.fail_copy || faults.delay_us || faults.land_after_us;
  }
};

class stream {
 public:
  stream(std::uint64_t id, std::shared_ptr<const copy_model> model);
  ~stream() { shutdown(); }
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  void copy(umpager::span<const copy_op> ops, copy_direction dir);
  void launch(std::function<void()> fn);
  void record(std::shared_ptr<completion> c);
  void wait(std::shared_ptr<completion> c);
  /// Nothing queued or running.
  [[nodiscard]] bool is_idle() const {
    std::lock_guard lk(mutex_);
    return idle();
  }
  /// Waits for the work submitted before the call; throws driver_error for any failure since the last call.
  void synchronize();
  /// Drains the queue and joins the worker; later submissions throw invalid_argument.
  void shutdown() noexcept;

 private:
  struct copy_batch {
    std::vector<copy_op> ops;
    copy_direction dir;
  };
  struct kernel {
    std::function<void()> fn;
  };
  struct record_op {
    std::shared_ptr<completion> c;
  };
  struct wait_op {
    std::shared_ptr<completion> c;
  };
  using op = std::variant<copy_batch, kernel, record_op, wait_op>;

  void enqueue(op o);
  void worker_loop() noexcept;
  void execute(op& o) noexcept;
  void run_copies(umpager::span<const copy_op> ops, copy_direction dir) noexcept;
  void record_error(const char* what) noexcept;
  [[nodiscard]] bool idle() const noexcept { return queue_.empty() && !busy_; }
  void check_open() const;

  const std::uint64_t id_;
  const std::shared_ptr<const copy_model> model_;  ///< shared, so stateful fault_plan callables stay one object

  mutable std::mutex mutex_;
  std::condition_variable work_cv_;  ///< worker: work arrived or stopping
  std::condition_variable done_cv_;  ///< synchronize/shutdown: an op completed
  std::deque<op> queue_;
  bool busy_ = false;  ///< an op runs, on the worker or on a caller (fast path)
  bool stopping_ = false;
  bool cancel_ = false;                 ///< shutdown: end modelled delays now
  std::condition_variable cancel_cv_;  ///< wakes a modelled delay on shutdown
  std::uint64_t submitted_ = 0;  ///< ops ever submitted, fast path included
  std::uint64_t completed_ = 0;  ///< ops completed; ops complete in submission order
  std::string first_error_;
  std::size_t error_count_ = 0;
  std::string since_record_;  ///< the first failure since the last record (completion::fail)
  bool failed_since_record_ = false;
  /// Under mutex_: hands a failure since the last record to `c`.
  void pass_failure(completion& c);
  std::thread worker_;  ///< last: started once everything above exists
};

}  // namespace umpager::sim::detail
