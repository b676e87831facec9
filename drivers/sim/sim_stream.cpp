#include "sim/sim_stream.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <utility>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

#include "umpager/error.hpp"

namespace umpager::sim::detail {
namespace {

const char* to_string(copy_direction d) noexcept {
  switch (d) {
    case copy_direction::host_to_device: return "host_to_device";
    case copy_direction::device_to_host: return "device_to_host";
    case copy_direction::device_to_device: return "device_to_device";
  }
  return "unknown direction";
}

}  // namespace

stream::stream(std::uint64_t id, std::shared_ptr<const copy_model> model)
    : id_(id), model_(std::move(model)), worker_([this] { worker_loop(); }) {}

void stream::check_open() const {
  UMPAGER_EXPECTS(!stopping_, "sim stream " + std::to_string(id_) + " is being destroyed");
}

void stream::enqueue(op o) {
  std::lock_guard lk(mutex_);
  check_open();
  queue_.push_back(std::move(o));
  ++submitted_;
  work_cv_.notify_one();
}

#if defined(__SANITIZE_THREAD__)
void copy_model::op_begins() const noexcept { __tsan_acquire(&device_clock); }
void copy_model::op_ends() const noexcept { __tsan_release(&device_clock); }
#else
void copy_model::op_begins() const noexcept {}
void copy_model::op_ends() const noexcept {}
#endif

void stream::copy(umpager::span<const copy_op> ops, copy_direction dir) {
  std::unique_lock lk(mutex_);
  check_open();
  if (!model_->modelled() && idle()) {
    // Fast path: an idle copy engine starts at once, so the caller does the
    // copy itself; a hand-off to the worker would double the latency of every
    // fault the runtime resolves with copy_async + synchronize. busy_ keeps
    // later submissions (from any thread) behind this copy.
    busy_ = true;
    ++submitted_;
    lk.unlock();
    model_->op_begins();
    for (const copy_op& o : ops)
      if (o.bytes != 0) std::memcpy(o.dst, o.src, o.bytes);
    model_->op_ends();
    lk.lock();
    busy_ = false;
    ++completed_;
    done_cv_.notify_all();
    if (!queue_.empty()) work_cv_.notify_one();
    return;
  }
  lk.unlock();
  enqueue(copy_batch{std::vector<copy_op>(ops.begin(), ops.end()), dir});
}

void stream::launch(std::function<void()> fn) { enqueue(kernel{std::move(fn)}); }

void stream::record(std::shared_ptr<completion> c) {
  std::unique_lock lk(mutex_);
  check_open();
  if (idle()) {
    pass_failure(*c);
    c->complete();  // nothing ahead of it: the stream has already reached it
    return;
  }
  lk.unlock();
  enqueue(record_op{std::move(c)});
}

void stream::wait(std::shared_ptr<completion> c) {
  if (c->done()) {
    {
      std::lock_guard lk(mutex_);
      check_open();
    }
    if (c->failed()) record_error(("waited for work on another stream that failed: " + c->error()).c_str());
    return;
  }
  enqueue(wait_op{std::move(c)});
}

void stream::synchronize() {
  std::unique_lock lk(mutex_);
  // Waits for what was submitted before this call only, so producers on other
  // threads cannot starve it.
  const std::uint64_t target = submitted_;
  done_cv_.wait(lk, [&] { return completed_ >= target; });
  if (error_count_ == 0) return;
  std::string msg = "sim stream " + std::to_string(id_) + ": " +
                    (first_error_.empty() ? std::string("an operation failed") : first_error_);
  if (error_count_ > 1) msg += " (and " + std::to_string(error_count_ - 1) + " more failures)";
  first_error_.clear();
  error_count_ = 0;
  throw driver_error(msg);
}

void stream::shutdown() noexcept {
  {
    std::unique_lock lk(mutex_);
    if (stopping_) return;
    cancel_ = true;  // cut modelled delays short: the stream is going away
    cancel_cv_.notify_all();
    done_cv_.wait(lk, [&] { return completed_ == submitted_; });
    stopping_ = true;  // under the same lock as the drain check: nothing slips in after it
    work_cv_.notify_one();
  }
  if (worker_.joinable()) worker_.join();
}

void stream::worker_loop() noexcept {
  std::unique_lock lk(mutex_);
  for (;;) {
    work_cv_.wait(lk, [&] { return stopping_ || (!queue_.empty() && !busy_); });
    if (stopping_) return;  // shutdown only stops an idle, empty stream
    op o = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lk.unlock();
    model_->op_begins();
    execute(o);
    model_->op_ends();
    o = op{};  // release the kernel's captures before reporting completion
    lk.lock();
    busy_ = false;
    ++completed_;
    done_cv_.notify_all();
  }
}

void stream::execute(op& o) noexcept {
  if (auto* b = std::get_if<copy_batch>(&o)) {
    run_copies(b->ops, b->dir);
  } else if (auto* k = std::get_if<kernel>(&o)) {
    try {
      k->fn();
    } catch (const std::exception& e) {
      record_error((std::string("launched function threw: ") + e.what()).c_str());
    } catch (...) {
      record_error("launched function threw a non-standard exception");
    }
  } else if (auto* r = std::get_if<record_op>(&o)) {
    {
      std::lock_guard lk(mutex_);
      pass_failure(*r->c);
    }
    r->c->complete();
  } else if (auto* w = std::get_if<wait_op>(&o)) {
    w->c->wait();
    if (w->c->failed()) record_error(("waited for work on another stream that failed: " + w->c->error()).c_str());
  }
}

void stream::run_copies(umpager::span<const copy_op> ops, copy_direction dir) noexcept {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const copy_model& m = *model_;
  std::size_t bytes = 0;
  unsigned late_us = 0;
  try {
    if (m.faults.land_after_us) late_us = m.faults.land_after_us(dir);
  } catch (...) {
    record_error("fault_plan.land_after_us threw");
  }
  if (late_us > 0) {
    std::unique_lock lk(mutex_);
    if (cancel_cv_.wait_until(lk, start + std::chrono::microseconds(late_us), [&] { return cancel_; })) {
      lk.unlock();
      record_error("late copy dropped: the stream was destroyed first");
      return;
    }
  }
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const copy_op& o = ops[i];
    const char* why = nullptr;
    std::string thrown;
    try {
      if (m.faults.fail_copy && m.faults.fail_copy(dir, o)) why = "injected by fault_plan.fail_copy";
    } catch (const std::exception& e) {
      thrown = std::string("fault_plan.fail_copy threw: ") + e.what();
      why = thrown.c_str();
    } catch (...) {
      why = "fault_plan.fail_copy threw a non-standard exception";
    }
    if (why != nullptr) {
      char msg[256];
      std::snprintf(msg, sizeof msg, "copy op %zu of %zu (%s, %zu bytes, %p -> %p) failed: %s", i + 1,
                    ops.size(), to_string(dir), o.bytes, o.src, o.dst, why);
      record_error(msg);
      continue;  // the destination stays untouched, like a failed DMA
    }
    if (o.bytes != 0) std::memcpy(o.dst, o.src, o.bytes);
    bytes += o.bytes;
  }
  // The model is a lower bound: the memcpy already took part of the time.
  double seconds = m.latency_us * 1e-6;
  if (m.bandwidth_gbps > 0) seconds += static_cast<double>(bytes) / (m.bandwidth_gbps * 1e9);
  try {
    if (m.faults.delay_us) seconds += m.faults.delay_us(dir) * 1e-6;
  } catch (...) {
    record_error("fault_plan.delay_us threw");
  }
  if (seconds > 0) {
    // Interruptible, so a copy that "never completes" does not outlive its stream.
    const auto until = start + std::chrono::duration_cast<clock::duration>(
                                   std::chrono::duration<double>(std::min(seconds, 1e6)));
    std::unique_lock lk(mutex_);
    cancel_cv_.wait_until(lk, until, [&] { return cancel_; });
  }
}

void stream::record_error(const char* what) noexcept {
  std::lock_guard lk(mutex_);
  try {
    if (error_count_ == 0) first_error_ = what;
    if (!failed_since_record_) since_record_ = what;
  } catch (...) {
    // Out of memory for the message: the count alone still fails synchronize.
  }
  ++error_count_;
  failed_since_record_ = true;
}

void stream::pass_failure(completion& c) {
  if (!failed_since_record_) return;
  c.fail(std::move(since_record_));
  since_record_.clear();
  failed_since_record_ = false;
}

}  // namespace umpager::sim::detail
