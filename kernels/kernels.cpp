// Dispatch of umpager::kernels on the driver's name (see kernels.hpp).
#include "umpager/kernels.hpp"

#include <cstring>
#include <stdexcept>
#include <string>

#include "detail/backends.hpp"
#include "umpager/error.hpp"

namespace umpager::kernels {
namespace {

enum class backend { sim, cuda };

backend pick(const driver& d, const void* data, std::size_t n) {
  UMPAGER_EXPECTS(data != nullptr || n == 0, "umpager::kernels: null data pointer");
  const std::string& name = d.info().name;
  if (name == "sim") return backend::sim;
  if (name == "cuda") {
#ifdef UMPAGER_KERNELS_HAVE_CUDA
    return backend::cuda;
#else
    throw invalid_argument("umpager::kernels: this build has no CUDA kernels (configure with the CUDA toolkit)");
#endif
  }
  throw invalid_argument("umpager::kernels: no kernels for driver \"" + name + "\"");
}

#ifdef UMPAGER_KERNELS_HAVE_CUDA
/// Runs a CUDA entry point; Thrust's launch errors (thrust::system_error) become driver_error.
template <class Fn>
void cuda_call(const char* what, driver& d, stream_handle s, Fn&& fn) {
  void* stream = d.native_stream(s);
  UMPAGER_EXPECTS(stream != nullptr, std::string("umpager::kernels::") + what + ": no CUDA stream for this handle");
  try {
    fn(stream);
  } catch (const std::runtime_error& e) {
    throw driver_error(std::string("umpager::kernels::") + what + " on CUDA: " + e.what());
  }
}
#endif

}  // namespace

void fill_index(driver& d, stream_handle s, std::uint32_t* data, std::size_t n, std::uint32_t seed) {
  const backend b = pick(d, data, n);
  if (n == 0) return;
  if (b == backend::sim) {
    d.launch(s, [=] { detail::omp::fill_index(data, n, seed); });
  } else {
#ifdef UMPAGER_KERNELS_HAVE_CUDA
    cuda_call("fill_index", d, s, [&](void* stream) { detail::cuda::fill_index(stream, data, n, seed); });
#endif
  }
}

void add(driver& d, stream_handle s, std::uint32_t* data, std::size_t n, std::uint32_t delta) {
  const backend b = pick(d, data, n);
  if (n == 0) return;
  if (b == backend::sim) {
    d.launch(s, [=] { detail::omp::add(data, n, delta); });
  } else {
#ifdef UMPAGER_KERNELS_HAVE_CUDA
    cuda_call("add", d, s, [&](void* stream) { detail::cuda::add(stream, data, n, delta); });
#endif
  }
}

bool supports(const char* driver_name) noexcept {
  if (driver_name == nullptr) return false;
  if (std::strcmp(driver_name, "sim") == 0) return true;
#ifdef UMPAGER_KERNELS_HAVE_CUDA
  if (std::strcmp(driver_name, "cuda") == 0) return true;
#endif
  return false;
}

}  // namespace umpager::kernels
