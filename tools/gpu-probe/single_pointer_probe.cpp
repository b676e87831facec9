// umpager-single-pointer-probe: what the CUDA driver does when a host mapping is
// placed over device VA it reserved (single-pointer mode, docs/gpu-results.md).
// Prints one line per step and /proc/self/maps around the range; exit 0 when the
// mode works (device copies and CPU reads both right through one address), 1 if
// a step failed, 3 without a usable GPU.
#include <cuda.h>
#include <cuda_runtime_api.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cuda/cuda_driver.hpp"
#include "cuda/detail/driver_api.hpp"
#include "os/memfd.hpp"

namespace {

constexpr std::size_t kChunk = std::size_t{2} << 20;
constexpr std::size_t kBytes = 4 * kChunk;
int failures = 0;

void step(const char* what, bool ok, const std::string& detail = {}) {
  std::printf("%-52s %s%s%s\n", what, ok ? "ok" : "FAILED", detail.empty() ? "" : ": ", detail.c_str());
  if (!ok) ++failures;
}

std::string maps_at(const void* base, std::size_t bytes) {
  const auto lo = reinterpret_cast<std::uintptr_t>(base), hi = lo + bytes;
  std::FILE* f = std::fopen("/proc/self/maps", "r");
  std::string out;
  char line[512];
  while (f != nullptr && std::fgets(line, sizeof(line), f) != nullptr) {
    unsigned long a = 0, b = 0;
    if (std::sscanf(line, "%lx-%lx", &a, &b) == 2 && a < hi && b > lo) out += std::string("    ") + line;
  }
  if (f != nullptr) std::fclose(f);
  return out.empty() ? "    (nothing mapped)\n" : out;
}

std::string cu(CUresult r) { return r == CUDA_SUCCESS ? "" : "CUresult " + std::to_string(static_cast<int>(r)); }
std::string rt(cudaError_t e) { return e == cudaSuccess ? "" : cudaGetErrorString(e); }

}  // namespace

int main() {
  using namespace umpager;
  const cuda::probe_result pr = cuda::probe(0);
  if (!pr.usable) {
    std::printf("no usable GPU: %s\n", pr.reason.c_str());
    return 3;
  }
  const auto& api = cuda::detail::api();
  (void)cudaFree(nullptr);
  CUdevice dev = 0;
  (void)api.cuDeviceGet(&dev, 0);

  // 1. Device VA first: does the driver hold the same host VA?
  CUdeviceptr va = 0;
  CUresult r = api.cuMemAddressReserve(&va, kBytes, kChunk, 0, 0);
  step("cuMemAddressReserve", r == CUDA_SUCCESS, cu(r));
  if (r != CUDA_SUCCESS) return 1;
  auto* p = reinterpret_cast<std::byte*>(static_cast<std::uintptr_t>(va));
  std::printf("  reserved %p; /proc/self/maps there:\n%s", static_cast<void*>(p), maps_at(p, kBytes).c_str());

  // 2. The host view over it, as region does in single-pointer mode.
  os::unique_fd fd = os::make_memfd("probe", kBytes);
  void* view = ::mmap(p, kBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd.get(), 0);
  step("mmap(MAP_FIXED) host view at the device VA", view == p, view == MAP_FAILED ? std::strerror(errno) : "");
  void* alias = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  auto* a = static_cast<std::uint32_t*>(alias);
  for (std::size_t i = 0; i < kBytes / 4; ++i) a[i] = static_cast<std::uint32_t>(i);
  cudaError_t e = cudaHostRegister(alias, kBytes, cudaHostRegisterDefault);
  step("cudaHostRegister(alias view)", e == cudaSuccess, rt(e));

  // 3. A physical chunk mapped at the same VA, then copies and a memset through it.
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = dev;
  CUmemGenericAllocationHandle h{};
  r = api.cuMemCreate(&h, kChunk, &prop, 0);
  step("cuMemCreate", r == CUDA_SUCCESS, cu(r));
  r = api.cuMemMap(va, kChunk, 0, h, 0);
  step("cuMemMap at the VA under the host view", r == CUDA_SUCCESS, cu(r));
  CUmemAccessDesc acc{};
  acc.location = prop.location;
  acc.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  r = api.cuMemSetAccess(va, kChunk, &acc, 1);
  step("cuMemSetAccess", r == CUDA_SUCCESS, cu(r));
  std::printf("  after the mappings:\n%s", maps_at(p, kBytes).c_str());

  cudaPointerAttributes attr{};
  e = cudaPointerGetAttributes(&attr, p);
  step("cudaPointerGetAttributes(the one pointer)", e == cudaSuccess,
       e == cudaSuccess ? "type " + std::to_string(static_cast<int>(attr.type)) + " (2 = device)" : rt(e));
  (void)cudaGetLastError();

  e = cudaMemcpy(p, alias, kChunk, cudaMemcpyHostToDevice);
  step("cudaMemcpy H2D into the one pointer", e == cudaSuccess, rt(e));
  e = cudaMemset(p, 0xAB, 4096);  // a device-side write through the one pointer
  step("cudaMemset on the one pointer (device write)", e == cudaSuccess, rt(e));
  std::vector<std::uint32_t> back(kChunk / 4);
  e = cudaMemcpy(back.data(), p, kChunk, cudaMemcpyDeviceToHost);
  step("cudaMemcpy D2H from the one pointer", e == cudaSuccess, rt(e));
  bool dev_ok = back[0] == 0xABABABABu && back[1024] == 1024u && back[kChunk / 4 - 1] == kChunk / 4 - 1;
  step("device copy holds memset page + uploaded data", dev_ok,
       "word0 " + std::to_string(back[0]) + " word1024 " + std::to_string(back[1024]));
  const auto* u = reinterpret_cast<const std::uint32_t*>(p);
  step("CPU read through the one pointer sees the host view", u[0] == 0 && u[1024] == 1024,
       "word0 " + std::to_string(u[0]));

  // 4. Teardown as region does it: PROT_NONE back, then the VA to the driver.
  (void)api.cuMemUnmap(va, kChunk);
  (void)api.cuMemRelease(h);
  (void)::mmap(p, kBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  r = api.cuMemAddressFree(va, kBytes);
  step("cuMemAddressFree after PROT_NONE put back", r == CUDA_SUCCESS, cu(r));
  std::printf("  after free:\n%s", maps_at(p, kBytes).c_str());
  (void)cudaHostUnregister(alias);
  ::munmap(alias, kBytes);

  // 5. The other order: host first, then ask for device VA at that address.
  void* q = ::mmap(nullptr, kBytes + kChunk, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  auto want = (reinterpret_cast<std::uintptr_t>(q) + kChunk - 1) / kChunk * kChunk;
  CUdeviceptr got = 0;
  r = api.cuMemAddressReserve(&got, kBytes, kChunk, static_cast<CUdeviceptr>(want), 0);
  std::printf("%-52s %s\n", "host first, cuMemAddressReserve(addr=host)",
              r != CUDA_SUCCESS ? cu(r).c_str() : got == want ? "got the host address" : "got another address");
  if (r == CUDA_SUCCESS) (void)api.cuMemAddressFree(got, kBytes);
  ::munmap(q, kBytes + kChunk);

  std::printf("single-pointer probe: %s\n", failures == 0 ? "WORKS" : "FAILED");
  return failures == 0 ? 0 : 1;
}
