// A driver that forwards every call to another one, counts the calls, and makes the
// Nth call of a chosen method throw a chosen exception (issue 12's exception-safety
// matrix). It also keeps the books a leak check needs: chunks created and destroyed,
// mapped and unmapped. enable_peer is forwarded only when asked: by default it is the
// base class's (false), the driver of a device without peer access.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>

#include "umpager/driver.hpp"
#include "umpager/error.hpp"

namespace umpager::testing {

/// The driver calls that may throw (the others are noexcept teardown).
enum class call {
  reserve, create_chunk, map_chunk, register_host, create_stream, copy_async, launch,
  synchronize_stream, create_event, record, wait, synchronize_event, query, synchronize_device, idle, count_
};
inline constexpr std::size_t kCalls = static_cast<std::size_t>(call::count_);

inline const char* to_string(call c) {
  static constexpr const char* names[] = {"reserve", "create_chunk", "map_chunk", "register_host", "create_stream",
                                          "copy_async", "launch", "synchronize_stream", "create_event", "record",
                                          "wait", "synchronize_event", "query", "synchronize_device", "idle"};
  return names[static_cast<std::size_t>(c)];
}

/// The exceptions injected: the two the interface documents and three it does not.
enum class thrown { driver_error, out_of_memory, invalid_argument, bad_alloc, runtime_error, count_ };
inline constexpr std::size_t kThrown = static_cast<std::size_t>(thrown::count_);

inline const char* to_string(thrown t) {
  static constexpr const char* names[] = {"driver_error", "out_of_memory", "std_invalid_argument", "std_bad_alloc",
                                          "std_runtime_error"};
  return names[static_cast<std::size_t>(t)];
}

[[noreturn]] inline void throw_injected(thrown t, call c) {
  const std::string what = std::string("injected failure of ") + to_string(c);
  switch (t) {
    case thrown::driver_error: throw driver_error(what);
    case thrown::out_of_memory: throw out_of_memory(what);
    case thrown::invalid_argument: throw std::invalid_argument(what);
    case thrown::bad_alloc: throw std::bad_alloc();
    default: throw std::runtime_error(what);
  }
}

class failing_driver final : public driver {
 public:
  explicit failing_driver(std::unique_ptr<driver> inner, bool forward_peer = false)
      : inner_(std::move(inner)), forward_peer_(forward_peer) {}

  /// From now on, the `nth` call (1-based) of `c` throws `t`, once.
  void arm(call c, unsigned nth, thrown t) noexcept {
    target_.store(c);
    what_.store(t);
    fired_.store(false);
    left_.store(static_cast<int>(nth));
  }
  void disarm() noexcept { left_.store(0); }
  /// Decides for every call (any thread) whether it fails, and with what; set before
  /// the driver is used (the stress test's random failures).
  void set_chooser(std::function<bool(call, thrown&)> chooser) { chooser_ = std::move(chooser); }
  [[nodiscard]] bool fired() const noexcept { return fired_.load(); }
  /// Calls of `c` so far (those that threw included).
  [[nodiscard]] unsigned calls(call c) const noexcept { return counts_[static_cast<std::size_t>(c)].load(); }
  void reset_counts() noexcept {
    for (auto& n : counts_) n.store(0);
  }
  /// Physical chunks alive (created, not destroyed) and mapped (mapped, not unmapped).
  [[nodiscard]] long live_chunks() const noexcept { return live_.load(); }
  [[nodiscard]] long mapped_chunks() const noexcept { return mapped_.load(); }

  [[nodiscard]] const driver_info& info() const noexcept override { return inner_->info(); }
  void* reserve(std::size_t bytes) override {
    step(call::reserve);
    return inner_->reserve(bytes);
  }
  void release(void* base, std::size_t bytes) noexcept override { inner_->release(base, bytes); }
  chunk_handle create_chunk() override {
    step(call::create_chunk);
    chunk_handle h = inner_->create_chunk();
    ++live_;
    return h;
  }
  void destroy_chunk(chunk_handle chunk) noexcept override {
    --live_;
    inner_->destroy_chunk(chunk);
  }
  void map_chunk(void* va, chunk_handle chunk) override {
    step(call::map_chunk);
    inner_->map_chunk(va, chunk);
    ++mapped_;
  }
  void unmap_chunk(void* va) noexcept override {
    --mapped_;
    inner_->unmap_chunk(va);
  }
  void register_host(void* host, std::size_t bytes) override {
    step(call::register_host);
    inner_->register_host(host, bytes);
  }
  void unregister_host(void* host, std::size_t bytes) noexcept override { inner_->unregister_host(host, bytes); }
  [[nodiscard]] void* host_address_on_device(void* host) noexcept override {
    return inner_->host_address_on_device(host);
  }
  void* allocate_table(std::size_t bytes) override { return inner_->allocate_table(bytes); }
  void free_table(void* table) noexcept override { inner_->free_table(table); }
  void read_table(void* dst, const void* src, std::size_t bytes) override { inner_->read_table(dst, src, bytes); }
  void write_table(void* dst, const void* src, std::size_t bytes, stream_handle s) override {
    inner_->write_table(dst, src, bytes, s);
  }
  stream_handle create_stream() override {
    step(call::create_stream);
    return inner_->create_stream();
  }
  void destroy_stream(stream_handle s) noexcept override { inner_->destroy_stream(s); }
  [[nodiscard]] void* native_stream(stream_handle s) const noexcept override { return inner_->native_stream(s); }
  void copy_async(umpager::span<const copy_op> ops, copy_direction dir, stream_handle s) override {
    step(call::copy_async);
    inner_->copy_async(ops, dir, s);
  }
  void launch(stream_handle s, std::function<void()> fn) override {
    step(call::launch);
    inner_->launch(s, std::move(fn));
  }
  void synchronize(stream_handle s) override {
    step(call::synchronize_stream);
    inner_->synchronize(s);
  }
  event_handle create_event() override {
    step(call::create_event);
    return inner_->create_event();
  }
  void destroy_event(event_handle e) noexcept override { inner_->destroy_event(e); }
  void record(event_handle e, stream_handle s) override {
    step(call::record);
    inner_->record(e, s);
  }
  void wait(stream_handle s, event_handle e) override {
    step(call::wait);
    inner_->wait(s, e);
  }
  void synchronize(event_handle e) override {
    step(call::synchronize_event);
    inner_->synchronize(e);
  }
  [[nodiscard]] bool query(event_handle e) override {
    step(call::query);
    return inner_->query(e);
  }
  void synchronize_device() override {
    step(call::synchronize_device);
    inner_->synchronize_device();
  }
  [[nodiscard]] bool idle(stream_handle s) override {
    step(call::idle);
    return inner_->idle(s);
  }
  bool enable_peer(driver& other) noexcept override {
    if (!forward_peer_) return driver::enable_peer(other);
    auto* w = dynamic_cast<failing_driver*>(&other);
    return inner_->enable_peer(w != nullptr ? *w->inner_ : other);
  }
  void range_push(const char* name) noexcept override { inner_->range_push(name); }
  void range_pop() noexcept override { inner_->range_pop(); }

 private:
  void step(call c) {
    counts_[static_cast<std::size_t>(c)].fetch_add(1);
    if (thrown t{}; chooser_ && chooser_(c, t)) throw_injected(t, c);
    if (left_.load() <= 0 || target_.load() != c) return;
    if (left_.fetch_sub(1) == 1) {
      fired_.store(true);
      throw_injected(what_.load(), c);
    }
  }

  std::unique_ptr<driver> inner_;
  bool forward_peer_;
  std::function<bool(call, thrown&)> chooser_;
  std::array<std::atomic<unsigned>, kCalls> counts_{};
  std::atomic<call> target_{call::reserve};
  std::atomic<thrown> what_{thrown::driver_error};
  std::atomic<int> left_{0};
  std::atomic<bool> fired_{false};
  std::atomic<long> live_{0};
  std::atomic<long> mapped_{0};
};

}  // namespace umpager::testing
