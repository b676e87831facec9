// umpager::driver on CUDA virtual memory management (see cuda_driver.hpp).
#include "cuda/cuda_driver.hpp"

#include <cuda.h>
#include <cuda_runtime_api.h>
#include <hwloc.h>
#include <hwloc/cudart.h>
#include <nvtx3/nvToolsExt.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cuda/detail/cuda_try.hpp"
#include "cuda/detail/driver_api.hpp"
#include "cuda/detail/probe.hpp"

namespace umpager::cuda {

nvtx_range::nvtx_range(const char* name) noexcept { nvtxRangePushA(name); }
nvtx_range::~nvtx_range() { nvtxRangePop(); }

namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;
constexpr std::size_t kHostRegisterPiece = std::size_t{1} << 30;  // cudaHostRegister per 1 GiB

std::size_t round_up(std::size_t v, std::size_t to) { return (v + to - 1) / to * to; }
std::size_t round_down(std::size_t v, std::size_t to) { return v / to * to; }
CUdeviceptr dptr(const void* p) { return static_cast<CUdeviceptr>(reinterpret_cast<std::uintptr_t>(p)); }

/// CPUs near `device` as an hwloc list string ("0-15,32-47"); "" on any failure.
std::string local_cpus(int device) noexcept {
  hwloc_topology_t topo = nullptr;
  hwloc_bitmap_t set = nullptr;
  char* text = nullptr;
  std::string out;
  if (hwloc_topology_init(&topo) == 0) {
    if (hwloc_topology_load(topo) == 0 && (set = hwloc_bitmap_alloc()) != nullptr &&
        hwloc_cudart_get_device_cpuset(topo, device, set) == 0 && hwloc_bitmap_list_asprintf(&text, set) >= 0 &&
        text != nullptr) {
      try {
        out = text;
      } catch (...) {
        out.clear();
      }
    }
    std::free(text);
    if (set != nullptr) hwloc_bitmap_free(set);
    hwloc_topology_destroy(topo);
  }
  (void)cudaGetLastError();  // hwloc's cudaGetDeviceProperties may have failed
  return out;
}

/// Makes `device` (and its primary context) current on the calling thread for
/// the scope, then restores the thread's previous device: an application using
/// several GPUs keeps the current device it chose.
class device_guard {
 public:
  explicit device_guard(int device) noexcept {
    if (cudaGetDevice(&previous_) != cudaSuccess) {
      (void)cudaGetLastError();
      previous_ = -1;
    }
    UMPAGER_CUDA_IGNORE(cudaSetDevice(device));  // always: it also makes the context current
    if (previous_ == device) previous_ = -1;
  }
  ~device_guard() {
    if (previous_ >= 0) UMPAGER_CUDA_IGNORE(cudaSetDevice(previous_));
  }
  device_guard(const device_guard&) = delete;
  device_guard& operator=(const device_guard&) = delete;

 private:
  int previous_ = -1;
};

/// A stream plus the first error raised by a host function run on it.
struct cuda_stream {
  cudaStream_t native = nullptr;
  std::mutex mutex;
  std::string error;
};

struct cuda_event {
  cudaEvent_t native = nullptr;
};

/// A host function in flight; keeps its stream's state alive until it has run.
struct host_call {
  std::shared_ptr<cuda_stream> stream;
  std::function<void()> fn;
};

/// Live streams or events by handle. Handles are never reused, so a destroyed
/// or foreign handle is reported as invalid_argument instead of being used.
template <class T>
class handle_table {
 public:
  void* add(std::shared_ptr<T> v) {
    std::lock_guard lock(mutex_);
    void* key = reinterpret_cast<void*>(next_++);
    map_.emplace(key, std::move(v));
    return key;
  }
  std::shared_ptr<T> get(void* key, const char* what) const {
    {
      std::lock_guard lock(mutex_);
      if (auto it = map_.find(key); it != map_.end()) return it->second;
    }
    throw invalid_argument(std::string("cuda driver: ") + what +
                           (key == nullptr ? ": null handle" : ": unknown or destroyed handle"));
  }
  std::shared_ptr<T> find(void* key) const noexcept {
    std::lock_guard lock(mutex_);
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : it->second;
  }
  std::shared_ptr<T> take(void* key) noexcept {
    std::lock_guard lock(mutex_);
    auto it = map_.find(key);
    if (it == map_.end()) return nullptr;
    std::shared_ptr<T> v = std::move(it->second);
    map_.erase(it);
    return v;
  }
  std::vector<std::shared_ptr<T>> all() const {
    std::lock_guard lock(mutex_);
    std::vector<std::shared_ptr<T>> out;
    for (const auto& [key, v] : map_) out.push_back(v);
    return out;
  }
  std::vector<std::shared_ptr<T>> take_all() {
    std::lock_guard lock(mutex_);
    std::vector<std::shared_ptr<T>> all;
    for (auto& [key, v] : map_) all.push_back(std::move(v));
    map_.clear();
    return all;
  }

 private:
  mutable std::mutex mutex_;
  std::unordered_map<void*, std::shared_ptr<T>> map_;
  std::uintptr_t next_ = 1;
};

void CUDART_CB run_host_call(void* p) noexcept {
  host_call* call = static_cast<host_call*>(p);
  std::string failure;
  try {
    call->fn();
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unknown exception";
  }
  if (!failure.empty()) {
    std::lock_guard lock(call->stream->mutex);
    if (call->stream->error.empty()) call->stream->error = std::move(failure);
  }
  delete call;
}

cudaMemcpyKind kind_of(copy_direction dir) {
  switch (dir) {
    case copy_direction::host_to_device: return cudaMemcpyHostToDevice;
    case copy_direction::device_to_host: return cudaMemcpyDeviceToHost;
    case copy_direction::device_to_device: return cudaMemcpyDeviceToDevice;
  }
  throw invalid_argument("cuda driver: bad copy direction");
}

const char* range_name(copy_direction dir) {
  switch (dir) {
    case copy_direction::host_to_device: return "umpager copy h2d";
    case copy_direction::device_to_host: return "umpager copy d2h";
    case copy_direction::device_to_device: return "umpager copy d2d";
  }
  return "umpager copy";
}

class cuda_driver final : public driver {
 public:
  explicit cuda_driver(const cuda_config& cfg) : device_(cfg.device), api_(detail::api()) {
    const device_guard guard(device_);
    UMPAGER_CUDA_TRY(cudaSetDevice(device_));  // again, to report a failure
    UMPAGER_CUDA_TRY(cudaFree(nullptr));       // creates the primary context, made current by cudart
    UMPAGER_CUDA_TRY(api_.cuDeviceGet(&cu_device_, device_));

    prop_.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop_.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop_.location.id = cu_device_;
    std::size_t granularity = 0;
    UMPAGER_CUDA_TRY(api_.cuMemGetAllocationGranularity(&granularity, &prop_, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
    if (granularity == 0) granularity = 2 * kMiB;
    const std::size_t chunk = round_up(2 * kMiB, granularity);

    std::size_t free_bytes = 0;
    std::size_t total_bytes = 0;
    UMPAGER_CUDA_TRY(cudaMemGetInfo(&free_bytes, &total_bytes));
    std::size_t budget = cfg.memory_bytes == 0 ? free_bytes / 10 * 9 : std::min(cfg.memory_bytes, total_bytes);
    budget = round_down(budget, chunk);
    if (budget == 0 && cfg.memory_bytes == 0)
      throw out_of_memory("cuda driver: less than one chunk of device memory is free (" +
                          std::to_string(free_bytes) + " bytes)");
    if (budget == 0)
      throw invalid_argument("cuda driver: memory_bytes " + std::to_string(cfg.memory_bytes) +
                             " is less than one chunk (" + std::to_string(chunk) + " bytes)");

    cudaDeviceProp props{};
    UMPAGER_CUDA_TRY(cudaGetDeviceProperties(&props, device_));
    info_.name = "cuda";
    info_.device_name = props.name;
    info_.chunk_bytes = chunk;
    info_.memory_bytes = budget;
    info_.local_cpus = local_cpus(device_);
    info_.host_at_device_va = true;  // checked on a GPU by single_pointer_test (docs/gpu-results.md)
    max_chunks_ = budget / chunk;

    access_.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    access_.location.id = cu_device_;
    access_.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  }

  ~cuda_driver() override {
    const device_guard guard(device_);
    // Streams the owner left behind: their work may still use chunks freed below.
    for (const auto& st : streams_.take_all()) {
      UMPAGER_CUDA_IGNORE(cudaStreamSynchronize(st->native));
      UMPAGER_CUDA_IGNORE(cudaStreamDestroy(st->native));
    }
    for (const auto& ev : events_.take_all()) UMPAGER_CUDA_IGNORE(cudaEventDestroy(ev->native));
    std::lock_guard lock(mutex_);
    for (const auto& [va, id] : mapped_) (void)api_.cuMemUnmap(va, info_.chunk_bytes);
    mapped_.clear();
    for (const auto& [base, bytes] : ranges_) (void)api_.cuMemAddressFree(base, bytes);
    for (const chunk_slot& c : chunks_) (void)api_.cuMemRelease(c.handle);
  }

  [[nodiscard]] const driver_info& info() const noexcept override { return info_; }

  // --- device address space ----------------------------------------------------
  void* reserve(std::size_t bytes) override {
    UMPAGER_EXPECTS(bytes > 0 && bytes % info_.chunk_bytes == 0,
                    "cuda driver: reserve size must be a positive multiple of " + std::to_string(info_.chunk_bytes));
    const device_guard guard(device_);
    CUdeviceptr base = 0;
    UMPAGER_CUDA_TRY(api_.cuMemAddressReserve(&base, bytes, info_.chunk_bytes, 0, 0));
    std::lock_guard lock(mutex_);
    ranges_.emplace(base, bytes);
    return reinterpret_cast<void*>(static_cast<std::uintptr_t>(base));
  }

  void release(void* base, std::size_t /*bytes*/) noexcept override {
    const device_guard guard(device_);
    std::lock_guard lock(mutex_);
    const auto r = ranges_.find(dptr(base));
    if (r == ranges_.end()) return;
    const CUdeviceptr end = r->first + r->second;
    for (auto m = mapped_.lower_bound(r->first); m != mapped_.end() && m->first < end;) {
      (void)api_.cuMemUnmap(m->first, info_.chunk_bytes);
      chunks_[m->second].mapped_at = 0;
      m = mapped_.erase(m);
    }
    (void)api_.cuMemAddressFree(r->first, r->second);
    ranges_.erase(r);
  }

  chunk_handle create_chunk() override {
    std::lock_guard lock(mutex_);
    if (live_chunks_ >= max_chunks_)
      throw out_of_memory("cuda driver: device memory budget exhausted (" + std::to_string(max_chunks_) +
                          " chunks of " + std::to_string(info_.chunk_bytes) + " bytes in use)");
    std::uint64_t id;
    if (!free_ids_.empty()) {
      id = free_ids_.back();
      free_ids_.pop_back();
    } else {
      chunks_.reserve(chunks_.size() + 1);  // no throw between cuMemCreate and recording it
      const device_guard guard(device_);
      CUmemGenericAllocationHandle h{};
      UMPAGER_CUDA_TRY(api_.cuMemCreate(&h, info_.chunk_bytes, &prop_, 0));
      id = chunks_.size();
      chunks_.push_back(chunk_slot{h, false, 0});
    }
    chunks_[id].in_use = true;
    ++live_chunks_;
    return chunk_handle{id};
  }

  /// Returns the chunk to the pool: its memory stays allocated for the next create_chunk.
  void destroy_chunk(chunk_handle chunk) noexcept override {
    std::lock_guard lock(mutex_);
    if (!chunk.valid() || chunk.id >= chunks_.size() || !chunks_[chunk.id].in_use) return;
    chunk_slot& c = chunks_[chunk.id];
    if (c.mapped_at != 0) {
      const device_guard guard(device_);
      (void)api_.cuMemUnmap(c.mapped_at, info_.chunk_bytes);
      mapped_.erase(c.mapped_at);
      c.mapped_at = 0;
    }
    c.in_use = false;
    free_ids_.push_back(chunk.id);
    --live_chunks_;
  }

  void map_chunk(void* va, chunk_handle chunk) override {
    const CUdeviceptr at = dptr(va);
    std::lock_guard lock(mutex_);
    UMPAGER_EXPECTS(chunk.valid() && chunk.id < chunks_.size() && chunks_[chunk.id].in_use,
                    "cuda driver: map_chunk of an unknown chunk");
    UMPAGER_EXPECTS(chunks_[chunk.id].mapped_at == 0, "cuda driver: chunk is already mapped");
    UMPAGER_EXPECTS(at % info_.chunk_bytes == 0, "cuda driver: map_chunk address is not chunk-aligned");
    UMPAGER_EXPECTS(inside(at, info_.chunk_bytes), "cuda driver: map_chunk address is outside every reserved range");
    UMPAGER_EXPECTS(mapped_.count(at) == 0, "cuda driver: a chunk is already mapped at this address");
    const device_guard guard(device_);
    UMPAGER_CUDA_TRY(api_.cuMemMap(at, info_.chunk_bytes, 0, chunks_[chunk.id].handle, 0));
    const CUresult res = api_.cuMemSetAccess(at, info_.chunk_bytes, &access_, 1);
    if (res != CUDA_SUCCESS) {
      (void)api_.cuMemUnmap(at, info_.chunk_bytes);
      detail::throw_error(res, "cuMemSetAccess", __FILE__, __LINE__);
    }
    chunks_[chunk.id].mapped_at = at;
    mapped_.emplace(at, chunk.id);
  }

  /// The caller has synchronized the work that used the chunk.
  void unmap_chunk(void* va) noexcept override {
    std::lock_guard lock(mutex_);
    const auto m = mapped_.find(dptr(va));
    if (m == mapped_.end()) return;
    const device_guard guard(device_);
    (void)api_.cuMemUnmap(m->first, info_.chunk_bytes);
    chunks_[m->second].mapped_at = 0;
    mapped_.erase(m);
  }

  // --- host memory (the alias view) ------------------------------------------------
  // Portable: pinned for every device's context. With several devices the first
  // driver registers and the others find it registered (and do not unregister it).
  void register_host(void* host, std::size_t bytes) override {
    UMPAGER_EXPECTS(host != nullptr && bytes > 0, "cuda driver: register_host of an empty range");
    const device_guard guard(device_);
    auto* p = static_cast<char*>(host);
    for (std::size_t done = 0; done < bytes; done += kHostRegisterPiece) {
      const cudaError_t err = cudaHostRegister(p + done, std::min(kHostRegisterPiece, bytes - done),
                                               cudaHostRegisterPortable | cudaHostRegisterMapped);
      if (err == cudaErrorHostMemoryAlreadyRegistered && done == 0) {
        (void)cudaGetLastError();
        std::lock_guard lock(mutex_);
        borrowed_.insert(host);
        return;
      }
      if (err != cudaSuccess) {
        (void)cudaGetLastError();
        for (std::size_t undo = 0; undo < done; undo += kHostRegisterPiece) (void)cudaHostUnregister(p + undo);
        (void)cudaGetLastError();
        detail::throw_error(err, "cudaHostRegister", __FILE__, __LINE__);
      }
    }
  }

  void unregister_host(void* host, std::size_t bytes) noexcept override {
    if (host == nullptr) return;
    {
      std::lock_guard lock(mutex_);
      if (borrowed_.erase(host) != 0) return;  // another device's driver registered it
    }
    const device_guard guard(device_);
    auto* p = static_cast<char*>(host);
    for (std::size_t done = 0; done < bytes; done += kHostRegisterPiece) UMPAGER_CUDA_IGNORE(cudaHostUnregister(p + done));
  }

  // --- streams and events ----------------------------------------------------------
  stream_handle create_stream() override {
    const device_guard guard(device_);
    auto st = std::make_shared<cuda_stream>();
    UMPAGER_CUDA_TRY(cudaStreamCreateWithFlags(&st->native, cudaStreamNonBlocking));
    return stream_handle{streams_.add(std::move(st))};
  }

  /// Does not wait: CUDA releases the stream once its work is done (pending host
  /// functions keep their own reference to the stream's state).
  void destroy_stream(stream_handle s) noexcept override {
    if (auto st = streams_.take(s.impl)) UMPAGER_CUDA_IGNORE(cudaStreamDestroy(st->native));
  }

  [[nodiscard]] void* native_stream(stream_handle s) const noexcept override {
    auto st = streams_.find(s.impl);
    return st == nullptr ? nullptr : static_cast<void*>(st->native);
  }

  void copy_async(umpager::span<const copy_op> ops, copy_direction dir, stream_handle s) override {
    cudaStream_t stream = streams_.get(s.impl, "copy_async")->native;
    const device_guard guard(device_);  // a copy is issued on the device of its stream
    const cudaMemcpyKind kind = kind_of(dir);
    nvtx_range range(range_name(dir));
    std::vector<void*> dsts;
    std::vector<const void*> srcs;
    std::vector<std::size_t> sizes;
    dsts.reserve(ops.size());
    srcs.reserve(ops.size());
    sizes.reserve(ops.size());
    if (dir == copy_direction::device_to_device) {
      // Chunks of another device's driver: this device has no access to them (peer
      // access to VMM memory is not set up), and a faulting copy would poison the
      // context. The runtime then moves the data through the host.
      std::lock_guard lock(mutex_);
      for (const copy_op& op : ops) {
        if (!inside(dptr(op.src), op.bytes) || !inside(dptr(op.dst), op.bytes))
          throw driver_error("cuda driver: device-to-device copy outside this device's ranges (no peer access)");
      }
    }
    for (const copy_op& op : ops) {
      if (op.bytes == 0) continue;
      UMPAGER_EXPECTS(op.dst != nullptr && op.src != nullptr, "cuda driver: copy with a null pointer");
      dsts.push_back(op.dst);
      srcs.push_back(op.src);
      sizes.push_back(op.bytes);
    }
    if (sizes.empty()) return;
    if (sizes.size() > 1 && batch_supported_.load(std::memory_order_relaxed)) {
      cudaMemcpyAttributes attr{};
      attr.srcAccessOrder = cudaMemcpySrcAccessOrderStream;
      std::size_t attr_index = 0;
      const cudaError_t err =
          cudaMemcpyBatchAsync(dsts.data(), srcs.data(), sizes.data(), sizes.size(), &attr, &attr_index, 1, stream);
      if (err == cudaSuccess) return;
      (void)cudaGetLastError();
      if (err != cudaErrorNotSupported && err != cudaErrorCallRequiresNewerDriver)
        detail::throw_error(err, "cudaMemcpyBatchAsync", __FILE__, __LINE__);
      batch_supported_.store(false, std::memory_order_relaxed);  // old driver: one call per op from now on
    }
    for (std::size_t i = 0; i < sizes.size(); ++i)
      UMPAGER_CUDA_TRY(cudaMemcpyAsync(dsts[i], srcs[i], sizes[i], kind, stream));
  }

  // --- kernels reaching host memory ------------------------------------------------
  // Registered mapped: where the device may use host pointers for registered memory
  // the address is the host's own, else cudaHostGetDevicePointer's.
  [[nodiscard]] void* host_address_on_device(void* host) noexcept override {
    const device_guard guard(device_);
    int same = 0;
    if (cudaDeviceGetAttribute(&same, cudaDevAttrCanUseHostPointerForRegisteredMem, device_) == cudaSuccess &&
        same != 0) {
      return host;
    }
    void* d = nullptr;
    if (cudaHostGetDevicePointer(&d, host, 0) != cudaSuccess) {
      (void)cudaGetLastError();
      return nullptr;
    }
    return d;
  }
  void* allocate_table(std::size_t bytes) override {
    UMPAGER_EXPECTS(bytes > 0, "cuda driver: allocate_table of zero bytes");
    const device_guard guard(device_);
    void* p = nullptr;
    UMPAGER_CUDA_TRY(cudaMalloc(&p, bytes));
    return p;
  }
  void free_table(void* table) noexcept override {
    if (table == nullptr) return;
    const device_guard guard(device_);
    UMPAGER_CUDA_IGNORE(cudaFree(table));
  }
  void read_table(void* dst, const void* src, std::size_t bytes) override {
    const device_guard guard(device_);
    UMPAGER_CUDA_TRY(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
  }
  void write_table(void* dst, const void* src, std::size_t bytes, stream_handle s) override {
    if (bytes == 0) return;
    std::shared_ptr<cuda_stream> st = streams_.get(s.impl, "write_table");
    const device_guard guard(device_);
    // From pageable memory: staged before the call returns, so `src` may be reused.
    UMPAGER_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, st->native));
  }

  void launch(stream_handle s, std::function<void()> fn) override {
    UMPAGER_EXPECTS(static_cast<bool>(fn), "cuda driver: launch of an empty function");
    std::shared_ptr<cuda_stream> st = streams_.get(s.impl, "launch");
    auto call = std::make_unique<host_call>(host_call{st, std::move(fn)});
    UMPAGER_CUDA_TRY(cudaLaunchHostFunc(st->native, run_host_call, call.get()));
    (void)call.release();  // run_host_call owns it now
  }

  void synchronize(stream_handle s) override {
    std::shared_ptr<cuda_stream> st = streams_.get(s.impl, "synchronize(stream)");
    UMPAGER_CUDA_TRY(cudaStreamSynchronize(st->native));
    std::string failure;
    {
      std::lock_guard lock(st->mutex);
      failure = std::exchange(st->error, std::string());
    }
    if (!failure.empty()) throw driver_error("cuda driver: host function on the stream failed: " + failure);
  }

  [[nodiscard]] bool idle(stream_handle s) override {
    std::shared_ptr<cuda_stream> st = streams_.get(s.impl, "idle");
    const cudaError_t err = cudaStreamQuery(st->native);
    if (err == cudaErrorNotReady) {
      (void)cudaGetLastError();
      return false;
    }
    UMPAGER_CUDA_TRY(err);
    return true;
  }

  void synchronize_device() override {
    const device_guard guard(device_);
    UMPAGER_CUDA_TRY(cudaDeviceSynchronize());
    std::string failure;
    for (const auto& st : streams_.all()) {
      std::lock_guard lock(st->mutex);
      if (failure.empty()) failure = std::exchange(st->error, std::string());
    }
    if (!failure.empty()) throw driver_error("cuda driver: host function on a stream failed: " + failure);
  }

  event_handle create_event() override {
    const device_guard guard(device_);
    auto ev = std::make_shared<cuda_event>();
    UMPAGER_CUDA_TRY(cudaEventCreateWithFlags(&ev->native, cudaEventDisableTiming));
    return event_handle{events_.add(std::move(ev))};
  }

  void destroy_event(event_handle e) noexcept override {
    if (auto ev = events_.take(e.impl)) UMPAGER_CUDA_IGNORE(cudaEventDestroy(ev->native));
  }

  void record(event_handle e, stream_handle s) override {
    const cudaEvent_t ev = events_.get(e.impl, "record")->native;
    UMPAGER_CUDA_TRY(cudaEventRecord(ev, streams_.get(s.impl, "record")->native));
  }

  void wait(stream_handle s, event_handle e) override {
    const cudaStream_t st = streams_.get(s.impl, "wait")->native;
    UMPAGER_CUDA_TRY(cudaStreamWaitEvent(st, events_.get(e.impl, "wait")->native, 0));
  }

  void synchronize(event_handle e) override {
    UMPAGER_CUDA_TRY(cudaEventSynchronize(events_.get(e.impl, "synchronize(event)")->native));
  }

  [[nodiscard]] bool query(event_handle e) override {
    const cudaError_t err = cudaEventQuery(events_.get(e.impl, "query")->native);
    if (err == cudaSuccess) return true;
    (void)cudaGetLastError();
    if (err == cudaErrorNotReady) return false;
    detail::throw_error(err, "cudaEventQuery", __FILE__, __LINE__);
  }

  void range_push(const char* name) noexcept override { nvtxRangePushA(name); }
  void range_pop() noexcept override { nvtxRangePop(); }

 private:
  /// [at, at+bytes) lies in one reserved range; the caller holds mutex_.
  bool inside(CUdeviceptr at, std::size_t bytes) const {
    auto r = ranges_.upper_bound(at);
    return r != ranges_.begin() && at + bytes <= std::prev(r)->first + std::prev(r)->second;
  }

  struct chunk_slot {
    CUmemGenericAllocationHandle handle;
    bool in_use;
    CUdeviceptr mapped_at;  // 0 when not mapped
  };

  int device_;
  const detail::driver_api& api_;
  CUdevice cu_device_ = 0;
  CUmemAllocationProp prop_{};
  CUmemAccessDesc access_{};
  driver_info info_;
  std::size_t max_chunks_ = 0;
  std::atomic<bool> batch_supported_{true};
  handle_table<cuda_stream> streams_;
  handle_table<cuda_event> events_;

  std::mutex mutex_;  // guards everything below
  std::map<CUdeviceptr, std::size_t> ranges_;    // reserved base -> bytes
  std::map<CUdeviceptr, std::uint64_t> mapped_;  // chunk VA -> chunk id
  std::vector<chunk_slot> chunks_;               // every physical chunk, by id
  std::vector<std::uint64_t> free_ids_;          // allocated chunks not in use
  std::size_t live_chunks_ = 0;
  std::set<void*> borrowed_;  // host ranges another driver registered (see register_host)
};

}  // namespace

std::unique_ptr<driver> make_driver(const cuda_config& cfg) {
  if (cfg.device < 0) throw invalid_argument("cuda driver: device number " + std::to_string(cfg.device) + " is negative");
  detail::probe_detail p = detail::probe_device(cfg.device);
  if (p.bad_device) throw invalid_argument("cuda driver: " + p.reason);
  if (!p.usable) throw driver_error(p.reason.empty() ? "CUDA probe failed" : p.reason);
  return std::make_unique<cuda_driver>(cfg);
}

}  // namespace umpager::cuda
