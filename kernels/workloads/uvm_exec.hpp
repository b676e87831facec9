// The workloads on cudaMallocManaged (nvcc only): `uvm_hinted` prefetches each
// tile's ranges to the GPU on the tile's stream (what a careful UVM user adds) and
// the CPU phase's ranges back to the host; `uvm` leaves everything to GPU faults.
#pragma once

#if defined(__CUDACC__)
#include <cuda_runtime_api.h>

#include <string>
#include <vector>

#include "executors.hpp"

namespace umpager::kernels::workloads::detail {

class uvm_exec {
 public:
  uvm_exec(bool hinted, int device) : hinted_(hinted), device_(device) {
    check(cudaSetDevice(device), "cudaSetDevice");
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  }
  ~uvm_exec() {
    cudaStreamSynchronize(stream_);
    for (void* p : arrays_) cudaFree(p);
    cudaStreamDestroy(stream_);
  }
  uvm_exec(const uvm_exec&) = delete;
  uvm_exec& operator=(const uvm_exec&) = delete;

  template <class T>
  T* alloc(std::size_t n) {
    void* p = nullptr;
    check(cudaMallocManaged(&p, n * sizeof(T), cudaMemAttachGlobal), "cudaMallocManaged");
    arrays_.push_back(p);
    data_bytes_ += n * sizeof(T);
    std::memset(p, 0, n * sizeof(T));
    return static_cast<T*>(p);
  }
  template <class T>
  T* dev(T* p) const {
    return p;
  }
  /// An accessor over managed memory: its chunk table holds the managed addresses
  /// (UVM migrates the pages behind them), in managed memory too.
  template <class T>
  device_span<T> span(T* host, std::size_t n) {
    constexpr unsigned shift = 21;
    const std::size_t chunks = (n * sizeof(T) + (std::size_t{1} << shift) - 1) >> shift;
    void* t = nullptr;
    check(cudaMallocManaged(&t, chunks * 8, cudaMemAttachGlobal), "cudaMallocManaged (table)");
    arrays_.push_back(t);
    auto* e = static_cast<std::uint64_t*>(t);
    for (std::size_t k = 0; k < chunks; ++k) e[k] = reinterpret_cast<std::uintptr_t>(host) + (k << shift);
    return device_span<T>(e, nullptr, 0, n, shift);
  }
  void start() { watch_.begin(); }
  template <class F>
  void tile(access_span set, std::size_t n, F f) {
    ++launches_;
    if (hinted_) {
      for (const access& a : set) prefetch(a, device_location());
    }
    if (n != 0) kernels::detail::cuda_for_each_n(stream_, n, f, "uvm tile");
  }
  void cpu(access_span set) {
    if (hinted_) {
      cudaMemLocation host{};
      host.type = cudaMemLocationTypeHost;
      for (const access& a : set) prefetch(a, host);
    }
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }
  void cpu_done(access_span /*set*/) {}
  void stop() {
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    watch_.end();
  }
  [[nodiscard]] double seconds() const { return watch_.seconds; }
  [[nodiscard]] std::size_t launches() const { return launches_; }
  [[nodiscard]] std::size_t data_bytes() const { return data_bytes_; }

 private:
  static void check(cudaError_t e, const char* what) {
    if (e != cudaSuccess) throw driver_error(std::string("workloads (uvm): ") + what + ": " + cudaGetErrorString(e));
  }
  [[nodiscard]] cudaMemLocation device_location() const {
    cudaMemLocation loc{};
    loc.type = cudaMemLocationTypeDevice;
    loc.id = device_;
    return loc;
  }
  void prefetch(const access& a, cudaMemLocation where) {
    if (a.bytes != 0) check(cudaMemPrefetchAsync(a.ptr, a.bytes, where, 0, stream_), "cudaMemPrefetchAsync");
  }

  bool hinted_;
  int device_;
  cudaStream_t stream_ = nullptr;
  std::vector<void*> arrays_;
  stopwatch watch_;
  std::size_t launches_ = 0;
  std::size_t data_bytes_ = 0;
};

}  // namespace umpager::kernels::workloads::detail
#endif
