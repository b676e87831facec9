// A small cudaMallocManaged program ported to umpager (the worked port of
// docs/porting.md): each cuda* call renamed to umpager*, and the kernel launch
// replaced by a portable umpager kernel on the device pointer. Runs on a GPU when
// there is one, else on the simulated device.
//
//   uvm_port [--help] [N]      N: array elements (16777216)
#include <cstdio>
#include <cstdlib>
#include <string>

#include "umpager/default_runtime.hpp"
#include "umpager/kernels.hpp"
#include "umpager/uvm.h"

#define CHECK(call)                                                                               \
  do {                                                                                            \
    const umpagerError_t e_ = (call);                                                             \
    if (e_ != umpagerSuccess) {                                                                   \
      std::fprintf(stderr, "%s failed: %s (%s)\n", #call, umpagerGetErrorString(e_),              \
                   umpagerGetLastErrorMessage());                                                 \
      return 1;                                                                                   \
    }                                                                                             \
  } while (0)

int main(int argc, char** argv) {
  if (argc > 1 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::printf(
        "uvm_port: the cudaMallocManaged program of docs/porting.md, ported: fills an array on\n"
        "the CPU, adds 1 on the device, reads it back on the CPU and checks it.\n\n"
        "usage: uvm_port [--help] [N]   N: array elements, 1..2^30 (16777216)\n"
        "environment: UMPAGER_* variables configure the default runtime (docs/environment.md).\n"
        "exit status: 0 every element right, 1 a call failed or an element is wrong, 2 bad usage.\n");
    return 0;
  }
  const long long arg = argc > 1 ? std::atoll(argv[1]) : 1 << 24;
  if (arg < 1 || arg > (1LL << 30)) {
    std::fprintf(stderr, "uvm_port: N must be 1..2^30, not '%s' (see --help)\n", argv[1]);
    return 2;
  }
  const std::size_t n = static_cast<std::size_t>(arg);

  unsigned* a = nullptr;
  CHECK(umpagerMallocManaged(&a, n * sizeof(unsigned)));  // was cudaMallocManaged
  for (std::size_t i = 0; i < n; ++i) a[i] = static_cast<unsigned>(i);
  umpagerStream_t s = nullptr;
  CHECK(umpagerStreamCreate(&s));                                 // was cudaStreamCreate
  CHECK(umpagerMemPrefetchAsync(a, n * sizeof(unsigned), 0, s));  // was cudaMemPrefetchAsync

  // was: add<<<(n + 255) / 256, 256, 0, s>>>(a, n, 1);
  void* d = nullptr;
  CHECK(umpagerHostGetDevicePointer(&d, a, 0));  // == a in single-pointer mode
  try {
    umpager::kernels::add(umpager::default_runtime().device_driver(), umpager::to_stream_view(s).handle(),
                          static_cast<std::uint32_t*>(d), n, 1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kernel: %s\n", e.what());
    return 1;
  }

  CHECK(umpagerMemPrefetchAsync(a, n * sizeof(unsigned), umpagerCpuDeviceId, s));
  CHECK(umpagerStreamSynchronize(s));  // was cudaStreamSynchronize
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) bad += a[i] != static_cast<unsigned>(i + 1);
  CHECK(umpagerStreamDestroy(s));
  CHECK(umpagerFree(a));
  CHECK(umpagerGetLastError());
  std::printf("uvm_port: %zu elements on %s, %zu wrong\n", n,
              umpager::default_runtime().device_driver().info().name.c_str(), bad);
  return bad == 0 ? 0 : 1;
}
