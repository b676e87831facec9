// CUDA baselines of `umpager-bench scan` (docs/bench.md): cudart API calls only,
// compiled by the host compiler against the toolkit's headers and linked with
// CUDA::cudart_static, never libcuda. Without UMPAGER_HAVE_CUDA the functions
// are stubs and nothing CUDA is referenced.
#include "cuda_baselines.hpp"

#include "scan.hpp"

#ifdef UMPAGER_HAVE_CUDA
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>

#include "cuda/cuda_driver.hpp"
#include "umpager/config.hpp"
#endif

namespace umpager::bench {

#ifndef UMPAGER_HAVE_CUDA

bool cuda_baselines_built() noexcept { return false; }
bool cuda_driver_chosen() { return false; }
std::optional<cuda_result> run_cuda_baselines(const touch_plan&, access, std::uint64_t) { return std::nullopt; }

#else

namespace {

using steady = std::chrono::steady_clock;

constexpr int kDevice = 0;  // the device the runtime's CUDA driver uses by default
// Left free on the device beside a baseline's allocation: the CUDA context and
// whatever else the card holds must not be pushed out (never oversubscribe).
constexpr std::size_t kDeviceHeadroom = std::size_t{256} << 20;
constexpr int kTimedCopies = 3;

// A failed call: record "what: call returned N (text)" in `note`, clear the
// sticky error state, return false.
bool ok(cudaError_t err, const char* what, const char* call, std::string& note) {
  if (err == cudaSuccess) return true;
  (void)cudaGetLastError();
  if (!note.empty()) note += "; ";
  note += std::string(what) + ": " + call + " returned " + std::to_string(static_cast<int>(err)) + " (" +
          cudaGetErrorString(err) + ")";
  return false;
}

void skip(const char* what, const std::string& why, std::string& note) {
  if (!note.empty()) note += "; ";
  note += std::string(what) + " skipped: " + why;
}

// Whether `bytes` more fit in the device's free memory with the headroom left.
bool fits(std::size_t bytes, const char* what, std::string& note) {
  std::size_t free_b = 0;
  std::size_t total_b = 0;
  if (!ok(cudaMemGetInfo(&free_b, &total_b), what, "cudaMemGetInfo", note)) return false;
  if (bytes + kDeviceHeadroom > free_b) {
    skip(what,
         std::to_string(bytes >> 20) + " MiB + " + std::to_string(kDeviceHeadroom >> 20) +
             " MiB headroom do not fit in the device's " + std::to_string(free_b >> 20) + " MiB free (of " +
             std::to_string(total_b >> 20) + " MiB)",
         note);
    return false;
  }
  return true;
}

template <class Free>
struct guard {
  void* p = nullptr;
  Free release;
  explicit guard(Free f) : release(f) {}
  ~guard() {
    if (p != nullptr) (void)release(p);
  }
  guard(const guard&) = delete;
  guard& operator=(const guard&) = delete;
};

std::optional<double> pinned_d2h(std::size_t bytes, std::string& note) {
  constexpr const char* what = "pinned D2H";
  if (!fits(bytes, what, note)) return std::nullopt;
  guard dev(cudaFree);
  guard host(cudaFreeHost);
  if (!ok(cudaMalloc(&dev.p, bytes), what, "cudaMalloc", note)) return std::nullopt;
  if (!ok(cudaMemset(dev.p, 0x5a, bytes), what, "cudaMemset", note)) return std::nullopt;
  if (!ok(cudaMallocHost(&host.p, bytes), what, "cudaMallocHost", note)) return std::nullopt;
  if (!ok(cudaDeviceSynchronize(), what, "cudaDeviceSynchronize", note)) return std::nullopt;
  // Warm once: first-use costs (page tables, copy engine set-up) are not the bandwidth.
  if (!ok(cudaMemcpy(host.p, dev.p, bytes, cudaMemcpyDeviceToHost), what, "cudaMemcpy", note)) return std::nullopt;
  double best = 0;
  for (int i = 0; i < kTimedCopies; ++i) {
    // cudaMemcpy into pinned memory returns once the copy is done; the sync makes sure.
    const auto t0 = steady::now();
    if (!ok(cudaMemcpy(host.p, dev.p, bytes, cudaMemcpyDeviceToHost), what, "cudaMemcpy", note)) return std::nullopt;
    if (!ok(cudaDeviceSynchronize(), what, "cudaDeviceSynchronize", note)) return std::nullopt;
    const double s = std::chrono::duration<double>(steady::now() - t0).count();
    best = i == 0 ? s : std::min(best, s);
  }
  const auto* h = static_cast<const unsigned char*>(host.p);
  if (h[0] != 0x5a || h[bytes - 1] != 0x5a) {
    skip(what, "the copied bytes are not what the device held", note);
    return std::nullopt;
  }
  return best;
}

std::optional<touch_result> uvm_pass(const touch_plan& plan, access a, std::uint64_t seed, std::string& note) {
  constexpr const char* what = "UVM scan";
  const std::size_t bytes = plan.bytes();
  int concurrent = 0;
  if (!ok(cudaDeviceGetAttribute(&concurrent, cudaDevAttrConcurrentManagedAccess, kDevice), what,
          "cudaDeviceGetAttribute(cudaDevAttrConcurrentManagedAccess)", note)) {
    return std::nullopt;
  }
  if (concurrent == 0) {
    skip(what, "the device has no concurrent managed access, so managed memory cannot be prefetched to it", note);
    return std::nullopt;
  }
  if (!fits(bytes, what, note)) return std::nullopt;
  guard managed(cudaFree);
  if (!ok(cudaMallocManaged(&managed.p, bytes, cudaMemAttachGlobal), what, "cudaMallocManaged", note)) {
    return std::nullopt;
  }
  auto* base = static_cast<std::byte*>(managed.p);
  // The umpager pass's data and salts (scan.cpp), written by the CPU (first touch),
  // then moved to the device.
  const std::uint64_t fill_salt = seed;
  const std::uint64_t write_salt = seed + 0x9e37;
  fill_pattern(base, plan.pages(), fill_salt);
  cudaMemLocation loc{};
  loc.type = cudaMemLocationTypeDevice;
  loc.id = kDevice;
  if (!ok(cudaMemPrefetchAsync(managed.p, bytes, loc, 0, nullptr), what, "cudaMemPrefetchAsync", note)) {
    return std::nullopt;
  }
  if (!ok(cudaDeviceSynchronize(), what, "cudaDeviceSynchronize", note)) return std::nullopt;

  touch_result r = touch_pass(base, plan, a, write_salt);
  if (a == access::read && r.sum != touched_sum(plan, fill_salt)) {
    throw data_error("UVM baseline read wrong data: sum " + std::to_string(r.sum) + ", expected " +
                     std::to_string(touched_sum(plan, fill_salt)));
  }
  return r;
}

}  // namespace

bool cuda_baselines_built() noexcept { return true; }

bool cuda_driver_chosen() {
  if (config::from_env().driver == driver_kind::sim) return false;
  return cuda::probe(kDevice).usable;
}

std::optional<cuda_result> run_cuda_baselines(const touch_plan& plan, access a, std::uint64_t seed) {
  cuda_result r;
  int count = 0;
  if (!ok(cudaGetDeviceCount(&count), "CUDA baselines", "cudaGetDeviceCount", r.note)) return r;
  if (count <= kDevice) {
    skip("CUDA baselines", "no CUDA device " + std::to_string(kDevice), r.note);
    return r;
  }
  if (!ok(cudaSetDevice(kDevice), "CUDA baselines", "cudaSetDevice", r.note)) return r;
  r.pinned_d2h_seconds = pinned_d2h(plan.bytes(), r.note);
  r.uvm = uvm_pass(plan, a, seed, r.note);
  return r;
}

#endif  // UMPAGER_HAVE_CUDA

}  // namespace umpager::bench
