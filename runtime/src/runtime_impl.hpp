// The state behind umpager::runtime. Members are declared in dependency order,
// so destruction stops resolvers before regions, and regions before the driver.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>

#include "context.hpp"
#include "counters.hpp"
#include "fault_engine.hpp"
#include "os/userfaultfd.hpp"
#include "region.hpp"
#include "residency.hpp"
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
  runtime_impl(const config& cfg, std::vector<std::unique_ptr<driver>> drivers);
  ~runtime_impl();

  std::shared_ptr<region> find(std::uintptr_t addr) const;
  std::shared_ptr<region> allocate(std::size_t bytes, std::size_t block);
  void free(void* base);
  /// Device `k`, or invalid_argument naming `what`.
  unsigned checked_device(unsigned k, const char* what) const;
  /// The driver a stream view belongs to: its own, else device `k`'s (default streams).
  driver& stream_driver(stream_view s, unsigned k) const;
  stream_handle stream_of(stream_view s, unsigned k) const;
  /// What runtime::statistics() returns.
  stats statistics() const;
  /// Device memory mapped now, over all devices.
  std::size_t device_bytes_in_use() const;

  config cfg_;
  /// UMPAGER_TRACE (null when off): opened first, so a bad path fails the start;
  /// destroyed last, after everything that records into it.
  std::unique_ptr<trace_recorder> trace_;
  unsigned resolvers_ = 1;  ///< resolver threads started (config's, or auto)
  std::vector<std::unique_ptr<driver>> drvs_;  ///< by device
  tracking_mode tracking_;
  topology topo_;
  counters count_;
  os::userfaultfd uffd_;
  std::vector<std::unique_ptr<residency>> res_;       ///< by device
  std::vector<std::unique_ptr<copy_lane>> transfer_;  ///< by device
  std::vector<std::unique_ptr<owned_stream>> default_;  ///< by device
  readahead_queue ahead_;
  context ctx_;
  mutable std::shared_mutex regions_mutex_;
  std::map<std::uintptr_t, std::shared_ptr<region>> regions_;
  std::unique_ptr<fault_engine> engine_;
};

}  // namespace umpager::detail
