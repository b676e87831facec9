// Where a workload's arrays live and how its tiles run: the three "executors" the
// workload templates are instantiated with (see workloads.hpp). Each offers
//   alloc<T>(n)        host-visible array of n T (zeroed)
//   dev(p)             the device address of host pointer p, for kernel functors
//   start()            initialisation done: the timed part begins
//   tile(set, n, f)    one launch of f(0..n-1) that touches `set`
//   cpu(set) / cpu_done(set)  around a CPU phase that touches `set` (host pointers)
//   stop()             all device work done: the timed part ends
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <initializer_list>
#include <memory>
#include <span>
#include <thread>
#include <vector>

#include "umpager/kernels/portable.hpp"
#include "umpager/kernels/workloads.hpp"

namespace umpager::kernels::workloads::detail {

using clock = std::chrono::steady_clock;
using access_span = std::span<const access>;
/// A braced list of accesses as a span (C++20 spans do not take braced lists).
inline access_span list(std::initializer_list<access> l) { return {l.begin(), l.size()}; }

/// Finds which of the executor's allocations holds a host pointer.
struct array_table {
  struct entry {
    char* host;
    char* device;
    std::size_t bytes;
  };
  std::vector<entry> entries;

  [[nodiscard]] unsigned index_of(const void* p) const {
    const char* c = static_cast<const char*>(p);
    for (unsigned i = 0; i < entries.size(); ++i) {
      if (c >= entries[i].host && c <= entries[i].host + entries[i].bytes) return i;
    }
    throw invalid_argument("workloads: pointer outside the workload's arrays");
  }
  template <class T>
  [[nodiscard]] T* dev(T* host) const {
    const entry& e = entries[index_of(host)];
    return reinterpret_cast<T*>(e.device + (reinterpret_cast<const char*>(host) - e.host));
  }
};

/// Timing shared by the executors.
struct stopwatch {
  clock::time_point t0{};
  double seconds = 0;
  void begin() { t0 = clock::now(); }
  void end() { seconds = std::chrono::duration<double>(clock::now() - t0).count(); }
};

// ---- umpager managed memory --------------------------------------------------

class managed_exec {
 public:
  ~managed_exec() {
    for (event_handle e : in_flight_) rt_.device_driver().destroy_event(e);
  }
  managed_exec(const managed_exec&) = delete;
  managed_exec& operator=(const managed_exec&) = delete;
  managed_exec(runtime& rt, stream_view s, trace* rec, unsigned in_flight, double sim_kernel_gbps)
      : depth_(std::max(1u, in_flight)),
        kernel_gbps_(sim_kernel_gbps),
        rt_(rt),
        s_(s),
        rec_(rec),
        on_host_(kernels::detail::pick_target(rt.device_driver(), "workloads") == kernels::detail::target::host) {}

  template <class T>
  T* alloc(std::size_t n) {
    buffers_.push_back(rt_.allocate(n * sizeof(T)));
    buffer& b = buffers_.back();
    table_.entries.push_back({b.as<char>(), static_cast<char*>(b.device_data()), n * sizeof(T)});
    if (rec_ != nullptr) rec_->alloc_bytes.push_back(n * sizeof(T));
    data_bytes_ += n * sizeof(T);
    return b.as<T>();
  }
  template <class T>
  T* dev(T* host) const {
    return table_.dev(host);
  }
  /// An accessor over n elements from `host` (runtime::reach).
  template <class T>
  device_span<T> span(T* host, std::size_t n) {
    return rt_.reach(host, n);
  }
  void start() { watch_.begin(); }
  template <class F>
  void tile(access_span set, std::size_t n, F f) {
    record(false, set);
    ++launches_;
    throttle();
    const std::uint64_t before = rec_ != nullptr ? rt_.statistics().bytes_to_device : 0;
    if (!on_host_) {
      launch_n(rt_, s_, set, n, std::move(f));
      mark();
      note_uploaded(before);
      return;
    }
    // What launch_n does on the simulated device, plus the kernel's own run time
    // (the benchmark's overlap figure needs it).
    std::size_t bytes = 0;
    for (const access& a : set) bytes += a.bytes;
    const auto floor = std::chrono::duration_cast<clock::duration>(
        std::chrono::duration<double>(kernel_gbps_ > 0 ? static_cast<double>(bytes) / (kernel_gbps_ * 1e9) : 0.0));
    rt_.launch(
        [n, f = std::move(f), ns = kernel_ns_, floor] {
          const auto t0 = clock::now();
          kernels::detail::host_for_each_n(n, f);
          std::this_thread::sleep_until(t0 + floor);
          ns->fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0).count());
        },
        s_, set);
    mark();
    note_uploaded(before);
  }
  void cpu(access_span set) {
    synchronize();
    record(true, set);
  }
  void cpu_done(access_span /*set*/) {}
  void stop() {
    synchronize();
    watch_.end();
  }
  [[nodiscard]] double seconds() const { return watch_.seconds; }
  [[nodiscard]] std::size_t launches() const { return launches_; }
  [[nodiscard]] std::size_t data_bytes() const { return data_bytes_; }
  /// Time the kernels ran (simulated device only; 0 on a GPU).
  [[nodiscard]] double kernel_seconds() const { return static_cast<double>(kernel_ns_->load()) * 1e-9; }

 private:
  void synchronize() {
    rt_.device_driver().synchronize(s_.handle());
    while (!in_flight_.empty()) retire();
  }
  // At most depth_ launches in flight (params::in_flight). Without a bound the host
  // runs ahead until every resident chunk is pinned by queued launches, and then the
  // only chunks it can evict are the oldest: every policy degenerates to FIFO.
  void throttle() {
    while (in_flight_.size() >= depth_) {
      rt_.device_driver().synchronize(in_flight_.front());
      retire();
    }
  }
  void mark() {
    driver& d = rt_.device_driver();
    in_flight_.push_back(d.create_event());
    d.record(in_flight_.back(), s_.handle());
  }
  void retire() {
    rt_.device_driver().destroy_event(in_flight_.front());
    in_flight_.pop_front();
  }
  void note_uploaded(std::uint64_t before) {
    if (rec_ != nullptr) rec_->steps.back().uploaded = rt_.statistics().bytes_to_device - before;
  }
  void record(bool cpu, access_span set) {
    if (rec_ == nullptr) return;
    trace::step st;
    st.cpu = cpu;
    for (const access& a : set) {
      const unsigned i = table_.index_of(a.ptr);
      st.uses.push_back({i, static_cast<std::size_t>(static_cast<const char*>(a.ptr) - table_.entries[i].host),
                         a.bytes, a.mode});
    }
    rec_->steps.push_back(std::move(st));
  }

  std::size_t depth_;
  double kernel_gbps_;
  runtime& rt_;
  stream_view s_;
  trace* rec_;
  bool on_host_;
  std::shared_ptr<std::atomic<std::int64_t>> kernel_ns_ = std::make_shared<std::atomic<std::int64_t>>(0);
  std::vector<buffer> buffers_;
  std::deque<event_handle> in_flight_;  ///< events recorded after the last launches
  array_table table_;
  stopwatch watch_;
  std::size_t launches_ = 0;
  std::size_t data_bytes_ = 0;
};

// ---- plain device buffers with explicit copies (the baseline) -----------------

class plain_exec {
 public:
  explicit plain_exec(driver& d) : d_(d), s_(d.create_stream()) {}
  ~plain_exec() {
    d_.synchronize(s_);  // nothing may still copy into memory about to be freed
    for (void* t : tables_) d_.free_table(t);
    for (auto& a : arrays_) {
      for (std::size_t off = 0; off < a.chunks.size() * chunk(); off += chunk()) d_.unmap_chunk(a.device + off);
      for (chunk_handle c : a.chunks) d_.destroy_chunk(c);
      if (a.device != nullptr) d_.release(a.device, a.chunks.size() * chunk());
      d_.unregister_host(a.host, a.reserved);
      std::free(a.host);
    }
    d_.destroy_stream(s_);
  }
  plain_exec(const plain_exec&) = delete;
  plain_exec& operator=(const plain_exec&) = delete;

  template <class T>
  T* alloc(std::size_t n) {
    const std::size_t bytes = n * sizeof(T);
    const std::size_t reserved = (bytes + chunk() - 1) / chunk() * chunk();
    array a;
    a.host = static_cast<char*>(std::aligned_alloc(4096, reserved));
    if (a.host == nullptr) throw out_of_memory("workloads: host staging buffer");
    std::memset(a.host, 0, reserved);
    a.bytes = bytes;
    a.reserved = reserved;
    arrays_.push_back(a);  // from here the destructor frees what exists
    array& b = arrays_.back();
    d_.register_host(b.host, reserved);
    b.device = static_cast<char*>(d_.reserve(reserved));
    for (std::size_t off = 0; off < reserved; off += chunk()) {
      b.chunks.push_back(d_.create_chunk());
      d_.map_chunk(b.device + off, b.chunks.back());
    }
    table_.entries.push_back({b.host, b.device, bytes});
    data_bytes_ += bytes;
    return reinterpret_cast<T*>(b.host);
  }
  template <class T>
  T* dev(T* host) const {
    return table_.dev(host);
  }
  /// An accessor over n elements from `host`: every chunk on the device, a table of
  /// its addresses in the driver's table memory.
  template <class T>
  device_span<T> span(T* host, std::size_t n) {
    const std::size_t c = chunk();
    unsigned shift = 0;
    while ((std::size_t{1} << shift) < c) ++shift;
    auto* base = reinterpret_cast<char*>(dev(host));
    const unsigned i = table_.index_of(host);
    const std::size_t first = static_cast<std::size_t>(base - table_.entries[i].device);
    std::vector<std::uint64_t> entries((table_.entries[i].bytes + c - 1) / c);
    for (std::size_t k = 0; k < entries.size(); ++k) {
      entries[k] = reinterpret_cast<std::uintptr_t>(table_.entries[i].device + k * c);
    }
    void* t = d_.allocate_table(entries.size() * 8);
    tables_.push_back(t);
    d_.write_table(t, entries.data(), entries.size() * 8, s_);
    return device_span<T>(static_cast<const std::uint64_t*>(t), nullptr, first, n, shift);
  }
  void start() {
    watch_.begin();
    for (auto& a : arrays_) copy(a.device, a.host, a.bytes, copy_direction::host_to_device);
  }
  template <class F>
  void tile(access_span /*set*/, std::size_t n, F f) {
    ++launches_;
    for_each_n(d_, s_, n, std::move(f));
  }
  void cpu(access_span set) {
    for (const access& a : set) {
      if (a.mode != access_mode::write) copy(dev(a.ptr), a.ptr, a.bytes, copy_direction::device_to_host);
    }
    d_.synchronize(s_);
  }
  void cpu_done(access_span set) {
    for (const access& a : set) {
      if (a.mode != access_mode::read) copy(dev(a.ptr), a.ptr, a.bytes, copy_direction::host_to_device);
    }
  }
  void stop() {
    d_.synchronize(s_);
    watch_.end();
    // Outside the timed part: the check reads the results on the host.
    for (auto& a : arrays_) copy(a.device, a.host, a.bytes, copy_direction::device_to_host);
    d_.synchronize(s_);
  }
  [[nodiscard]] double seconds() const { return watch_.seconds; }
  [[nodiscard]] std::size_t launches() const { return launches_; }
  [[nodiscard]] std::size_t data_bytes() const { return data_bytes_; }

 private:
  struct array {
    char* host = nullptr;
    char* device = nullptr;
    std::size_t bytes = 0, reserved = 0;
    std::vector<chunk_handle> chunks;
  };
  [[nodiscard]] std::size_t chunk() const { return d_.info().chunk_bytes; }
  /// host_to_device: dst is the device side; device_to_host: `dev_side` -> `host_side`.
  void copy(const void* dev_side, const void* host_side, std::size_t bytes, copy_direction dir) {
    if (bytes == 0) return;
    const copy_op op = dir == copy_direction::host_to_device
                           ? copy_op{const_cast<void*>(dev_side), host_side, bytes}
                           : copy_op{const_cast<void*>(host_side), dev_side, bytes};
    d_.copy_async(umpager::span<const copy_op>(&op, 1), dir, s_);
  }

  driver& d_;
  stream_handle s_;
  std::vector<array> arrays_;
  std::vector<void*> tables_;  ///< span()'s chunk tables
  array_table table_;
  stopwatch watch_;
  std::size_t launches_ = 0;
  std::size_t data_bytes_ = 0;
};

}  // namespace umpager::kernels::workloads::detail
