// Driver-API entry points, CUDA error descriptions and probe().
#include <cuda.h>
#include <cuda_runtime_api.h>

#include <mutex>
#include <new>
#include <string>

#include "cuda/cuda_driver.hpp"
#include "cuda/detail/cuda_try.hpp"
#include "cuda/detail/driver_api.hpp"
#include "cuda/detail/probe.hpp"

namespace umpager::cuda {
namespace detail {
namespace {

struct loaded_api {
  driver_api table;
  std::string error;  // empty when every symbol was found
};

std::string runtime_failure(const char* call, cudaError_t err) {
  const char* what = err == cudaErrorInsufficientDriver ? "no CUDA driver"
                     : err == cudaErrorNoDevice        ? "no CUDA device"
                                                       : "CUDA unavailable";
  return std::string(what) + ": " + call + " returned " + std::to_string(static_cast<int>(err)) + " (" +
         cudaGetErrorString(err) + ")";
}

template <class Fn>
bool resolve(const char* symbol, Fn& fn, std::string& error) {
  void* p = nullptr;
  cudaDriverEntryPointQueryResult query = cudaDriverEntryPointSymbolNotFound;
  const cudaError_t err = cudaGetDriverEntryPointByVersion(symbol, &p, CUDA_VERSION, cudaEnableDefault, &query);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    error = runtime_failure("cudaGetDriverEntryPointByVersion", err);
    return false;
  }
  if (query != cudaDriverEntryPointSuccess || p == nullptr) {
    error = std::string("CUDA driver too old: ") + symbol + " (CUDA " + std::to_string(CUDA_VERSION / 1000) + "." +
            std::to_string(CUDA_VERSION % 1000 / 10) + " ABI) not found" +
            (query == cudaDriverEntryPointVersionNotSufficent ? ": driver version not sufficient" : "");
    return false;
  }
  fn = reinterpret_cast<Fn>(p);
  return true;
}

loaded_api load() {
  loaded_api l;
  driver_api& t = l.table;
  std::string& e = l.error;
  // Short-circuits at the first failure; `e` says which.
  (void)(resolve("cuGetErrorName", t.cuGetErrorName, e) && resolve("cuGetErrorString", t.cuGetErrorString, e) &&
         resolve("cuDeviceGet", t.cuDeviceGet, e) && resolve("cuDeviceGetAttribute", t.cuDeviceGetAttribute, e) &&
         resolve("cuMemGetAllocationGranularity", t.cuMemGetAllocationGranularity, e) &&
         resolve("cuMemCreate", t.cuMemCreate, e) && resolve("cuMemRelease", t.cuMemRelease, e) &&
         resolve("cuMemAddressReserve", t.cuMemAddressReserve, e) &&
         resolve("cuMemAddressFree", t.cuMemAddressFree, e) && resolve("cuMemMap", t.cuMemMap, e) &&
         resolve("cuMemUnmap", t.cuMemUnmap, e) && resolve("cuMemSetAccess", t.cuMemSetAccess, e));
  return l;
}

}  // namespace

const driver_api* load_driver_api(std::string* why) noexcept {
  try {
    static const loaded_api loaded = load();  // thread-safe, once
    if (!loaded.error.empty()) {
      if (why != nullptr) *why = loaded.error;
      return nullptr;
    }
    return &loaded.table;
  } catch (const std::bad_alloc&) {
    if (why != nullptr) why->clear();
    return nullptr;
  }
}

const driver_api& api() {
  std::string why;
  const driver_api* a = load_driver_api(&why);
  if (a == nullptr) throw driver_error(why.empty() ? "CUDA driver API unavailable" : why);
  return *a;
}

std::string describe(cudaError_t err) {
  return std::string(cudaGetErrorName(err)) + " (" + cudaGetErrorString(err) + ")";
}

std::string describe(CUresult res) {
  const char* name = nullptr;
  const char* text = nullptr;
  if (const driver_api* a = load_driver_api(nullptr)) {
    if (a->cuGetErrorName(res, &name) != CUDA_SUCCESS) name = nullptr;
    if (a->cuGetErrorString(res, &text) != CUDA_SUCCESS) text = nullptr;
  }
  std::string s = name != nullptr ? name : "CUresult " + std::to_string(static_cast<int>(res));
  if (text != nullptr) s += std::string(" (") + text + ")";
  return s;
}

std::string failure_message(const std::string& error, const char* expr, const char* file, int line) {
  return std::string(expr) + " failed: " + error + " at " + file + ":" + std::to_string(line);
}

probe_detail probe_device(int device) noexcept {
  probe_detail r;
  try {
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      r.reason = runtime_failure("cudaGetDeviceCount", err);
      return r;
    }
    r.device_count = count;
    if (count == 0) {
      r.reason = "no CUDA device: cudaGetDeviceCount found 0 devices";
      return r;
    }
    if (device < 0 || device >= count) {
      r.bad_device = true;
      r.reason = "CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(count) +
                 " device" + (count == 1 ? "" : "s") + ")";
      return r;
    }
    std::string why;
    const driver_api* a = load_driver_api(&why);
    if (a == nullptr) {
      r.reason = why.empty() ? "CUDA driver API unavailable" : why;
      return r;
    }
    CUdevice dev = 0;
    CUresult res = a->cuDeviceGet(&dev, device);
    if (res != CUDA_SUCCESS) {
      r.reason = "cuDeviceGet(" + std::to_string(device) + ") failed: " + describe(res);
      return r;
    }
    int vmm = 0;
    res = a->cuDeviceGetAttribute(&vmm, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, dev);
    if (res != CUDA_SUCCESS) {
      r.reason = "cuDeviceGetAttribute(VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED) failed: " + describe(res);
      return r;
    }
    if (vmm == 0) {
      r.reason = "CUDA device " + std::to_string(device) + " does not support virtual memory management (cuMemMap)";
      return r;
    }
    r.usable = true;
    return r;
  } catch (...) {  // std::bad_alloc while building a message
    r.usable = false;
    return r;
  }
}

}  // namespace detail

probe_result probe(int device) noexcept {
  detail::probe_detail d = detail::probe_device(device);
  probe_result r;
  r.usable = d.usable;
  r.reason = std::move(d.reason);
  if (!r.usable && r.reason.empty()) {
    try {
      r.reason = "CUDA probe failed";
    } catch (...) {
    }
  }
  return r;
}

}  // namespace umpager::cuda
