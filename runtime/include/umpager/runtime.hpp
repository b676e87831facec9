/// @file runtime.hpp
/// The C++ API: a runtime owns its driver, regions and resolver threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "umpager/access.hpp"
#include "umpager/buffer.hpp"
#include "umpager/completion.hpp"
#include "umpager/declaration.hpp"
#include "umpager/device_span.hpp"
#include "umpager/eviction_policy.hpp"
#include "umpager/range_info.hpp"
#include "umpager/config.hpp"
#include "umpager/driver.hpp"
#include "umpager/error.hpp"
#include "umpager/io_engine.hpp"
#include "umpager/span.hpp"
#include "umpager/stats.hpp"
#include "umpager/stream.hpp"

namespace umpager {

enum class location { host, device };
/// map_file: read_only never writes the file (CPU writes stay in memory, like
/// MAP_PRIVATE); read_write writes written pages back on flush() and on free.
enum class file_access { read_only, read_write };

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
  /// With the storage tier's I/O engines made by `io` (io_engine.hpp; tests inject failures).
  runtime(const config& cfg, std::unique_ptr<driver> drv, io_engine_factory io);
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  /// Managed memory of `bytes` (rounded up to the block size); `block_size` 0 = config's
  /// granularity, `adaptive_block` = adaptive, else a fixed block (power of two, 4K..2M).
  [[nodiscard]] buffer allocate(std::size_t bytes, std::size_t block_size = 0);
  /// Managed memory whose content is the file at `path` (the storage tier): nothing is
  /// read until a CPU touch or a prefetch needs a page, so the file may be larger than
  /// RAM. The size is the file's, rounded up to the block size (bytes past the end read
  /// as zeros and are never written). With read_write, pages written by the CPU or by a
  /// device go back to the file on flush() and on free. invalid_argument for a missing
  /// file, a directory, an empty or non-regular file; system_error without permission.
  /// A file truncated while mapped: touches of pages past its new end get SIGBUS, and
  /// flush throws runtime_error. See docs/api.md "Mapped files".
  [[nodiscard]] buffer map_file(const std::string& path, file_access mode, std::size_t block_size = 0);
  /// map_file of `length` bytes at `offset` of the open file `fd` (a program that made
  /// and sized its file itself, or maps part of one). The runtime keeps a duplicate of
  /// `fd`: the caller may close theirs at once. `length` 0 = to the end of the file.
  /// offset must be a multiple of 4096 and inside the file, and offset+length within
  /// it; length a multiple of 4096 unless the range ends at the end of the file. Only
  /// [offset, offset+length) is ever read or written; bytes of the allocation past it
  /// read as zeros. `mode` must fit fd's access mode (read_write needs O_RDWR, and no
  /// O_APPEND). invalid_argument for those, a non-regular file or an O_WRONLY/O_PATH
  /// fd; system_error(EBADF) for a descriptor that is not open. Messages name "fd N".
  [[nodiscard]] buffer map_file(int fd, file_access mode, std::uint64_t offset = 0, std::size_t length = 0,
                                std::size_t block_size = 0);
  /// Writes the written pages of [ptr, ptr+bytes) of a read_write mapped file to the
  /// file (device copies first brought home), then fdatasync: durable on return, as
  /// msync(MS_SYNC). A read_only mapped file: nothing to do; not a mapped file:
  /// invalid_argument. On an I/O error (EIO, ENOSPC, truncation) throws; the pages stay
  /// in memory, dirty.
  void flush(const void* ptr, std::size_t bytes);
  /// Frees an allocation by its host pointer (what buffer's destructor does). A
  /// read_write mapped file is flushed first; if that fails it throws and stays allocated.
  void free(void* host_ptr);
  /// The address on device `device` of a host address inside an allocation.
  [[nodiscard]] void* device_pointer(const void* host_ptr, unsigned device = 0) const;
  /// Moves [ptr, ptr+bytes) to `where` (the device: `device`; a page is resident on one
  /// device at most, so pages on another device move, by peer copy where the drivers
  /// can). On a stream you created the move is stream-ordered and asynchronous: the
  /// call returns once it is enqueued, later work on `s` sees the moved data, and the
  /// chunks stay pinned until `s` passes them. On the default stream (like CUDA's
  /// legacy default stream) the move is done when the call returns, and a move to the
  /// host first waits for every stream of the device. See docs/api.md "Ordering".
  completion prefetch(const void* ptr, std::size_t bytes, location where, stream_view s = {}, unsigned device = 0);
  /// Enqueues `fn` on `s` with no access set (a kernel on the simulated device; a
  /// host function on CUDA). Every allocation an accessor was made for (reach) is
  /// declared reachable for it, read and written, so kernels using accessors are safe;
  /// raw device pointers get nothing made resident. UMPAGER_CHECK_STALE=1 checks them.
  void launch(std::function<void()> fn, stream_view s = {});
  /// A declared launch of a portable kernel: makes the `resident` ranges of `set`
  /// resident on `device` (evicting per the policy, never a range of the same set),
  /// readies the `reachable` ones where they are, enqueues `kernel` on `s`, pins the
  /// set until `s` passes the kernel, after which the written resident ranges are
  /// device copies (a CPU touch faults them back). Resident ranges larger than the
  /// device budget are out_of_memory; reachable ones run partly in host memory.
  void launch(std::function<void()> kernel, stream_view s, span<const access> set, unsigned device = 0);
  /// What an accessor needs of an allocation's chunk table (reach): see device_span.hpp.
  struct reach_view {
    const std::uint64_t* table;
    unsigned* counts;
    std::size_t first_byte;
    unsigned chunk_shift;
  };
  /// An accessor over `count` elements of T from `ptr` (inside one allocation) for
  /// kernels on device `device`: each element is reached where its chunk is (device
  /// memory if resident there, else host memory, zero-copy), whatever is resident. Its
  /// kernels run in launches that declare the range access_kind::reachable, or in
  /// launches with no set. invalid_argument for a range outside a live allocation or
  /// an element that would straddle two chunks; unsupported where the device cannot
  /// reach host memory. See docs/api.md "Reaching memory that is not resident".
  template <class T>
  [[nodiscard]] device_span<T> reach(T* ptr, std::size_t count, unsigned device = 0) {
    const reach_view v = reach_bytes(ptr, count, sizeof(T), device);
    return device_span<T>(v.table, v.counts, v.first_byte, count, v.chunk_shift);
  }
  /// reach's untyped part: `count` elements of `element` bytes from `ptr`.
  [[nodiscard]] reach_view reach_bytes(const void* ptr, std::size_t count, std::size_t element, unsigned device = 0);
  /// For kernels the application launches itself (on stream::native()): makes `set`
  /// resident now and pins it until the stream passes the point the declaration
  /// records when closed (after the user's kernels). See declaration.hpp.
  [[nodiscard]] declaration declare(span<const access> set, stream_view s, unsigned device = 0);
  /// cudaStreamAttachMemAsync for the allocation containing `ptr`: global (the
  /// default: any stream's declarations may use it), host (no declaration may use it;
  /// the CPU may use it while kernels run), single (only declarations on `s`).
  void attach(const void* ptr, attach_to where, stream_view s = {});
  /// cudaMemAdvise over [ptr, ptr+bytes) (4096-aligned, inside one allocation).
  /// read_mostly: copies on both sides, a CPU write invalidates that page's device
  /// copy. preferred_location (`where`, `device`): eviction order (host-preferred
  /// chunks leave first, device-preferred last); applies to whole 2 MiB chunks.
  /// accessed_by: device `device` reaches the allocation where it is (reachable
  /// ranges of it are never moved there by access counts); unset clears it.
  void advise(const void* ptr, std::size_t bytes, advice a, location where = location::device, unsigned device = 0);
  /// Where each page of [ptr, ptr+bytes) is, the last prefetch location and the advice in force.
  [[nodiscard]] range_info query(const void* ptr, std::size_t bytes) const;
  /// Waits for the runtime's default streams (streams from create_stream() have
  /// their own synchronize()).
  void synchronize();
  /// Like cudaDeviceSynchronize: waits for every stream of every device, those from
  /// create_stream() and the runtime's own included; throws driver_error if any failed.
  void device_synchronize();
  /// Replaces device `device`'s eviction policy; the resident chunks are handed to
  /// the new one (least recently used first).
  void set_policy(policy_kind kind, unsigned device = 0);
  void set_policy(std::unique_ptr<eviction_policy> policy, unsigned device = 0);
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
