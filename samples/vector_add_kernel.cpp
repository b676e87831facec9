// The device half of vector_add.c: a kernel written once (a functor over an index)
// that runs on the simulated device and, compiled as CUDA, on a GPU. It reaches the
// C program's runtime and stream through umpager/c_interop.hpp.
#include <cstdio>

#include "umpager/c_interop.hpp"
#include "umpager/kernels/portable.hpp"

namespace {

struct add_vectors {
  const float* a;
  const float* b;
  float* c;
  UMPAGER_HOST_DEVICE void operator()(std::size_t i) const { c[i] = a[i] + b[i]; }
};

}  // namespace

extern "C" int vector_add_on_device(umpager_runtime* rt, umpager_stream* stream, const float* a, const float* b,
                                    float* c, size_t n) {
  try {
    umpager::runtime& r = umpager::from_c(rt);
    // Kernels use the device addresses of the managed allocations.
    const add_vectors body{static_cast<const float*>(r.device_pointer(a)), static_cast<const float*>(r.device_pointer(b)),
                           static_cast<float*>(r.device_pointer(c))};
    umpager::kernels::for_each_n(r.device_driver(), umpager::from_c(stream).handle(), n, body);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vector_add_on_device: %s\n", e.what());
    return -1;
  }
}
