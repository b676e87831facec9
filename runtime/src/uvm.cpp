// The porting layer (umpager/uvm.h): CUDA's managed-memory calls over one default
// runtime. Exceptions become the error code CUDA documents for the same mistake.
#include "umpager/uvm.h"

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "umpager/default_runtime.hpp"

struct umpagerStream_st {
  umpager::stream s;
};

namespace umpager {
namespace {

constexpr std::uintptr_t kPage = 4096;

/// A failure with its porting-layer code (the C++ exceptions map by kind below).
struct uvm_error {
  umpagerError_t code;
  std::string what;
};

/// The default runtime and what the porting layer knows on top of it: the size each
/// allocation was asked for (ranges are checked against it, as CUDA does) and the live
/// streams (so a stale handle is an error, never a dereference).
struct default_state {
  runtime rt{config::from_env()};
  std::mutex mutex;
  std::map<std::uintptr_t, std::size_t> allocations;  // base -> requested bytes
  std::set<umpagerStream_st*> streams;
};

// The one global the design allows. Constant-initialized and trivially destructible,
// so they are valid during static destruction, when calls report CudartUnloading.
constinit std::mutex g_mutex;
constinit default_state* g_state = nullptr;
constinit bool g_exited = false;

void shutdown_at_exit() {
  default_state* s = nullptr;
  {
    std::lock_guard g(g_mutex);
    g_exited = true;
    s = std::exchange(g_state, nullptr);
  }
  if (s == nullptr) return;
  for (umpagerStream_st* st : s->streams) delete st;  // streams use the runtime's driver
  s->streams.clear();
  delete s;
}

/// The default state, created on first use; throws the runtime's own exceptions,
/// and closed_error once the process is exiting.
default_state& state_or_throw() {
  std::lock_guard g(g_mutex);
  if (g_exited) throw closed_error("the default umpager runtime was shut down at exit");
  if (g_state == nullptr) {
    g_state = new default_state();
    std::atexit(shutdown_at_exit);
  }
  return *g_state;
}

/// state_or_throw() for the C calls: failures become their porting-layer codes.
default_state& state() {
  try {
    return state_or_throw();
  } catch (const closed_error& e) {
    throw uvm_error{umpagerErrorCudartUnloading, e.what()};
  } catch (const std::exception& e) {
    throw uvm_error{umpagerErrorInitializationError, std::string("the default umpager runtime could not start: ") + e.what()};
  }
}

thread_local umpagerError_t t_last = umpagerSuccess;
thread_local std::string t_message;

umpagerError_t record(umpagerError_t code, const std::string& what) {
  t_last = code;
  t_message = what;
  return code;
}

template <class Fn>
umpagerError_t guarded(Fn&& fn) noexcept {
  try {
    fn();
    return umpagerSuccess;  // as in CUDA, success leaves the last error alone
  } catch (const uvm_error& e) {
    return record(e.code, e.what);
  } catch (const invalid_argument& e) {
    return record(umpagerErrorInvalidValue, e.what());
  } catch (const out_of_memory& e) {
    return record(umpagerErrorMemoryAllocation, e.what());
  } catch (const unsupported& e) {
    return record(umpagerErrorNotSupported, e.what());
  } catch (const std::bad_alloc&) {
    return record(umpagerErrorMemoryAllocation, "out of host memory");
  } catch (const std::exception& e) {
    return record(umpagerErrorUnknown, e.what());
  } catch (...) {
    return record(umpagerErrorUnknown, "unknown error");
  }
}

[[noreturn]] void fail(umpagerError_t code, const std::string& what) { throw uvm_error{code, what}; }

/// The allocation holding [p, p+count) (count 0: just p): its base and requested size.
std::pair<std::uintptr_t, std::size_t> allocation_of(default_state& st, const void* p, std::size_t count,
                                                     const char* call) {
  if (p == nullptr) fail(umpagerErrorInvalidValue, std::string(call) + ": pointer is null");
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  std::lock_guard g(st.mutex);
  auto it = st.allocations.upper_bound(a);
  if (it == st.allocations.begin() || a >= std::prev(it)->first + std::prev(it)->second) {
    fail(umpagerErrorInvalidValue,
         std::string(call) + ": pointer is not inside memory from umpagerMallocManaged (foreign or freed)");
  }
  --it;
  if (count > it->first + it->second - a) {
    fail(umpagerErrorInvalidValue, std::string(call) + ": range runs past the end of its allocation (" +
                                       std::to_string(it->second) + " bytes)");
  }
  return *it;
}

stream_view stream_of(default_state& st, umpagerStream_t s, const char* call) {
  if (s == nullptr) return {};
  std::lock_guard g(st.mutex);
  if (!st.streams.contains(s)) {
    fail(umpagerErrorInvalidResourceHandle, std::string(call) + ": unknown or destroyed stream");
  }
  return s->s.view();
}

/// umpagerCpuDeviceId, or a device of the runtime.
void check_device(const runtime& rt, int device, const char* call) {
  if (device != umpagerCpuDeviceId && (device < 0 || static_cast<unsigned>(device) >= rt.devices())) {
    fail(umpagerErrorInvalidDevice, std::string(call) + ": device " + std::to_string(device) +
                                        " is neither umpagerCpuDeviceId (-1) nor 0.." + std::to_string(rt.devices() - 1));
  }
}

/// [p, p+count) rounded out to whole pages: the runtime's calls take page ranges, CUDA's
/// any range (the allocation itself is page-aligned and rounded up to its block).
std::pair<const void*, std::size_t> pages_of(const void* p, std::size_t count) {
  const auto first = reinterpret_cast<std::uintptr_t>(p) & ~(kPage - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(p) + count + kPage - 1) & ~(kPage - 1);
  return {reinterpret_cast<const void*>(first), end - first};
}

/// A placement as CUDA reports a location: umpagerCpuDeviceId, a device, or (none)
/// umpagerInvalidDeviceId.
int device_id(const std::optional<placement>& p) {
  if (!p) return umpagerInvalidDeviceId;
  return p->on_host ? umpagerCpuDeviceId : static_cast<int>(p->device);
}

/// umpagerMapFile and umpagerMapFileFd: `map` makes the buffer, which then becomes the
/// porting layer's memory (umpagerFree and the range calls take it, as managed memory).
template <class Map>
umpagerError_t map_file_call(void** devPtr, size_t* size, unsigned flags, const std::string& call, Map&& map) {
  return guarded([&] {
    if (devPtr == nullptr) fail(umpagerErrorInvalidValue, call + ": devPtr is null");
    *devPtr = nullptr;
    if (flags != umpagerMapFileReadOnly && flags != umpagerMapFileReadWrite) {
      fail(umpagerErrorInvalidValue, call + ": flags must be umpagerMapFileReadOnly or umpagerMapFileReadWrite");
    }
    auto& st = state();
    buffer b;
    try {
      b = map(st.rt, flags == umpagerMapFileReadWrite ? file_access::read_write : file_access::read_only);
    } catch (const system_error& e) {
      fail(umpagerErrorInvalidValue, e.what());  // the file or descriptor given (missing, no permission, not open)
    }
    const std::size_t n = b.size();
    std::lock_guard g(st.mutex);
    st.allocations.emplace(reinterpret_cast<std::uintptr_t>(b.data()), n);
    if (size != nullptr) *size = n;
    *devPtr = b.release();
  });
}

}  // namespace

runtime& default_runtime() { return state_or_throw().rt; }

stream_view to_stream_view(umpagerStream_t s) {
  try {
    return stream_of(state_or_throw(), s, "to_stream_view");
  } catch (const uvm_error& e) {
    throw invalid_argument(e.what);
  }
}

}  // namespace umpager

using umpager::fail;
using umpager::guarded;
using umpager::state;

extern "C" {

umpagerError_t umpagerMallocManaged(void** devPtr, size_t size, unsigned int flags) {
  return guarded([&] {
    if (devPtr == nullptr) fail(umpagerErrorInvalidValue, "umpagerMallocManaged: devPtr is null");
    *devPtr = nullptr;
    if (size == 0) fail(umpagerErrorInvalidValue, "umpagerMallocManaged: size is zero");
    if (flags != umpagerMemAttachGlobal && flags != umpagerMemAttachHost) {
      fail(umpagerErrorInvalidValue, "umpagerMallocManaged: flags must be umpagerMemAttachGlobal or umpagerMemAttachHost");
    }
    auto& st = state();
    umpager::buffer b = st.rt.allocate(size);
    if (flags == umpagerMemAttachHost) st.rt.attach(b.data(), umpager::attach_to::host);
    void* p = b.release();
    std::lock_guard g(st.mutex);
    st.allocations.emplace(reinterpret_cast<std::uintptr_t>(p), size);
    *devPtr = p;
  });
}

umpagerError_t umpagerMapFile(void** devPtr, size_t* size, const char* path, unsigned int flags) {
  return umpager::map_file_call(devPtr, size, flags, "umpagerMapFile", [&](umpager::runtime& rt, umpager::file_access a) {
    if (path == nullptr) fail(umpagerErrorInvalidValue, "umpagerMapFile: path is null");
    return rt.map_file(path, a);
  });
}

umpagerError_t umpagerMapFileFd(void** devPtr, size_t* size, int fd, unsigned long long offset, size_t length,
                                unsigned int flags) {
  return umpager::map_file_call(devPtr, size, flags, "umpagerMapFileFd", [&](umpager::runtime& rt, umpager::file_access a) {
    return rt.map_file(fd, a, offset, length);
  });
}

umpagerError_t umpagerFree(void* devPtr) {
  return guarded([&] {
    if (devPtr == nullptr) return;
    auto& st = state();
    {
      std::lock_guard g(st.mutex);
      if (st.allocations.erase(reinterpret_cast<std::uintptr_t>(devPtr)) == 0) {
        fail(umpagerErrorInvalidValue,
             "umpagerFree: pointer is not the start of memory from umpagerMallocManaged (foreign, interior or freed)");
      }
    }
    st.rt.free(devPtr);
  });
}

umpagerError_t umpagerMemPrefetchAsync(const void* devPtr, size_t count, int dstDevice, umpagerStream_t stream) {
  return guarded([&] {
    auto& st = state();
    if (count == 0) fail(umpagerErrorInvalidValue, "umpagerMemPrefetchAsync: count is zero");
    umpager::allocation_of(st, devPtr, count, "umpagerMemPrefetchAsync");
    umpager::check_device(st.rt, dstDevice, "umpagerMemPrefetchAsync");
    const umpager::stream_view view = umpager::stream_of(st, stream, "umpagerMemPrefetchAsync");
    const auto [first, bytes] = umpager::pages_of(devPtr, count);
    const bool host = dstDevice == umpagerCpuDeviceId;
    // Asynchronous on a stream you created, done on return on stream 0: as in CUDA.
    (void)st.rt.prefetch(first, bytes, host ? umpager::location::host : umpager::location::device, view,
                         host ? 0U : static_cast<unsigned>(dstDevice));
  });
}

umpagerError_t umpagerStreamAttachMemAsync(umpagerStream_t stream, void* devPtr, size_t length, unsigned int flags) {
  return guarded([&] {
    auto& st = state();
    const umpager::stream_view view = umpager::stream_of(st, stream, "umpagerStreamAttachMemAsync");
    const auto [base, size] = umpager::allocation_of(st, devPtr, length, "umpagerStreamAttachMemAsync");
    if (length != 0 && (reinterpret_cast<std::uintptr_t>(devPtr) != base || length != size)) {
      fail(umpagerErrorInvalidValue, "umpagerStreamAttachMemAsync: length must be 0 or the whole allocation");
    }
    if (flags != umpagerMemAttachGlobal && flags != umpagerMemAttachHost && flags != umpagerMemAttachSingle) {
      fail(umpagerErrorInvalidValue, "umpagerStreamAttachMemAsync: flags must be umpagerMemAttachGlobal, Host or Single");
    }
    if (flags == umpagerMemAttachSingle && stream == nullptr) {
      fail(umpagerErrorInvalidValue, "umpagerStreamAttachMemAsync: umpagerMemAttachSingle needs a stream, not 0");
    }
    st.rt.attach(devPtr,
                 flags == umpagerMemAttachGlobal ? umpager::attach_to::global
                 : flags == umpagerMemAttachHost ? umpager::attach_to::host
                                                 : umpager::attach_to::single,
                 view);
  });
}

umpagerError_t umpagerMemAdvise(const void* devPtr, size_t count, umpagerMemoryAdvise advice, int device) {
  return guarded([&] {
    auto& st = state();
    if (count == 0) fail(umpagerErrorInvalidValue, "umpagerMemAdvise: count is zero");
    umpager::allocation_of(st, devPtr, count, "umpagerMemAdvise");
    if (advice < umpagerMemAdviseSetReadMostly || advice > umpagerMemAdviseUnsetAccessedBy) {
      fail(umpagerErrorInvalidValue, "umpagerMemAdvise: unknown advice " + std::to_string(static_cast<int>(advice)));
    }
    // As in CUDA, the device matters (and is checked) only for these three.
    if (advice == umpagerMemAdviseSetPreferredLocation || advice == umpagerMemAdviseSetAccessedBy ||
        advice == umpagerMemAdviseUnsetAccessedBy) {
      umpager::check_device(st.rt, device, "umpagerMemAdvise");
    }
    static constexpr umpager::advice kAdvice[] = {
        umpager::advice::set_read_mostly,        umpager::advice::unset_read_mostly,
        umpager::advice::set_preferred_location, umpager::advice::unset_preferred_location,
        umpager::advice::set_accessed_by,        umpager::advice::unset_accessed_by};
    const auto [first, bytes] = umpager::pages_of(devPtr, count);
    const bool host = device == umpagerCpuDeviceId;
    st.rt.advise(first, bytes, kAdvice[advice - umpagerMemAdviseSetReadMostly],
                 host ? umpager::location::host : umpager::location::device, host ? 0U : static_cast<unsigned>(device));
  });
}

umpagerError_t umpagerMemRangeGetAttribute(void* data, size_t dataSize, umpagerMemRangeAttribute attribute,
                                           const void* devPtr, size_t count) {
  return guarded([&] {
    auto& st = state();
    if (data == nullptr) fail(umpagerErrorInvalidValue, "umpagerMemRangeGetAttribute: data is null");
    if (attribute < umpagerMemRangeAttributeReadMostly || attribute > umpagerMemRangeAttributeLastPrefetchLocation) {
      fail(umpagerErrorInvalidValue,
           "umpagerMemRangeGetAttribute: unknown attribute " + std::to_string(static_cast<int>(attribute)));
    }
    const bool list = attribute == umpagerMemRangeAttributeAccessedBy;
    if (list ? (dataSize == 0 || dataSize % sizeof(int) != 0) : dataSize != sizeof(int)) {
      fail(umpagerErrorInvalidValue, "umpagerMemRangeGetAttribute: dataSize must be 4 (a multiple of 4 for AccessedBy)");
    }
    if (count == 0) fail(umpagerErrorInvalidValue, "umpagerMemRangeGetAttribute: count is zero");
    umpager::allocation_of(st, devPtr, count, "umpagerMemRangeGetAttribute");
    const auto [first, bytes] = umpager::pages_of(devPtr, count);
    const umpager::range_info info = st.rt.query(first, bytes);
    int* out = static_cast<int*>(data);
    switch (attribute) {
      case umpagerMemRangeAttributeReadMostly: *out = info.read_mostly ? 1 : 0; break;
      case umpagerMemRangeAttributePreferredLocation: *out = umpager::device_id(info.preferred_location); break;
      case umpagerMemRangeAttributeLastPrefetchLocation: *out = umpager::device_id(info.last_prefetch); break;
      case umpagerMemRangeAttributeAccessedBy:  // as CUDA: the devices, then umpagerInvalidDeviceId
        for (std::size_t i = 0; i < dataSize / sizeof(int); ++i) {
          out[i] = i < info.accessed_by.size() ? static_cast<int>(info.accessed_by[i]) : umpagerInvalidDeviceId;
        }
        break;
    }
  });
}

umpagerError_t umpagerHostGetDevicePointer(void** pDevice, void* pHost, unsigned int flags) {
  return guarded([&] {
    if (pDevice == nullptr) fail(umpagerErrorInvalidValue, "umpagerHostGetDevicePointer: pDevice is null");
    if (flags != 0) fail(umpagerErrorInvalidValue, "umpagerHostGetDevicePointer: flags must be 0");
    auto& st = state();
    umpager::allocation_of(st, pHost, 0, "umpagerHostGetDevicePointer");
    *pDevice = st.rt.device_pointer(pHost);
  });
}

umpagerError_t umpagerStreamCreate(umpagerStream_t* pStream) {
  return guarded([&] {
    if (pStream == nullptr) fail(umpagerErrorInvalidValue, "umpagerStreamCreate: pStream is null");
    auto& st = state();
    auto s = std::make_unique<umpagerStream_st>(umpagerStream_st{st.rt.create_stream()});
    std::lock_guard g(st.mutex);
    st.streams.insert(s.get());
    *pStream = s.release();
  });
}

umpagerError_t umpagerStreamDestroy(umpagerStream_t stream) {
  return guarded([&] {
    auto& st = state();
    {
      std::lock_guard g(st.mutex);
      if (stream == nullptr || st.streams.erase(stream) == 0) {
        fail(umpagerErrorInvalidResourceHandle, "umpagerStreamDestroy: unknown or destroyed stream");
      }
    }
    delete stream;
  });
}

umpagerError_t umpagerStreamSynchronize(umpagerStream_t stream) {
  return guarded([&] {
    auto& st = state();
    const umpager::stream_view v = umpager::stream_of(st, stream, "umpagerStreamSynchronize");
    if (v.is_default()) st.rt.synchronize();
    else v.owner()->synchronize(v.handle());
  });
}

umpagerError_t umpagerDeviceSynchronize(void) {
  return guarded([&] {
    state().rt.device_synchronize();  // every stream, the application's included
  });
}

umpagerError_t umpagerGetDeviceCount(int* count) {
  return guarded([&] {
    if (count == nullptr) fail(umpagerErrorInvalidValue, "umpagerGetDeviceCount: count is null");
    *count = static_cast<int>(state().rt.devices());
  });
}

umpagerError_t umpagerGetLastError(void) { return std::exchange(umpager::t_last, umpagerSuccess); }

umpagerError_t umpagerPeekAtLastError(void) { return umpager::t_last; }

const char* umpagerGetLastErrorMessage(void) { return umpager::t_message.c_str(); }

const char* umpagerGetErrorString(umpagerError_t error) {
  switch (error) {  // CUDA's texts for the same codes
    case umpagerSuccess: return "no error";
    case umpagerErrorInvalidValue: return "invalid argument";
    case umpagerErrorMemoryAllocation: return "out of memory";
    case umpagerErrorInitializationError: return "initialization error";
    case umpagerErrorCudartUnloading: return "driver shutting down";
    case umpagerErrorInvalidDevice: return "invalid device ordinal";
    case umpagerErrorInvalidResourceHandle: return "invalid resource handle";
    case umpagerErrorNotSupported: return "operation not supported";
    case umpagerErrorUnknown: return "unknown error";
  }
  return "unrecognized error code";
}

const char* umpagerGetErrorName(umpagerError_t error) {
  switch (error) {
    case umpagerSuccess: return "umpagerSuccess";
    case umpagerErrorInvalidValue: return "umpagerErrorInvalidValue";
    case umpagerErrorMemoryAllocation: return "umpagerErrorMemoryAllocation";
    case umpagerErrorInitializationError: return "umpagerErrorInitializationError";
    case umpagerErrorCudartUnloading: return "umpagerErrorCudartUnloading";
    case umpagerErrorInvalidDevice: return "umpagerErrorInvalidDevice";
    case umpagerErrorInvalidResourceHandle: return "umpagerErrorInvalidResourceHandle";
    case umpagerErrorNotSupported: return "umpagerErrorNotSupported";
    case umpagerErrorUnknown: return "umpagerErrorUnknown";
  }
  return "unrecognized error code";
}

}  // extern "C"
