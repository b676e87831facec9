// The C API over the C++ one: exceptions become negative errno codes plus a
// thread-local message.
#include "umpager/umpager.h"

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "c_config.hpp"
#include "umpager/c_interop.hpp"
#include "umpager/runtime.hpp"

struct umpager_runtime {
  static constexpr std::uint64_t kMagic = 0x756d706167657221;  // "umpager!"
  std::uint64_t magic = kMagic;
  std::unique_ptr<umpager::runtime> rt;
  std::mutex streams_mutex;
  std::set<umpager_stream*> streams;  // torn down before the runtime, whose driver they use
  void shutdown();
};

struct umpager_stream {
  static constexpr std::uint64_t kMagic = 0x756d7073747265;
  std::uint64_t magic = kMagic;
  umpager_runtime* owner;
  std::optional<umpager::stream> s;
};

struct umpager_completion {
  static constexpr std::uint64_t kMagic = 0x756d70636f6d70;
  std::uint64_t magic = kMagic;
  umpager::completion c;
};

struct umpager_declaration {
  static constexpr std::uint64_t kMagic = 0x756d7064656373;
  std::uint64_t magic = kMagic;
  umpager::declaration d;
};

void umpager_runtime::shutdown() {
  {
    std::lock_guard g(streams_mutex);
    for (umpager_stream* s : streams) s->s.reset();
  }
  rt.reset();  // later calls see a closed runtime
}

namespace {

thread_local std::string last_error;

int fail(int code, const char* what) {
  last_error = what;
  return code;
}

template <class Fn>
int guarded(Fn&& fn) noexcept {
  try {
    fn();
    last_error.clear();
    return 0;
  } catch (const umpager::invalid_argument& e) {
    return fail(-EINVAL, e.what());
  } catch (const umpager::out_of_memory& e) {
    return fail(-ENOMEM, e.what());
  } catch (const umpager::unsupported& e) {
    return fail(-ENOTSUP, e.what());
  } catch (const umpager::driver_error& e) {
    return fail(-EIO, e.what());
  } catch (const umpager::closed_error& e) {
    return fail(-ESHUTDOWN, e.what());
  } catch (const umpager::system_error& e) {
    return fail(-e.code(), e.what());
  } catch (const std::bad_alloc&) {
    return fail(-ENOMEM, "out of host memory");
  } catch (const std::exception& e) {
    return fail(-EIO, e.what());
  } catch (...) {
    return fail(-EIO, "unknown error");
  }
}

umpager::runtime& live(umpager_runtime* rt) {
  UMPAGER_EXPECTS(rt != nullptr && rt->magic == umpager_runtime::kMagic, "runtime handle is null or invalid");
  if (!rt->rt) throw umpager::closed_error("umpager runtime is shut down");
  return *rt->rt;
}

umpager::stream& live(umpager_stream* s) {
  UMPAGER_EXPECTS(s != nullptr && s->magic == umpager_stream::kMagic && s->s, "stream handle is null or invalid");
  live(s->owner);
  return *s->s;
}

}  // namespace

namespace umpager::detail {

umpager::config from_c(const umpager_config& c) {
  umpager::config out;
  UMPAGER_EXPECTS(c.driver >= UMPAGER_DRIVER_AUTO && c.driver <= UMPAGER_DRIVER_CUDA, "config: bad driver");
  UMPAGER_EXPECTS(c.tracking >= UMPAGER_TRACKING_AUTO && c.tracking <= UMPAGER_TRACKING_OFF, "config: bad tracking");
  UMPAGER_EXPECTS(c.policy >= UMPAGER_POLICY_LRU && c.policy <= UMPAGER_POLICY_ADAPTIVE,
                  "config: bad policy (UMPAGER_POLICY_LRU, _FIFO, _CLOCK or _ADAPTIVE)");
  UMPAGER_EXPECTS(c.resolver_wait >= UMPAGER_RESOLVER_WAIT_AUTO && c.resolver_wait <= UMPAGER_RESOLVER_WAIT_EPOLL,
                  "config: bad resolver_wait (UMPAGER_RESOLVER_WAIT_AUTO, _IO_URING or _EPOLL)");
  UMPAGER_EXPECTS(::memchr(c.cpuset, '\0', sizeof(c.cpuset)) != nullptr, "config: cpuset is not terminated");
  UMPAGER_EXPECTS(::memchr(c.trace_file, '\0', sizeof(c.trace_file)) != nullptr, "config: trace_file is not terminated");
  UMPAGER_EXPECTS(::memchr(c.spill_dir, '\0', sizeof(c.spill_dir)) != nullptr, "config: spill_dir is not terminated");
  out.driver = static_cast<umpager::driver_kind>(c.driver);
  out.device_memory = c.device_memory;
  out.block_size = c.block_size;
  out.resolvers = c.resolvers;
  out.cpuset = c.cpuset;
  out.tracking = static_cast<umpager::tracking_mode>(c.tracking);
  out.kernel_faults = c.kernel_faults != 0;
  out.single_pointer = c.single_pointer != 0;
  out.devices = c.devices == 0 ? 1 : c.devices;
  out.copy_timeout_ms = c.copy_timeout_ms;
  out.readahead_bytes = c.readahead_bytes;
  out.stats_summary = c.stats_summary != 0;
  out.trace_file = c.trace_file;
  out.policy = static_cast<umpager::policy_kind>(c.policy);
  out.check_stale = c.check_stale != 0;
  out.chunks_ahead = c.chunks_ahead != 0;
  out.migrate_after = c.migrate_after;
  out.resolver_spin_us = c.resolver_spin_us;
  out.resolver_wait = static_cast<umpager::resolver_wait_kind>(c.resolver_wait);
  out.host_memory = c.host_memory;
  out.spill_dir = c.spill_dir;
  out.page_cache = c.page_cache != 0;
  return out;
}

umpager_config to_c(const umpager::config& c) {
  UMPAGER_EXPECTS(c.cpuset.size() < sizeof(umpager_config::cpuset), "UMPAGER_CPUSET is longer than 255 characters");
  umpager_config out{};
  out.driver = static_cast<int>(c.driver);
  out.device_memory = c.device_memory;
  out.block_size = c.block_size;
  out.resolvers = c.resolvers;
  std::memcpy(out.cpuset, c.cpuset.c_str(), c.cpuset.size() + 1);
  out.tracking = static_cast<int>(c.tracking);
  out.kernel_faults = c.kernel_faults ? 1 : 0;
  out.single_pointer = c.single_pointer ? 1 : 0;
  out.devices = c.devices;
  out.copy_timeout_ms = c.copy_timeout_ms;
  out.readahead_bytes = c.readahead_bytes;
  out.stats_summary = c.stats_summary ? 1 : 0;
  UMPAGER_EXPECTS(c.trace_file.size() < sizeof(umpager_config::trace_file), "UMPAGER_TRACE is longer than 4095 characters");
  std::memcpy(out.trace_file, c.trace_file.c_str(), c.trace_file.size() + 1);
  out.policy = static_cast<int>(c.policy);
  out.check_stale = c.check_stale ? 1 : 0;
  out.chunks_ahead = c.chunks_ahead ? 1 : 0;
  out.migrate_after = c.migrate_after;
  out.resolver_spin_us = c.resolver_spin_us;
  out.resolver_wait = static_cast<int>(c.resolver_wait);
  out.host_memory = c.host_memory;
  UMPAGER_EXPECTS(c.spill_dir.size() < sizeof(umpager_config::spill_dir), "UMPAGER_SPILL_DIR is longer than 4095 characters");
  std::memcpy(out.spill_dir, c.spill_dir.c_str(), c.spill_dir.size() + 1);
  out.page_cache = c.page_cache ? 1 : 0;
  return out;
}

}  // namespace umpager::detail

namespace {
/// The view of an optional C stream of runtime `rt`.
umpager::stream_view view_of(umpager_runtime* rt, umpager_stream* stream, const char* what) {
  if (stream == nullptr) return {};
  UMPAGER_EXPECTS(stream->magic == umpager_stream::kMagic && stream->owner == rt,
                  std::string(what) + ": stream is invalid or of another runtime");
  return live(stream).view();
}

std::vector<umpager::access> to_cpp(const umpager_access* set, std::size_t n, const char* what) {
  UMPAGER_EXPECTS(set != nullptr || n == 0, std::string(what) + ": access set is null");
  std::vector<umpager::access> out;
  for (std::size_t i = 0; i < n; ++i) {
    UMPAGER_EXPECTS(set[i].mode >= UMPAGER_ACCESS_READ && set[i].mode <= UMPAGER_ACCESS_READ_WRITE,
                    std::string(what) + ": bad access mode");
    out.push_back({set[i].ptr, set[i].bytes, static_cast<umpager::access_mode>(set[i].mode)});
  }
  return out;
}

int to_c(const std::optional<umpager::placement>& p) {
  if (!p) return UMPAGER_PLACE_NONE;
  return p->on_host ? UMPAGER_PLACE_HOST : static_cast<int>(p->device);
}

umpager::file_access file_access_of(int mode) {
  UMPAGER_EXPECTS(mode == UMPAGER_FILE_READ_ONLY || mode == UMPAGER_FILE_READ_WRITE, "map_file: bad mode");
  return mode == UMPAGER_FILE_READ_WRITE ? umpager::file_access::read_write : umpager::file_access::read_only;
}

/// The C side of either map_file: *ptr null on failure, *bytes (if asked) the size.
template <class Map>
int map_file_out(void** ptr, size_t* bytes, Map&& map) {
  return guarded([&] {
    UMPAGER_EXPECTS(ptr != nullptr, "output pointer is null");
    *ptr = nullptr;
    umpager::buffer b = map();
    if (bytes != nullptr) *bytes = b.size();
    *ptr = b.release();
  });
}

}  // namespace

namespace umpager {
runtime& from_c(umpager_runtime* rt) { return live(rt); }
stream_view from_c(umpager_stream* s) { return live(s).view(); }
}  // namespace umpager

extern "C" {

int umpager_config_from_env(umpager_config* cfg) {
  return guarded([&] {
    UMPAGER_EXPECTS(cfg != nullptr, "config is null");
    *cfg = umpager::detail::to_c(umpager::config::from_env());
  });
}

int umpager_runtime_create(const umpager_config* cfg, umpager_runtime** out) {
  return guarded([&] {
    UMPAGER_EXPECTS(out != nullptr, "output pointer is null");
    *out = nullptr;
    auto h = std::make_unique<umpager_runtime>();
    h->rt = std::make_unique<umpager::runtime>(cfg != nullptr ? umpager::detail::from_c(*cfg) : umpager::config::from_env());
    *out = h.release();
  });
}

int umpager_runtime_shutdown(umpager_runtime* rt) {
  return guarded([&] {
    live(rt);
    rt->shutdown();
  });
}

int umpager_runtime_destroy(umpager_runtime* rt) {
  return guarded([&] {
    if (rt == nullptr) return;
    UMPAGER_EXPECTS(rt->magic == umpager_runtime::kMagic, "runtime handle is invalid");
    rt->shutdown();
    rt->magic = 0;
    delete rt;
  });
}

int umpager_alloc(umpager_runtime* rt, size_t bytes, size_t block_size, void** ptr) {
  return guarded([&] {
    UMPAGER_EXPECTS(ptr != nullptr, "output pointer is null");
    *ptr = nullptr;
    *ptr = live(rt).allocate(bytes, block_size).release();
  });
}

int umpager_free(umpager_runtime* rt, void* ptr) {
  return guarded([&] { live(rt).free(ptr); });
}

int umpager_map_file(umpager_runtime* rt, const char* path, int mode, size_t block_size, void** ptr, size_t* bytes) {
  return map_file_out(ptr, bytes, [&] {
    UMPAGER_EXPECTS(path != nullptr, "map_file: path is null");
    return live(rt).map_file(path, file_access_of(mode), block_size);
  });
}

int umpager_map_file_fd(umpager_runtime* rt, int fd, int mode, uint64_t offset, size_t length, size_t block_size,
                        void** ptr, size_t* bytes) {
  return map_file_out(ptr, bytes, [&] { return live(rt).map_file(fd, file_access_of(mode), offset, length, block_size); });
}

int umpager_flush(umpager_runtime* rt, const void* ptr, size_t bytes) {
  return guarded([&] { live(rt).flush(ptr, bytes); });
}

int umpager_device_pointer(umpager_runtime* rt, const void* ptr, void** device_ptr) {
  return guarded([&] {
    UMPAGER_EXPECTS(device_ptr != nullptr, "output pointer is null");
    *device_ptr = live(rt).device_pointer(ptr);
  });
}

int umpager_prefetch(umpager_runtime* rt, const void* ptr, size_t bytes, int where,
                     umpager_stream* stream) {
  return guarded([&] {
    auto& r = live(rt);
    UMPAGER_EXPECTS(where == UMPAGER_LOCATION_HOST || where == UMPAGER_LOCATION_DEVICE, "prefetch: bad location");
    const umpager::stream_view view = view_of(rt, stream, "prefetch");
    r.prefetch(ptr, bytes, where == UMPAGER_LOCATION_DEVICE ? umpager::location::device : umpager::location::host, view)
        .synchronize();
  });
}

int umpager_prefetch_async(umpager_runtime* rt, const void* ptr, size_t bytes, int where, umpager_stream* stream,
                           umpager_completion** done) {
  return guarded([&] {
    if (done != nullptr) *done = nullptr;
    auto& r = live(rt);
    UMPAGER_EXPECTS(where == UMPAGER_LOCATION_HOST || where == UMPAGER_LOCATION_DEVICE, "prefetch: bad location");
    auto h = std::make_unique<umpager_completion>();
    h->c = r.prefetch(ptr, bytes, where == UMPAGER_LOCATION_DEVICE ? umpager::location::device : umpager::location::host,
                      view_of(rt, stream, "prefetch"));
    if (done != nullptr) *done = h.release();
  });
}

int umpager_completion_synchronize(umpager_completion* c) {
  return guarded([&] {
    UMPAGER_EXPECTS(c != nullptr && c->magic == umpager_completion::kMagic, "completion handle is null or invalid");
    c->c.synchronize();
  });
}

int umpager_completion_query(umpager_completion* c, int* done) {
  return guarded([&] {
    UMPAGER_EXPECTS(c != nullptr && c->magic == umpager_completion::kMagic, "completion handle is null or invalid");
    UMPAGER_EXPECTS(done != nullptr, "output pointer is null");
    *done = c->c.query() ? 1 : 0;
  });
}

int umpager_completion_destroy(umpager_completion* c) {
  return guarded([&] {
    if (c == nullptr) return;
    UMPAGER_EXPECTS(c->magic == umpager_completion::kMagic, "completion handle is invalid");
    c->magic = 0;
    delete c;
  });
}

int umpager_launch(umpager_runtime* rt, void (*kernel)(void*), void* arg, umpager_stream* stream,
                   const umpager_access* set, size_t n) {
  return guarded([&] {
    auto& r = live(rt);
    UMPAGER_EXPECTS(kernel != nullptr, "launch: kernel is null");
    const auto accesses = to_cpp(set, n, "launch");
    r.launch([kernel, arg] { kernel(arg); }, view_of(rt, stream, "launch"), accesses);
  });
}

int umpager_declare_begin(umpager_runtime* rt, const umpager_access* set, size_t n, umpager_stream* stream,
                          umpager_declaration** out) {
  return guarded([&] {
    UMPAGER_EXPECTS(out != nullptr, "output pointer is null");
    *out = nullptr;
    auto& r = live(rt);
    const auto accesses = to_cpp(set, n, "declare");
    auto h = std::make_unique<umpager_declaration>();
    h->d = r.declare(accesses, view_of(rt, stream, "declare"));
    *out = h.release();
  });
}

int umpager_declare_end(umpager_declaration* d) {
  return guarded([&] {
    UMPAGER_EXPECTS(d != nullptr && d->magic == umpager_declaration::kMagic, "declaration handle is null or invalid");
    std::unique_ptr<umpager_declaration> owned(d);
    owned->magic = 0;
    owned->d.close();
  });
}

int umpager_attach(umpager_runtime* rt, const void* ptr, int where, umpager_stream* stream) {
  return guarded([&] {
    auto& r = live(rt);
    UMPAGER_EXPECTS(where >= UMPAGER_ATTACH_GLOBAL && where <= UMPAGER_ATTACH_SINGLE, "attach: bad attach value");
    r.attach(ptr, static_cast<umpager::attach_to>(where), view_of(rt, stream, "attach"));
  });
}

int umpager_advise(umpager_runtime* rt, const void* ptr, size_t bytes, int advice, int location, unsigned device) {
  return guarded([&] {
    auto& r = live(rt);
    UMPAGER_EXPECTS(advice >= UMPAGER_ADVISE_SET_READ_MOSTLY && advice <= UMPAGER_ADVISE_UNSET_ACCESSED_BY,
                    "advise: bad advice value");
    UMPAGER_EXPECTS(location == UMPAGER_LOCATION_HOST || location == UMPAGER_LOCATION_DEVICE, "advise: bad location");
    r.advise(ptr, bytes, static_cast<umpager::advice>(advice),
             location == UMPAGER_LOCATION_HOST ? umpager::location::host : umpager::location::device, device);
  });
}

int umpager_query(umpager_runtime* rt, const void* ptr, size_t bytes, umpager_range_info* info,
                  umpager_page_info* pages) {
  return guarded([&] {
    UMPAGER_EXPECTS(info != nullptr, "output pointer is null");
    const umpager::range_info q = live(rt).query(ptr, bytes);
    info->last_prefetch = to_c(q.last_prefetch);
    info->preferred_location = to_c(q.preferred_location);
    info->read_mostly = q.read_mostly ? 1 : 0;
    if (pages == nullptr) return;
    for (std::size_t i = 0; i < q.pages.size(); ++i) {
      pages[i].where = static_cast<int>(q.pages[i].where);
      pages[i].device = q.pages[i].device;
    }
  });
}

int umpager_set_policy(umpager_runtime* rt, int policy) {
  return guarded([&] {
    auto& r = live(rt);
    UMPAGER_EXPECTS(policy >= UMPAGER_POLICY_LRU && policy <= UMPAGER_POLICY_ADAPTIVE, "set_policy: bad policy");
    r.set_policy(static_cast<umpager::policy_kind>(policy));
  });
}

int umpager_device_synchronize(umpager_runtime* rt) {
  return guarded([&] { live(rt).device_synchronize(); });
}

int umpager_synchronize(umpager_runtime* rt) {
  return guarded([&] { live(rt).synchronize(); });
}

int umpager_get_stats(umpager_runtime* rt, umpager_stats* out) {
  return guarded([&] {
    UMPAGER_EXPECTS(out != nullptr, "output pointer is null");
    const umpager::stats s = live(rt).statistics();
    *out = umpager_stats{s.read_faults,     s.write_faults,        s.wp_faults,     s.written_pages_found,
                         s.pages_continued, s.pages_poisoned,      s.bytes_to_device, s.bytes_to_host,
                         s.chunks_evicted,  s.resolver_busy_ns,    s.device_bytes_in_use, s.managed_bytes,
                         s.metadata_bytes, s.stale_faults, s.pages_read_ahead, s.bytes_read_ahead,
                         s.fault_wait_p50_ns, s.fault_wait_p99_ns,
                         s.thrashing_events, s.policy_failures, s.stale_launches, s.device_bytes_slack,
                         s.bytes_from_storage, s.bytes_to_storage, s.io_queue_depth_max, s.storage_read_p50_ns,
                         s.storage_read_p99_ns, s.fault_messages, s.remote_accesses, s.remote_chunk_reaches,
                         s.chunks_migrated, s.bytes_migrated};
  });
}

int umpager_stream_create(umpager_runtime* rt, umpager_stream** out) {
  return guarded([&] {
    UMPAGER_EXPECTS(out != nullptr, "output pointer is null");
    *out = nullptr;
    auto h = std::make_unique<umpager_stream>();
    h->owner = rt;
    h->s.emplace(live(rt).create_stream());
    std::lock_guard g(rt->streams_mutex);
    rt->streams.insert(h.get());
    *out = h.release();
  });
}

int umpager_stream_synchronize(umpager_stream* s) {
  return guarded([&] { live(s).synchronize(); });
}

int umpager_stream_native(umpager_stream* s, void** native) {
  return guarded([&] {
    UMPAGER_EXPECTS(native != nullptr, "output pointer is null");
    *native = live(s).native();
  });
}

int umpager_stream_destroy(umpager_stream* s) {
  return guarded([&] {
    if (s == nullptr) return;
    UMPAGER_EXPECTS(s->magic == umpager_stream::kMagic, "stream handle is invalid");
    {
      std::lock_guard g(s->owner->streams_mutex);
      s->owner->streams.erase(s);
    }
    s->s.reset();  // already empty if the runtime was shut down
    s->magic = 0;
    delete s;
  });
}

const char* umpager_last_error(void) { return last_error.c_str(); }

}  // extern "C"
