// Thrust algorithms on managed memory: two std::vectors whose storage is umpager
// managed memory (umpager::allocator), filled on the CPU, made resident on the device,
// transformed and reduced there by Thrust, then read on the CPU through the same vector.
// Simulated device: thrust::omp::par in a launch on the runtime's stream. GPU:
// thrust::cuda::par on its native stream (thrust_managed_cuda.cu, built with CUDA).
//
//   thrust_managed [--help] [N]   N: elements per vector (4194304)
#include <thrust/system/omp/execution_policy.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "saxpy.inl"
#include "umpager/allocator.hpp"
#include "umpager/runtime.hpp"

#ifdef SAMPLE_HAVE_CUDA
double saxpy_then_sum_cuda(void* stream, float a, const float* x, float* y, std::size_t n);
#endif

int main(int argc, char** argv) try {
  if (argc > 1 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::printf(
        "thrust_managed: y = 2x + y and the sum of y by Thrust on the device, over two\n"
        "std::vector<float, umpager::allocator<float>> filled and checked on the CPU.\n\n"
        "usage: thrust_managed [--help] [N]   N: elements per vector, 1..2^28 (4194304)\n"
        "environment: UMPAGER_* variables configure the runtime (docs/environment.md).\n"
        "exit status: 0 results right, 1 wrong results or a runtime error, 2 bad usage.\n");
    return 0;
  }
  const long long arg = argc > 1 ? std::atoll(argv[1]) : 1 << 22;
  if (arg < 1 || arg > (1LL << 28)) {
    std::fprintf(stderr, "thrust_managed: N must be 1..2^28, not '%s' (see --help)\n", argv[1]);
    return 2;
  }
  const std::size_t n = static_cast<std::size_t>(arg);

  umpager::runtime rt;  // UMPAGER_* variables
  umpager::allocator<float> alloc(rt);
  std::vector<float, umpager::allocator<float>> x(n, 1.0f, alloc), y(n, 0.0f, alloc);
  for (std::size_t i = 0; i < n; ++i) y[i] = static_cast<float>(i % 100);

  umpager::stream s = rt.create_stream();
  rt.prefetch(x.data(), n * sizeof(float), umpager::location::device, s);
  rt.prefetch(y.data(), n * sizeof(float), umpager::location::device, s);
  const auto* dx = static_cast<const float*>(rt.device_pointer(x.data()));
  auto* dy = static_cast<float*>(rt.device_pointer(y.data()));
  double sum = 0;
  if (rt.device_driver().info().name == "cuda") {
#ifdef SAMPLE_HAVE_CUDA
    sum = saxpy_then_sum_cuda(s.native(), 2.0f, dx, dy, n);
#else
    std::fprintf(stderr, "thrust_managed: built without CUDA; run with UMPAGER_DRIVER=sim\n");
    return 1;
#endif
  } else {
    s.launch([&] { sum = saxpy_then_sum(thrust::omp::par, 2.0f, dx, dy, n); });
  }
  s.synchronize();

  double want = 0;
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const float v = 2.0f + static_cast<float>(i % 100);
    want += v;
    bad += y[i] != v;  // the CPU reads what the device wrote (faults the pages back)
  }
  std::printf("thrust_managed: %zu elements on %s, sum %.0f (expected %.0f), %zu wrong\n", n,
              rt.device_driver().info().name.c_str(), sum, want, bad);
  return bad == 0 && sum == want ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "thrust_managed: %s\n", e.what());
  return 1;
}
