// The simulated driver: ties device memory (sim_memory), streams (sim_stream)
// and events together behind umpager::driver, and validates every argument so
// a bad handle is an invalid_argument, never a crash.
#include "sim/sim_driver.hpp"
#include "sim/sim_segv.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sim/sim_memory.hpp"
#include "sim/sim_stream.hpp"
#include "umpager/error.hpp"

namespace umpager::sim {
namespace {

using detail::completion;

/// What register_host does besides recording the range.
void prefault(void* host, std::size_t bytes) noexcept {
  // cudaHostRegister pins the range, so a DMA engine later copies without any CPU
  // page-table work. The simulated engine copies through this process's page tables:
  // read each page once now, or its first copy pays the fill (~10-40 us a page on a
  // shadow-paging VM, where even a populated mapping's first access traps). Only
  // pages present in memory: a hole (a storage region's page not read yet) stays one.
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto a = reinterpret_cast<std::uintptr_t>(host);
  const std::uintptr_t lo = a & ~(page - 1), hi = (a + bytes + page - 1) & ~(page - 1);
  constexpr std::size_t batch = 4096;  // pages asked about per mincore call
  unsigned char present[batch];
  for (std::uintptr_t at = lo; at < hi; at += batch * page) {
    const std::size_t n = std::min<std::size_t>(batch, (hi - at) / page);
    if (::mincore(reinterpret_cast<void*>(at), n * page, present) != 0) return;  // not all mapped: leave it
    for (std::size_t i = 0; i < n; ++i) {
      // One byte inside the range (the first page may start before it: that part is
      // not the caller's to read, and AddressSanitizer says so).
      if ((present[i] & 1) != 0) (void)*reinterpret_cast<volatile const unsigned char*>(std::max(a, at + i * page));
    }
  }
}

/// An event: the completion of its latest record (null: never recorded, complete).
struct event_state {
  std::mutex mutex;
  std::shared_ptr<completion> latest;

  std::shared_ptr<completion> snapshot() {
    std::lock_guard lk(mutex);
    return latest;
  }
};

/// Live handles by id. Ids are never reused, so a destroyed handle is refused
/// instead of aliasing a newer object at the same address; lookups hand out a
/// shared_ptr so a concurrent destroy cannot free an object in use.
template <class T>
class handle_table {
 public:
  void* add(std::uint64_t id, std::shared_ptr<T> obj) {
    std::unique_lock lk(mutex_);
    map_.emplace(id, std::move(obj));
    return reinterpret_cast<void*>(static_cast<std::uintptr_t>(id));
  }
  std::shared_ptr<T> get(void* impl, const char* what) const {
    {
      std::shared_lock lk(mutex_);
      auto it = map_.find(key(impl));
      if (it != map_.end()) return it->second;
    }
    throw invalid_argument(std::string(what) + ": invalid handle (null or destroyed)");
  }
  std::shared_ptr<T> take(void* impl) noexcept {
    std::unique_lock lk(mutex_);
    auto node = map_.extract(key(impl));
    return node.empty() ? nullptr : std::move(node.mapped());
  }
  std::vector<std::shared_ptr<T>> all() const {
    std::shared_lock lk(mutex_);
    std::vector<std::shared_ptr<T>> out;
    for (const auto& [id, obj] : map_) out.push_back(obj);
    return out;
  }
  std::vector<std::shared_ptr<T>> take_all() {
    std::unique_lock lk(mutex_);
    std::vector<std::shared_ptr<T>> all;
    for (auto& [id, obj] : map_) all.push_back(std::move(obj));
    map_.clear();
    return all;
  }

 private:
  static std::uint64_t key(void* impl) noexcept { return reinterpret_cast<std::uintptr_t>(impl); }
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::uint64_t, std::shared_ptr<T>> map_;
};

std::shared_ptr<const detail::copy_model> make_model(const sim_config& cfg) {
  UMPAGER_EXPECTS(std::isfinite(cfg.bandwidth_gbps) && cfg.bandwidth_gbps >= 0,
                  "sim: bandwidth_gbps must be >= 0 (0 = unlimited)");
  UMPAGER_EXPECTS(std::isfinite(cfg.latency_us) && cfg.latency_us >= 0, "sim: latency_us must be >= 0");
  return std::make_shared<const detail::copy_model>(
      detail::copy_model{cfg.bandwidth_gbps, cfg.latency_us, cfg.faults});
}

class sim_driver final : public driver {
 public:
  explicit sim_driver(const sim_config& cfg)
      : model_(make_model(cfg)), memory_(cfg.memory_bytes, cfg.chunk_bytes), on_range_(cfg.on_range) {
    info_.name = "sim";
    info_.device_name = "simulated device";
    info_.chunk_bytes = memory_.chunk_bytes();
    info_.memory_bytes = memory_.memory_bytes();
    info_.local_cpus = cfg.local_cpus;
  }

  ~sim_driver() override {
    // Kernels may still touch device memory: drain and join every stream
    // before the members (device memory included) go away.
    for (auto& s : streams_.take_all()) s->shutdown();
  }

  [[nodiscard]] const driver_info& info() const noexcept override { return info_; }

  void* reserve(std::size_t bytes) override {
    void* base = memory_.reserve(bytes);
    detail::watch_range(base, bytes);
    return base;
  }
  void release(void* base, std::size_t bytes) noexcept override {
    detail::unwatch_range(base);
    memory_.release(base, bytes);
  }
  chunk_handle create_chunk() override { return memory_.create_chunk(); }
  void destroy_chunk(chunk_handle chunk) noexcept override { memory_.destroy_chunk(chunk); }
  void map_chunk(void* va, chunk_handle chunk) override { memory_.map_chunk(va, chunk); }
  void unmap_chunk(void* va) noexcept override { memory_.unmap_chunk(va); }

  void register_host(void* host, std::size_t bytes) override {
    UMPAGER_EXPECTS(host != nullptr && bytes > 0, "register_host: null pointer or zero bytes");
    const auto a = reinterpret_cast<std::uintptr_t>(host);
    UMPAGER_EXPECTS(bytes <= UINTPTR_MAX - a, "register_host: range wraps around the address space");
    std::lock_guard lk(host_mutex_);
    auto next = host_.lower_bound(a);
    const bool overlaps_next = next != host_.end() && next->first < a + bytes;
    const bool overlaps_prev = next != host_.begin() && std::prev(next)->first + std::prev(next)->second > a;
    UMPAGER_EXPECTS(!overlaps_next && !overlaps_prev, "register_host: range overlaps a registered range");
    host_.emplace_hint(next, a, bytes);
    prefault(host, bytes);  // the simulator's cudaHostRegister pinning
  }
  void unregister_host(void* host, std::size_t /*bytes*/) noexcept override {
    std::lock_guard lk(host_mutex_);
    host_.erase(reinterpret_cast<std::uintptr_t>(host));
  }

  /// The simulated device runs in this process: it reaches registered host memory
  /// at its host address, as a GPU does where it may use host pointers.
  [[nodiscard]] void* host_address_on_device(void* host) noexcept override {
    const auto a = reinterpret_cast<std::uintptr_t>(host);
    std::lock_guard lk(host_mutex_);
    auto next = host_.upper_bound(a);
    if (next == host_.begin()) return nullptr;
    const auto& [base, bytes] = *std::prev(next);
    return a - base < bytes ? host : nullptr;
  }

  stream_handle create_stream() override {
    const std::uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
    return {streams_.add(id, std::make_shared<detail::stream>(id, model_))};
  }
  void destroy_stream(stream_handle s) noexcept override {
    if (auto st = streams_.take(s.impl)) st->shutdown();
  }
  [[nodiscard]] void* native_stream(stream_handle /*s*/) const noexcept override { return nullptr; }

  void copy_async(umpager::span<const copy_op> ops, copy_direction dir, stream_handle s) override {
    auto st = streams_.get(s.impl, "copy_async");
    UMPAGER_EXPECTS(dir == copy_direction::host_to_device || dir == copy_direction::device_to_host ||
                        dir == copy_direction::device_to_device,
                    "copy_async: invalid copy_direction");
    if (dir == copy_direction::device_to_device) check_peer_copy(ops);
    else memory_.check_copy(ops, dir);
    if (!ops.empty()) st->copy(ops, dir);
  }

  bool enable_peer(driver& other) noexcept override {
    auto* peer = dynamic_cast<sim_driver*>(&other);
    if (peer == nullptr || peer == this) return false;
    try {
      std::lock_guard g(peers_mutex_);
      peers_.push_back(&peer->memory_);
    } catch (...) {
      return false;
    }
    return true;
  }
  void launch(stream_handle s, std::function<void()> fn) override {
    auto st = streams_.get(s.impl, "launch");
    UMPAGER_EXPECTS(static_cast<bool>(fn), "launch: empty function");
    st->launch(std::move(fn));
  }
  void synchronize(stream_handle s) override { streams_.get(s.impl, "synchronize(stream)")->synchronize(); }
  [[nodiscard]] bool idle(stream_handle s) override { return streams_.get(s.impl, "idle")->is_idle(); }
  void synchronize_device() override {
    std::string first;
    for (const auto& st : streams_.all()) {
      try {
        st->synchronize();
      } catch (const std::exception& e) {
        if (first.empty()) first = e.what();  // every stream is still waited for
      }
    }
    if (!first.empty()) throw driver_error(first);
  }

  event_handle create_event() override {
    const std::uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
    return {events_.add(id, std::make_shared<event_state>())};
  }
  void destroy_event(event_handle e) noexcept override {
    // A record still queued holds its own reference to the completion.
    events_.take(e.impl);
  }
  void record(event_handle e, stream_handle s) override {
    auto ev = events_.get(e.impl, "record");
    auto st = streams_.get(s.impl, "record");
    auto c = std::make_shared<completion>();
    st->record(c);  // first, so a refused record leaves the event as it was
    std::lock_guard lk(ev->mutex);
    ev->latest = std::move(c);
  }
  void wait(stream_handle s, event_handle e) override {
    auto st = streams_.get(s.impl, "wait");
    auto c = events_.get(e.impl, "wait")->snapshot();
    if (c) st->wait(std::move(c));  // never recorded: already complete, nothing to wait for
  }
  void synchronize(event_handle e) override {
    auto c = events_.get(e.impl, "synchronize(event)")->snapshot();
    if (!c) return;
    c->wait();
    if (c->failed()) throw driver_error("sim: work before the event failed: " + c->error());
  }
  [[nodiscard]] bool query(event_handle e) override {
    auto c = events_.get(e.impl, "query")->snapshot();
    return !c || c->done();
  }

  void range_push(const char* name) noexcept override {
    if (!on_range_) return;
    try {
      on_range_(name);
    } catch (...) {
      // a test hook; never let it disturb the runtime
    }
  }

 private:
  /// Device-to-device: the destination on this device, the source here or on a peer.
  /// Each device's lock is taken alone, so two peers checking at once cannot deadlock.
  void check_peer_copy(umpager::span<const copy_op> ops) const {
    std::vector<const detail::device_memory*> peers;
    {
      std::lock_guard g(peers_mutex_);
      peers = peers_;
    }
    for (const copy_op& o : ops) {
      if (o.bytes == 0) continue;
      UMPAGER_EXPECTS(o.dst != nullptr && o.src != nullptr, "copy_async: null pointer in a copy op");
      UMPAGER_EXPECTS(memory_.holds(o.dst, o.bytes), "copy_async: device destination is not mapped device memory");
      bool found = memory_.holds(o.src, o.bytes);
      for (std::size_t i = 0; !found && i < peers.size(); ++i) found = peers[i]->holds(o.src, o.bytes);
      UMPAGER_EXPECTS(found, "copy_async: device source is not mapped memory of this device or a peer");
    }
  }

  std::shared_ptr<const detail::copy_model> model_;
  detail::device_memory memory_;
  std::function<void(const char*)> on_range_;
  driver_info info_;
  mutable std::mutex peers_mutex_;
  std::vector<const detail::device_memory*> peers_;  ///< enable_peer; peers outlive the runtime's use

  std::mutex host_mutex_;
  std::map<std::uintptr_t, std::size_t> host_;  ///< registered host ranges: base -> bytes

  std::atomic<std::uint64_t> next_id_{1};  ///< shared by streams and events, so ids never collide
  handle_table<detail::stream> streams_;
  handle_table<event_state> events_;
};

}  // namespace

std::unique_ptr<driver> make_driver(const sim_config& cfg) { return std::make_unique<sim_driver>(cfg); }

}  // namespace umpager::sim
