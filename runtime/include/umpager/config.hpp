/// @file config.hpp
/// Runtime configuration: a plain struct, optionally read from UMPAGER_* variables.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace umpager {

enum class driver_kind { automatic, sim, cuda };
/// Eviction policy of the device budget (eviction_policy.hpp); see docs/architecture.md.
enum class policy_kind {
  lru,      ///< least recently used
  fifo,     ///< first resident, first out
  clock,    ///< second chance
  adaptive  ///< LRU, switching to most-recently-used first while re-fetches of evicted chunks show a scan larger than the device
};
/// How CPU writes to pages with a valid device copy are found.
/// What a resolver sleeps on (UMPAGER_RESOLVER_WAIT): its own io_uring, or epoll.
enum class resolver_wait_kind {
  automatic,  ///< io_uring, or epoll where the kernel refuses a ring
  io_uring,   ///< io_uring only: the runtime fails to start without it
  epoll       ///< epoll (the loop before io_uring; kept for comparison and locked-down kernels)
};

enum class tracking_mode {
  automatic,  ///< wp_async where the kernel has it, else sync
  wp_async,   ///< UFFD_FEATURE_WP_ASYNC + PAGEMAP_SCAN: no fault per written page
  sync,       ///< a write-protect fault per first write to a page
  off         ///< no tracking: every page not on the device is uploaded again
};
/// allocate()'s block argument for an adaptive allocation, whatever config::block_size says.
inline constexpr std::size_t adaptive_block = ~std::size_t{0};

struct config {
  driver_kind driver = driver_kind::automatic;   ///< UMPAGER_DRIVER=auto|sim|cuda
  std::size_t device_memory = 0;                 ///< UMPAGER_DEVICE_MEMORY (bytes, K/M/G suffix) per device; 0 = driver default
  unsigned devices = 1;                          ///< UMPAGER_DEVICES: devices to drive, 1..16 (CUDA devices 0..n-1, or simulated)
  /// UMPAGER_BLOCK_SIZE=adaptive|4K..2M: what one CPU fault maps, for allocate(bytes).
  /// 0 = adaptive: from 4 KiB up to the whole chunk, growing with the fault density
  /// around the page (docs/architecture.md, "Fault granularity"); else a fixed block,
  /// a power of two from 4K to 2M.
  std::size_t block_size = 0;
  unsigned resolvers = 0;                        ///< UMPAGER_RESOLVERS: resolver threads, 1..64; 0 = auto (a quarter of the resolvers' CPUs, 1..4)
  std::string cpuset;                            ///< UMPAGER_CPUSET: CPUs for resolvers ("0-3,6"); "" = near the device
  tracking_mode tracking = tracking_mode::automatic;  ///< UMPAGER_TRACKING=auto|wp_async|sync|off
  bool kernel_faults = true;                     ///< UMPAGER_KERNEL_FAULTS=1|0: serve faults taken inside system calls
  unsigned copy_timeout_ms = 10000;              ///< UMPAGER_COPY_TIMEOUT_MS: a device copy slower than this fails (1..3600000)
  /// UMPAGER_SINGLE_POINTER=1|0: map each allocation's CPU view at its device address,
  /// so one pointer works on the CPU and in kernels (needs driver_info::host_at_device_va).
  bool single_pointer = false;
  /// UMPAGER_READAHEAD: how far ahead of a sequential CPU read scan resolvers map
  /// (bytes, K/M/G suffix; 0 = off). Used only with blocks larger than 4 KiB.
  std::size_t readahead_bytes = std::size_t{16} << 20;
  /// UMPAGER_STATS=1|0: print a summary of statistics() to stderr at shutdown.
  bool stats_summary = false;
  /// UMPAGER_TRACE=file.json: write a Chrome trace-event file (Perfetto) at shutdown;
  /// opened when the runtime starts. "" = no trace. See docs/observability.md.
  std::string trace_file;
  /// UMPAGER_POLICY=lru|fifo|clock|adaptive: which resident chunk leaves the device first.
  policy_kind policy = policy_kind::adaptive;
  /// UMPAGER_CHECK_STALE=1|0: debug mode; an undeclared launch fails with runtime_error when
  /// the CPU wrote a device-resident page since its last upload (the kernel would read stale data).
  bool check_stale = false;
  /// migrate_after's "auto": as many accesses as a chunk's bytes / 64 (a migration costs
  /// the chunk's bytes, a host-memory access about one 64-byte transfer: moving once the
  /// remote traffic has cost as much is within 2x of the best offline choice).
  static constexpr std::uint64_t kMigrateAuto = 0;
  static constexpr std::uint64_t kMigrateNever = ~std::uint64_t{0};
  /// UMPAGER_MIGRATE_AFTER=auto|never|N: a chunk of a reachable range reached N times in
  /// host memory (counted by the accessors since it last moved) is moved onto the device
  /// by the next launch that declares it (evicting per the policy, within the budget).
  /// 1 moves on first touch (as UVM does); never keeps every chunk where it is.
  std::uint64_t migrate_after = kMigrateAuto;
  /// UMPAGER_CHUNKS_AHEAD=1|0: allocate creates the device chunks the allocation will
  /// need on device 0 (within its budget) rather than the first move there.
  bool chunks_ahead = true;
  /// resolver_spin_us's "auto": 50 us where resolvers have 2 or more CPUs and the kernel reports
  /// CPU pressure (PSI), or 4 or more without it; else 0. A spin pauses while more threads
  /// fault than leave it a CPU, and while tasks wait for a CPU (docs/architecture.md).
  static constexpr unsigned kSpinAuto = 0xffffffffu;
  /// UMPAGER_RESOLVER_SPIN_US=auto|0..10000: the most a resolver busy-polls for the next
  /// fault after serving one, in microseconds; the spin adapts below it (0 = always sleep).
  unsigned resolver_spin_us = kSpinAuto;
  /// UMPAGER_RESOLVER_WAIT=auto|io_uring|epoll: what resolvers sleep on.
  resolver_wait_kind resolver_wait = resolver_wait_kind::automatic;
  /// UMPAGER_HOST_MEMORY: bytes of managed data kept in host memory (K/M/G suffix; 0 = no
  /// budget: every allocation keeps a complete host copy and cannot exceed RAM). With a
  /// budget, pages past it move to the storage tier (a spill file in spill_dir) and
  /// allocations larger than RAM are accepted. See docs/architecture.md "Storage tier".
  std::size_t host_memory = 0;
  /// UMPAGER_SPILL_DIR: directory of the spill file (one O_TMPFILE, mode 0600, gone at
  /// exit; O_DIRECT where the filesystem allows). "" = $TMPDIR, else /var/tmp.
  std::string spill_dir;
  /// UMPAGER_PAGE_CACHE=0|1: 0 (the default) reads and writes mapped files with O_DIRECT
  /// where the filesystem allows, and drops from the page cache what buffered I/O leaves
  /// (a filesystem without O_DIRECT, a file's partial last page), so the host budget
  /// bounds the file's pages too. 1: through the page cache (the kernel's read-ahead; a
  /// file hot in the cache is read from there), which host_memory does not bound.
  bool page_cache = false;

  /// Defaults overridden by every UMPAGER_* variable that is set; throws
  /// umpager::invalid_argument naming the variable and the accepted values.
  static config from_env();
  /// Field by field (defined in the library, where C++20 writes it for every field).
  bool operator==(const config&) const;
  bool operator!=(const config& o) const { return !(*this == o); }
  /// Throws umpager::invalid_argument if a field is out of range.
  void validate() const;
};

[[nodiscard]] const char* to_string(driver_kind k) noexcept;
[[nodiscard]] const char* to_string(tracking_mode m) noexcept;
[[nodiscard]] const char* to_string(policy_kind p) noexcept;
/// "lru", "fifo", "clock", "adaptive"; throws invalid_argument naming `what`.
policy_kind parse_policy(const std::string& text, const char* what);
/// Parses "4096", "64K", "2M", "1G" (binary units); throws invalid_argument naming `what`.
std::size_t parse_size(const std::string& text, const char* what);
/// Every UMPAGER_* variable umpager reads (config::from_env warns about any other).
[[nodiscard]] std::vector<std::string> known_variables();

}  // namespace umpager
