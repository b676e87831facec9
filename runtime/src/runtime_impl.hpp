// The state behind umpager::runtime. Members are declared in dependency order,
// so destruction stops resolvers before regions, and regions before the driver.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>

#include "context.hpp"
#include "counters.hpp"
#include "fault_engine.hpp"
#include "fence.hpp"
#include "os/userfaultfd.hpp"
#include "region.hpp"
#include "remote/reach_tables.hpp"
#include "residency.hpp"
#include "homecomings.hpp"
#include "stream_prefetches.hpp"
#include "storage/host_budget.hpp"
#include "storage/io_pool.hpp"
#include "storage/spill_file.hpp"
#include "topology.hpp"
#include "trace_recorder.hpp"
#include "umpager/config.hpp"
#include "umpager/driver.hpp"
#include "umpager/stream.hpp"

namespace umpager::detail {

/// Owns one driver stream.
class owned_stream {
 public:
  explicit owned_stream(driver& d) : drv_(d), h_(d.create_stream()) {}
  ~owned_stream() { drv_.destroy_stream(h_); }
  owned_stream(const owned_stream&) = delete;
  owned_stream& operator=(const owned_stream&) = delete;
  [[nodiscard]] stream_handle get() const noexcept { return h_; }

 private:
  driver& drv_;
  stream_handle h_;
};

class runtime_impl {
 public:
  /// One driver per device (at least one, all with the same chunk size).
  runtime_impl(const config& cfg, std::vector<std::unique_ptr<driver>> drivers, io_engine_factory io = {});
  ~runtime_impl();

  std::shared_ptr<region> find(std::uintptr_t addr) const;
  std::shared_ptr<region> allocate(std::size_t bytes, std::size_t block);
  /// A region whose content is `file` (runtime::map_file, either form; block 0 = the
  /// config's, or 64 KiB).
  std::shared_ptr<region> map_file(std::unique_ptr<storage_file> file, std::size_t block);
  /// Writes a read_write mapped file's written pages back first (throws, keeping the
  /// allocation, if that fails).
  void free(void* base);
  /// Device `k`, or invalid_argument naming `what`.
  unsigned checked_device(unsigned k, const char* what) const;
  /// The driver a stream view belongs to: its own, else device `k`'s (default streams).
  driver& stream_driver(stream_view s, unsigned k) const;
  /// The index of device driver `d` (one of drvs_).
  [[nodiscard]] unsigned device_of(const driver& d) const noexcept;
  stream_handle stream_of(stream_view s, unsigned k) const;
  /// What runtime::statistics() returns.
  stats statistics() const;
  /// Device memory mapped now, over all devices.
  std::size_t device_bytes_in_use() const;
  /// Host memory the regions' memfds hold now.
  std::size_t host_bytes_in_use() const;
  /// The region holding [ptr, ptr+bytes) (bytes > 0, inside one allocation) and the
  /// offset of ptr in it; `what` names the call in the error.
  std::pair<std::shared_ptr<region>, std::size_t> range(const void* ptr, std::size_t bytes, const char* what,
                                                        bool aligned) const;
  /// The attachment of `r` that forbids a declaration on stream `h` (host, or single
  /// to another stream); nothing when one may use it.
  std::optional<attach_state> refusing_attachment(const region& r, stream_handle h) const noexcept;
  /// Refuses a declaration of `r` on stream `h` that its attachment forbids.
  void check_attached(const region& r, stream_handle h, const char* what) const;
  /// The table of `r` on device `k` for an accessor, made on first use; unsupported
  /// where the device cannot reach host memory.
  chunk_table& reach_table(const std::shared_ptr<region>& r, unsigned k, const char* what);
  /// UMPAGER_CHECK_STALE: throws runtime_error if an undeclared launch on device `k`
  /// could read pages the CPU wrote after their upload.
  void check_stale(unsigned k);

  config cfg_;
  /// UMPAGER_TRACE (null when off): opened first, so a bad path fails the start;
  /// destroyed last, after everything that records into it.
  std::unique_ptr<trace_recorder> trace_;
  unsigned resolvers_ = 1;  ///< resolver threads started (config's, or auto)
  std::vector<std::unique_ptr<driver>> drvs_;  ///< by device
  tracking_mode tracking_;
  topology topo_;
  counters count_;
  copy_graveyard graveyard_;  ///< before every lane, after the drivers: outlives the lanes
  os::userfaultfd uffd_;
  std::vector<std::unique_ptr<residency>> res_;       ///< by device
  std::vector<std::unique_ptr<copy_lane>> transfer_;  ///< by device
  std::vector<std::unique_ptr<owned_stream>> default_;  ///< by device
  std::vector<std::unique_ptr<owned_stream>> upload_;   ///< by device: context's device_slot::upload
  readahead_queue ahead_;
  io_pool io_;  ///< storage I/O engines (mapped files, spill), made on first need
  std::unique_ptr<spill_file> spill_;  ///< UMPAGER_SPILL_DIR's file, with a host budget only
  context ctx_;
  mutable std::shared_mutex regions_mutex_;
  std::map<std::uintptr_t, std::shared_ptr<region>> regions_;
  std::unique_ptr<fault_engine> engine_;
  std::unique_ptr<host_budget> budget_;  ///< UMPAGER_HOST_MEMORY's thread; stopped first
  /// The chunk tables of the allocations accessors were made for (runtime::reach).
  reach_tables reaches_;
  /// What each created stream prefetched since its last launch (shared with its streams).
  std::shared_ptr<stream_prefetches> prefetched_ = std::make_shared<stream_prefetches>();
  std::shared_ptr<stream_homecomings> homes_ = std::make_shared<stream_homecomings>();
  /// What the runtime's stream objects tell: both of the above.
  std::shared_ptr<stream_observer> stream_watch_ =
      std::make_shared<stream_fanout>(std::vector<std::shared_ptr<stream_observer>>{prefetched_, homes_});
  /// Cleared once the regions are gone: fences and declarations that outlive the
  /// runtime then leave the (destroyed) drivers alone.
  liveness alive_ = std::make_shared<std::atomic<bool>>(true);
};

/// Chunks an operation pinned, unpinned exactly once (on close or on failure).
struct pin_set {
  runtime_impl* rt = nullptr;
  unsigned device = 0;
  /// Weak: a declaration may outlive the runtime, whose regions must not outlive it.
  std::vector<std::pair<std::weak_ptr<region>, std::size_t>> chunks;
  std::size_t reserved = 0;  ///< chunks admitted by residency::admit, left on release
  /// Admits `n` chunks on `device` (residency::admit) before anything is pinned.
  void reserve(std::size_t n, const char* what);
  /// r->to_device, then takes over the chunks `op` pinned (also when it throws).
  void to_device(const std::shared_ptr<region>& r, std::size_t offset, std::size_t bytes, move_op& op);
  /// r->hold_resident on device `dev`, taking over its pins the same way.
  void hold(const std::shared_ptr<region>& r, std::size_t offset, std::size_t bytes, unsigned dev,
            std::size_t limit = std::numeric_limits<std::size_t>::max());
  void release() noexcept;
  ~pin_set() { release(); }
  /// Runs `move` (which pins into op.pinned), then takes over op.pinned, also when it throws.
  void adopt(const std::shared_ptr<region>& r, move_op& op, const std::function<void()>& move);
};

}  // namespace umpager::detail

namespace umpager::detail {

/// The runtime behind a handle, or closed_error after shutdown.
inline runtime_impl& live(const std::unique_ptr<runtime_impl>& p) {
  if (!p) throw closed_error("umpager runtime is shut down");
  return *p;
}

/// An open declaration (declaration.hpp).
struct declaration_state {
  struct range {
    std::weak_ptr<region> r;
    std::size_t offset, bytes;
    bool writes;
  };
  runtime_impl* rt;
  liveness alive;
  unsigned device;
  stream_handle stream;  ///< the declaring stream (the runtime's default one resolved)
  driver* stream_driver;
  std::vector<range> ranges;
  /// Chunks its kernels reach in host memory: closed with the point (host_reach).
  struct reach {
    std::weak_ptr<region> r;
    std::size_t chunk;
    bool writes;
  };
  std::vector<reach> reaching;
  pin_set pins;
  std::vector<std::weak_ptr<region>> users;  ///< region::users held while open
  ~declaration_state();
};

}  // namespace umpager::detail
