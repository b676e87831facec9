// The device driver interface: what an accelerator backend provides to the
// runtime. Implemented by drivers/sim (always) and drivers/cuda (with a GPU).
// Every call that can fail throws an umpager exception (driver_error,
// out_of_memory); calls marked noexcept are teardown and never fail loudly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "umpager/error.hpp"
#include "umpager/span.hpp"

namespace umpager {

enum class copy_direction { host_to_device, device_to_host, device_to_device };

/// One contiguous copy; a batch of them is one driver call.
struct copy_op {
  void* dst;
  const void* src;
  std::size_t bytes;
};

/// Opaque handles; each driver gives them meaning.
struct stream_handle {
  void* impl = nullptr;
};
struct event_handle {
  void* impl = nullptr;
};
struct chunk_handle {
  std::uint64_t id = ~std::uint64_t{0};
  [[nodiscard]] bool valid() const noexcept { return id != ~std::uint64_t{0}; }
};

struct driver_info {
  std::string name;          ///< "sim" or "cuda"
  std::string device_name;   ///< e.g. "simulated device", "NVIDIA H100 80GB HBM3"
  std::size_t chunk_bytes;   ///< granularity of physical chunks, normally 2 MiB
  std::size_t memory_bytes;  ///< device memory the runtime may use, a multiple of chunk_bytes
  std::string local_cpus;    ///< hwloc list string of CPUs near the device ("" = whole machine)
  /// A host mapping may be placed (MAP_FIXED) over a reserved device VA range while
  /// the device keeps using that range: single-pointer mode (config::single_pointer).
  bool host_at_device_va = false;
};

class driver {
 public:
  virtual ~driver() = default;
  driver() = default;
  driver(const driver&) = delete;
  driver& operator=(const driver&) = delete;

  [[nodiscard]] virtual const driver_info& info() const noexcept = 0;

  // --- device address space -------------------------------------------------
  /// Reserves `bytes` (a multiple of chunk_bytes) of device VA; nothing is backed yet.
  virtual void* reserve(std::size_t bytes) = 0;
  virtual void release(void* base, std::size_t bytes) noexcept = 0;
  /// One physical chunk of chunk_bytes; throws out_of_memory past memory_bytes.
  virtual chunk_handle create_chunk() = 0;
  virtual void destroy_chunk(chunk_handle chunk) noexcept = 0;
  /// Maps `chunk` at `va` (chunk-aligned, inside a reserved range), read-write for the device.
  virtual void map_chunk(void* va, chunk_handle chunk) = 0;
  /// Unmaps the chunk at `va`; device access there is then an illegal address.
  virtual void unmap_chunk(void* va) noexcept = 0;

  // --- host memory used by copies (the alias view) ---------------------------
  virtual void register_host(void* host, std::size_t bytes) = 0;
  virtual void unregister_host(void* host, std::size_t bytes) noexcept = 0;

  // --- kernels reaching host memory (zero-copy) -------------------------------
  /// The address a kernel on this device uses for the registered host byte `host`
  /// (cudaHostGetDevicePointer, or `host` itself where the device uses host
  /// pointers; the simulated device: `host`). Null where it cannot reach host memory.
  [[nodiscard]] virtual void* host_address_on_device(void* host) noexcept {
    (void)host;
    return nullptr;
  }
  /// Device memory of `bytes` for the runtime's own small tables (cudaMalloc); the
  /// default is host memory, which only a device that reaches host pointers can use.
  virtual void* allocate_table(std::size_t bytes) {
    UMPAGER_EXPECTS(bytes > 0, "allocate_table: zero bytes");
    void* p = std::calloc(1, bytes);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  virtual void free_table(void* table) noexcept { std::free(table); }
  /// Reads `bytes` of a table at `src` into `dst` now (counters kernels update). The
  /// default (host memory that kernels update meanwhile) reads word by word, atomically.
  virtual void read_table(void* dst, const void* src, std::size_t bytes) { copy_words(dst, src, bytes); }
  /// Writes `bytes` from `src` into a table at `dst` in stream order: kernels enqueued
  /// on `s` later read them. `src` may be reused as soon as the call returns. The
  /// default (host memory) has the stream itself write them.
  virtual void write_table(void* dst, const void* src, std::size_t bytes, stream_handle s) {
    if (bytes == 0) return;
    const auto* from = static_cast<const std::byte*>(src);
    auto copy = std::make_shared<std::vector<std::byte>>(from, from + bytes);
    // Word by word, atomically: kernels of other streams read the entries beside.
    launch(s, [dst, copy] { copy_words(dst, copy->data(), copy->size()); });
  }

 protected:
  /// Copies 8- or 4-byte words with relaxed atomic loads and stores (tables in host
  /// memory are read and written by kernels and by the runtime at once); else memcpy.
  static void copy_words(void* dst, const void* src, std::size_t bytes) noexcept {
    const auto aligned = [&](std::size_t w) {
      return bytes % w == 0 && reinterpret_cast<std::uintptr_t>(dst) % w == 0 &&
             reinterpret_cast<std::uintptr_t>(src) % w == 0;
    };
    if (aligned(8)) {
      copy_as<std::uint64_t>(dst, src, bytes / 8);
    } else if (aligned(4)) {
      copy_as<std::uint32_t>(dst, src, bytes / 4);
    } else {
      std::memcpy(dst, src, bytes);
    }
  }
  template <class W>
  static void copy_as(void* dst, const void* src, std::size_t n) noexcept {
    auto* d = static_cast<W*>(dst);
    const auto* s = static_cast<const W*>(src);
    for (std::size_t i = 0; i < n; ++i) __atomic_store_n(d + i, __atomic_load_n(s + i, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
  }

 public:

  // --- streams and events ---------------------------------------------------
  virtual stream_handle create_stream() = 0;
  virtual void destroy_stream(stream_handle s) noexcept = 0;
  /// The native stream (cudaStream_t for CUDA), or null for the simulated device.
  [[nodiscard]] virtual void* native_stream(stream_handle s) const noexcept = 0;
  /// Enqueues copies in stream order. Errors surface at the next synchronize.
  virtual void copy_async(umpager::span<const copy_op> ops, copy_direction dir, stream_handle s) = 0;
  /// Enqueues `fn` in stream order: a kernel on the simulated device (it may use
  /// device pointers), a host function on CUDA (it must not call CUDA).
  virtual void launch(stream_handle s, std::function<void()> fn) = 0;
  /// Waits for everything enqueued on `s`; throws driver_error if any of it failed.
  virtual void synchronize(stream_handle s) = 0;
  /// Waits for every stream of this device (cudaDeviceSynchronize), the runtime's and
  /// the application's; throws driver_error if any of their work failed.
  virtual void synchronize_device() {
    throw driver_error("the " + info().name + " driver cannot wait for all of its streams");
  }

  /// True when everything enqueued on `s` so far has completed (cudaStreamQuery).
  /// The default records and queries a temporary event.
  [[nodiscard]] virtual bool idle(stream_handle s) {
    const event_handle e = create_event();
    bool done = false;
    try {
      record(e, s);
      done = query(e);
    } catch (...) {
      destroy_event(e);
      throw;
    }
    destroy_event(e);
    return done;
  }

  virtual event_handle create_event() = 0;
  virtual void destroy_event(event_handle e) noexcept = 0;
  virtual void record(event_handle e, stream_handle s) = 0;
  /// Makes later work on `s` wait for `e`.
  virtual void wait(stream_handle s, event_handle e) = 0;
  /// Waits until the stream passed `e`. Throws driver_error if work before it on that
  /// stream failed, as far as the driver can tell (cudaEventSynchronize reports the
  /// context's asynchronous errors; the simulated device the failures since the
  /// stream's previous record).
  virtual void synchronize(event_handle e) = 0;
  [[nodiscard]] virtual bool query(event_handle e) = 0;

  // --- several devices -------------------------------------------------------
  /// Lets device-to-device copies on this driver's streams read `other`'s device
  /// memory (a peer copy). Returns false where it cannot; the runtime then moves
  /// data between the two devices through the host.
  virtual bool enable_peer(driver& other) noexcept {
    (void)other;
    return false;
  }

  // --- profiler timeline ----------------------------------------------------
  /// Opens a named range on the calling thread around runtime work (a fault, a
  /// read-ahead, an eviction, a prefetch): NVTX on CUDA, so a profiler shows it
  /// beside the application's kernels. Nested, closed by range_pop on the same thread.
  virtual void range_push(const char* name) noexcept { (void)name; }
  virtual void range_pop() noexcept {}
};

}  // namespace umpager
