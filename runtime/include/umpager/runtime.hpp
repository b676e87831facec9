/// @file runtime.hpp
/// The C++ API: a runtime owns its driver, regions and resolver threads.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "umpager/buffer.hpp"
#include "umpager/config.hpp"
#include "umpager/driver.hpp"
#include "umpager/error.hpp"
#include "umpager/stats.hpp"
#include "umpager/stream.hpp"

namespace umpager {

enum class location { host, device };

namespace detail {
class runtime_impl;
}

class runtime {
 public:
  /// Starts the driver and the resolver threads. Throws on a bad config or an
  /// unusable kernel/driver, with a message that says what to change.
  explicit runtime(const config& cfg = config::from_env());
  /// Uses a driver the caller built (tests, fault injection). `cfg.driver` is ignored.
  runtime(const config& cfg, std::unique_ptr<driver> drv);
  /// Several devices, one driver each (device k = drivers[k]); same chunk size on all.
  runtime(const config& cfg, std::vector<std::unique_ptr<driver>> drivers);
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  /// Managed memory of `bytes` (rounded up to the block size); `block_size` 0 = config's.
  [[nodiscard]] buffer allocate(std::size_t bytes, std::size_t block_size = 0);
  /// Frees an allocation by its host pointer (what buffer's destructor does).
  void free(void* host_ptr);
  /// The address on device `device` of a host address inside an allocation.
  [[nodiscard]] void* device_pointer(const void* host_ptr, unsigned device = 0) const;
  /// Moves [ptr, ptr+bytes) to `where` (the device: `device`; a page is resident on one
  /// device at most, so pages on another device move, by peer copy where the drivers
  /// can). Work already on `s` completes first; the move is done when the call returns
  /// (see docs/api.md).
  void prefetch(const void* ptr, std::size_t bytes, location where, stream_view s = {}, unsigned device = 0);
  /// Enqueues `fn` on `s` (the runtime's default stream if `s` is default): a kernel
  /// on the simulated device; a host function on CUDA (see driver::launch).
  void launch(std::function<void()> fn, stream_view s = {});
  /// Waits for the runtime's default streams (streams from create_stream() have
  /// their own synchronize()).
  void synchronize();
  [[nodiscard]] stream create_stream(unsigned device = 0);
  /// Devices this runtime drives (config::devices, or the drivers it was given).
  [[nodiscard]] unsigned devices() const noexcept;
  /// Device memory mapped on `device` now.
  [[nodiscard]] std::size_t device_bytes_in_use(unsigned device) const;
  [[nodiscard]] stats statistics() const;
  [[nodiscard]] const config& configuration() const noexcept;
  /// Tracking actually in use (automatic resolved).
  [[nodiscard]] tracking_mode tracking() const noexcept;
  /// Resolver threads running (config::resolvers, or the automatic count); 0 after shutdown.
  [[nodiscard]] unsigned resolvers() const noexcept;
  [[nodiscard]] driver& device_driver(unsigned device = 0);
  /// Stops resolvers and frees everything; later calls throw closed_error.
  void shutdown();

 private:
  std::unique_ptr<detail::runtime_impl> impl_;
};

}  // namespace umpager
