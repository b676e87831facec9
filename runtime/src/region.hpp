// One managed allocation: a memfd seen through the user view (registered with
// userfaultfd) and the alias view (the runtime's and the driver's), plus a device
// VA range where 2 MiB chunks are mapped while resident. Implements every page
// transition of design.md, each under the lock of the chunk it touches.
//
// Rules with state of their own live beside it, each its own class with its own unit
// test, and region only wires them in: sequential_detector.hpp (is a scan sequential,
// how far ahead to read), density.hpp (how far an adaptive fault grows, from the page
// table's mapped bits and the chunk's fault count), inflight.hpp (the streams whose
// work may still use a chunk: idle, wait, pin), chunk_lock.hpp (a held chunk lock as
// a type: what a chunk's lock guards is reached with that chunk's proof).
// region's own code is split by idea: region.cpp (views, copies, mapping),
// region_faults.cpp (the resolver's service of a block), region_readahead.cpp,
// region_write_ahead.cpp (speculative write mapping), region_transitions.cpp (to the
// device, home, eviction), region_reach.cpp (kernels reaching chunks in host memory,
// whose claims are a host_reach of its own, remote/host_reach.hpp), region_moves.cpp (between devices), region_pins.cpp (work
// in flight), region_advice.cpp (advice, queries), region_storage.cpp,
// region_storage_async.cpp and region_spill.cpp (the storage tier).
#pragma once

#include <atomic>
#include <bitset>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "chunk_lock.hpp"
#include "context.hpp"
#include "density.hpp"
#include "fault.hpp"
#include "fence.hpp"
#include "inflight.hpp"
#include "os/fd.hpp"
#include "os/mapping.hpp"
#include "os/vma.hpp"
#include "page_table.hpp"
#include "remote/host_reach.hpp"
#include "sequential_detector.hpp"
#include "umpager/io_engine.hpp"
#include "umpager/range_info.hpp"

namespace umpager::detail {

class region;
class resolver_wait;
class storage_read;
struct storage_file;

/// Places in advice and queries: nowhere (no advice, no prefetch yet), the host, or device k >= 0.
inline constexpr int kNowhere = -2;
inline constexpr int kPreferHost = -1;

/// What the residency of a device (residency.cpp) keeps of a chunk resident there;
/// only it reads or writes these, under its mutex.
struct residency_record {
  bool linked = false;           ///< in that residency's policy
  unsigned pins = 0;             ///< operations (prefetch, declaration) running that need it resident
  std::uint64_t last_use = 0;    ///< residency clock at the last fetch or use
  std::uint64_t evicted_at = 0;  ///< residency clock at the last eviction (thrashing window)
  unsigned refetches = 0;        ///< fetches soon after an eviction, in a row
};

/// Bookkeeping of one chunk-sized piece of a region.
struct region_chunk {
  std::mutex lock;      ///< orders faults and transitions on these pages
  chunk_handle device;  ///< physical chunk mapped at this piece's device VA, if resident
  unsigned on = 0;      ///< the device it is resident on (one at most)
  /// The residency's record of it, guarded by the residency mutex of device `on`.
  residency_record placed;
  std::uint64_t zapped_at = 0;  ///< context::zap_clock at this chunk's last zap
  std::uint64_t mapped_at = 0;  ///< context::zap_clock after this chunk's last CONTINUE (region::map_pages)
  /// Work in flight that uses the chunk, one record per stream; guarded by `lock`.
  work_in_flight inflight;
  std::atomic<int> preferred{kNowhere};      ///< preferred-location advice
  std::atomic<int> last_prefetch{kNowhere};  ///< where the last prefetch moved it
  std::atomic<std::uint32_t> accessed_by{0};  ///< accessed_by advice: bit k for device k
  std::atomic<std::uint64_t> host_used{0};   ///< context::host_clock when last mapped (host budget)
  /// Write read-ahead: the bytes of this chunk's speculative pages when they were
  /// mapped writable (null while it has none); guarded by `lock`.
  std::unique_ptr<std::byte[]> snapshot;
  /// Stream-ordered uploads not yet known to have landed, guarded by `lock`: the pages
  /// they moved are marked device copies when enqueued, and go back to `host` (whose
  /// copy is intact) if the upload failed (region::settle_uploads_locked).
  struct upload {
    std::shared_ptr<fence> copied;                          ///< recorded after its copies
    std::vector<std::pair<std::size_t, std::size_t>> runs;  ///< pages [first, end) it copied
    std::uint64_t zapped_at = 0;  ///< the chunk's zap clock then: a declared writer since zaps it
  };
  std::vector<upload> uploads;
  /// Asynchronous storage reads in flight into this chunk (0 or 1); set under `lock`,
  /// cleared by the read's completion, which notifies (region_storage_async.cpp).
  std::atomic<unsigned> reading{0};

  /// Adaptive granularity: faults served since the last zap; guarded by `lock`, so
  /// reached only with this chunk's proof (another chunk's aborts).
  [[nodiscard]] chunk_density& density(const locked_chunk& held) noexcept {
    held.check(lock);
    return density_;
  }

 private:
  chunk_density density_;
};

/// One residency operation (a prefetch or a declaration's ranges) on device `device`.
struct move_op {
  unsigned device = 0;
  /// Null: synchronous, on the device's copy lane. Else the uploads are enqueued on it,
  /// `point` is recorded after each chunk's and pins the chunk (writes).
  stream_handle stream{};
  std::shared_ptr<fence> point;
  /// The uploads go on the device's upload stream, which `stream` waits for (per chunk,
  /// by the point of each chunk's uploads), so they overlap kernels already queued there.
  bool uploads_aside = false;
  bool read_only = false;  ///< a declared read: uploaded pages stay valid on the host (shared)
  bool prefetch = false;   ///< recorded as the chunks' last prefetch location
  std::size_t uploaded = 0;  ///< bytes its uploads copied
  /// Chunks this operation pinned (residency::unpin each once it is over).
  std::vector<std::pair<region*, std::size_t>> pinned;
};

/// One chunk's part of a prefetch home ordered on a stream (region::to_host_ordered):
/// its device pages [first, end) are copied home before `point`; region::land maps
/// them once the point passed without failure.
struct pending_home {
  std::size_t chunk = 0;
  std::size_t first = 0;  ///< pages
  std::size_t end = 0;
  std::uint64_t zapped_at = 0;  ///< the chunk's zap clock when the copies were enqueued
  std::shared_ptr<fence> point;
};

enum class attach_state : int { global = 0, host = 1, single = 2 };

class region : public std::enable_shared_from_this<region> {
 public:
  /// `adaptive`: faults map from 4 KiB (`block_bytes`) up to the chunk, by density (density.hpp).
  /// With `file` (map_file, or a spill file under a host budget): every page starts in the
  /// `storage` state and is read from the file when first needed; the view is registered
  /// MISSING | MINOR for that.
  region(context& ctx, std::size_t bytes, std::size_t block_bytes, bool adaptive = false,
         std::unique_ptr<storage_file> file = nullptr);
  ~region();
  region(const region&) = delete;
  region& operator=(const region&) = delete;

  [[nodiscard]] std::byte* user() const noexcept { return user_.data(); }
  /// The alias view: the host bytes the runtime and the devices reach.
  [[nodiscard]] std::byte* alias() const noexcept { return alias_.data(); }
  [[nodiscard]] std::size_t chunk_bytes() const noexcept { return chunk_bytes_; }
  /// This region's VA range on device `k` (chunks are mapped there while resident on k).
  [[nodiscard]] std::byte* device(unsigned k = 0) const noexcept { return device_[k]; }
  [[nodiscard]] std::size_t size() const noexcept { return bytes_; }
  [[nodiscard]] std::size_t block_bytes() const noexcept { return block_; }
  [[nodiscard]] bool adaptive() const noexcept { return adaptive_; }
  [[nodiscard]] std::size_t metadata_bytes() const noexcept;
  [[nodiscard]] bool contains(std::uintptr_t a) const noexcept {
    auto b = reinterpret_cast<std::uintptr_t>(user_.data());
    return a >= b && a < b + bytes_;
  }
  [[nodiscard]] std::size_t chunk_count() const noexcept { return chunks_.size(); }
  [[nodiscard]] region_chunk& chunk(std::size_t i) noexcept { return chunks_[i]; }

  /// Serves the faults of one block (all in `faults`, at most 64); never throws: a fault
  /// that cannot be served is poisoned (the thread gets SIGBUS), never left waiting.
  /// `read_at` is context::zap_clock sampled before the messages were read.
  /// `lanes[k]` copies on device k. Each message is counted before its thread is woken:
  /// a served one in `mine` by kind, one only woken in stale_faults. Returns the
  /// messages only woken, bit i for faults[i].
  std::uint64_t resolve(std::size_t block, std::span<const fault> faults, std::span<copy_lane* const> lanes,
                        std::uint64_t read_at, counters::resolver_counts& mine) noexcept;

  /// Read-ahead (readahead.hpp): maps [first_page, end_page), one chunk's pages, from
  /// the device copy unless the chunk was zapped after `queued_at`. Never throws; a
  /// page it cannot bring is left to fault.
  /// `writable`: a write scan's (wp_async tracking): the pages are mapped writable and
  /// speculative (region_write_ahead.cpp), so its writes take no fault at all.
  /// `ring`: the resolver's own ring, on which reads from storage complete
  /// asynchronously (null: epoll, or not a resolver: they are synchronous).
  void read_ahead(std::size_t first_page, std::size_t end_page, std::span<copy_lane* const> lanes,
                  std::uint64_t queued_at, bool writable = false, resolver_wait* ring = nullptr) noexcept;

  /// Makes [offset, offset+bytes) resident on device op.device (design: zap, scan,
  /// upload); chunks resident on another device move (peer copy, else through the
  /// host). Every chunk touched is pinned and listed in op.pinned. The caller admitted
  /// the range's chunks first (residency::admit), which refuses more than the budget.
  void to_device(std::size_t offset, std::size_t bytes, move_op& op);
  /// Brings [offset, offset+bytes) to the host and maps it (write-protected where the
  /// device copy stays valid), after the writers in flight on those chunks.
  void to_host(std::size_t offset, std::size_t bytes);
  /// The same, ordered on stream `s` of device `dev` (driver `d`) without waiting for
  /// it: the copies of the range's device pages resident on `dev` are enqueued on `s`
  /// after the writers of other streams (by event), and their chunks pinned as written
  /// until each chunk's point, so faults and moves wait for the copies. What has no
  /// copy to make is mapped at once; chunks resident on another device come home now,
  /// as to_host does. Returns what land() maps later.
  std::vector<pending_home> to_host_ordered(std::size_t offset, std::size_t bytes, driver& d, unsigned dev,
                                            stream_handle s, const liveness& alive);
  /// Maps the pages of `h` still as its copies left them (no zap since), once the
  /// caller knows its point passed without failure; a page moved since is left alone.
  void land(const pending_home& h);
  /// A declaration closed: [offset, offset+bytes) was written by the kernel(s) before
  /// `point` on `s`: zap, the pages become device copies, pinned until `point`.
  void declared_done(std::size_t offset, std::size_t bytes, bool writes, stream_handle s,
                     const std::shared_ptr<fence>& point);

  // --- kernels reaching memory that is not resident (region_reach.cpp) --------
  /// Chunks of [offset, offset+bytes) resident on device `dev` now.
  [[nodiscard]] std::size_t resident_chunks(std::size_t offset, std::size_t bytes, unsigned dev);
  /// Readies chunk `c`'s pages [first, end) to be reached in host memory by a kernel on
  /// device `dev` and opens the chunk's claim (host_reach::open; the caller closes or
  /// abandons it): storage pages are read in, device copies brought home (they stay
  /// valid there, `shared`), and with `writes` the pages lose their device copies and
  /// their storage backing, since the kernel writes the host bytes themselves.
  void reach_host(std::size_t c, std::size_t first, std::size_t end, bool writes);
  /// The claims of kernels reaching chunks in host memory.
  [[nodiscard]] host_reach& reached() noexcept { return reached_; }

  // --- storage (region_storage.cpp) ------------------------------------------
  /// Made by map_file with read_write: written pages go back to the file.
  [[nodiscard]] bool writes_back() const noexcept;
  /// Writes the pages of [offset, offset+bytes) written since they were read (or last
  /// flushed) to the file, device copies first brought home; throws runtime_error naming
  /// the file on an I/O error, ENOSPC or a file truncated while mapped (the pages then
  /// stay in memory, still written).
  void flush(std::size_t offset, std::size_t bytes);
  /// Host budget: moves chunk `c`'s host copies out of host memory (design.md order:
  /// zap, find what was written, write it to storage in one batch, change the states,
  /// punch the memfd). Pages with a valid copy elsewhere are just dropped; a page that
  /// cannot be written stays in memory and the error is thrown after the rest is done.
  /// Returns the pages punched. A region without storage, a busy chunk, or one mapped
  /// after the host clock `seen_used` (the caller's coldness snapshot is stale): 0.
  std::size_t release_host(std::size_t c, std::uint64_t seen_used = std::numeric_limits<std::uint64_t>::max());
  /// Host memory the memfd holds now (allocated pages).
  [[nodiscard]] std::size_t host_bytes() const noexcept;
  /// Context clock of the last time chunk `c`'s pages were mapped or read (coldest first).
  [[nodiscard]] std::uint64_t host_used(std::size_t c) const noexcept {
    return chunks_[c].host_used.load(std::memory_order_relaxed);
  }
  [[nodiscard]] bool has_storage() const noexcept { return file_ != nullptr; }

  // --- work in flight (region_pins.cpp, over each chunk's work_in_flight) -----
  // The caller holds chunk(c).lock.
  /// No stream still uses chunk `c` (its records are all passed; drops them).
  bool idle_locked(std::size_t c);
  /// Waits for the records of `c` that write (all when `writers_only` is false);
  /// false if they did not finish within context::wait_ms.
  bool wait_locked(std::size_t c, bool writers_only);
  /// Adds or updates `s`'s record on chunk `c`.
  void pin_locked(std::size_t c, stream_handle s, const std::shared_ptr<fence>& point, bool writes,
                  bool open_ended = false);
  /// Some chunk is pinned by work in flight (checked at free).
  bool in_flight();
  /// Pins the chunks of [offset, offset+bytes) already resident on device op.device
  /// (listed in op.pinned, a use for the policy), at most `limit`, and moves nothing:
  /// a declaration holds what it will hit before its misses choose victims.
  void hold_resident(std::size_t offset, std::size_t bytes, move_op& op,
                     std::size_t limit = std::numeric_limits<std::size_t>::max());

  // --- advice and queries (region_advice.cpp) ----------------------------------
  void set_read_mostly(std::size_t offset, std::size_t bytes, bool on);
  void set_preferred(std::size_t offset, std::size_t bytes, int where);
  void set_accessed_by(std::size_t offset, std::size_t bytes, unsigned device, bool on);
  [[nodiscard]] bool accessed_by(std::size_t c, unsigned device) const noexcept {
    return (chunks_[c].accessed_by.load(std::memory_order_relaxed) >> device & 1U) != 0;
  }
  range_info query(std::size_t offset, std::size_t bytes);
  /// Pages resident on device `k` that the CPU wrote after their upload (UMPAGER_CHECK_STALE);
  /// `first` is the offset of the first.
  std::size_t stale_pages(unsigned k, std::size_t& first);

  std::atomic<attach_state> attached{attach_state::global};
  std::atomic<void*> attached_stream{nullptr};  ///< attach_state::single: the stream's impl
  std::atomic<bool> thrash_warned{false};       ///< the one thrashing warning was printed
  std::atomic<unsigned> users{0};               ///< prefetches and declarations running on it
  /// Copies device-only pages of chunk `c` home and unmaps its device chunk; the caller
  /// holds chunk(c).lock. Returns the freed physical chunk.
  chunk_handle evict_locked(std::size_t c);

 private:
  template <class Fn>
  void for_each_chunk(std::size_t first_page, std::size_t end_page, Fn&& fn);
  /// to_host's work on pages [p, e) of chunk `c` (its lock held): after the writers,
  /// copy the device pages home on the transfer lane, read what storage holds, map.
  void home_locked(std::size_t c, std::size_t p, std::size_t e);
  /// The copies of the runs of pages in [first, end) whose state is `from`, between
  /// the alias view and device `dev` in direction `dir`, appended to `ops`; their bytes.
  /// The chunks' uploads that landed are settled first (settle_uploads_locked).
  std::size_t runs_to_copy(std::size_t first, std::size_t end, page_state from, copy_direction dir, unsigned dev,
                           std::vector<copy_op>& ops);
  /// Chunk `c` (locked): each of its stream-ordered uploads whose point passed is
  /// dropped, and if it failed, the pages it moved become `host` again (their host copy
  /// was never touched: the CPU view was zapped and its touches waited), unless a
  /// declared kernel has written the chunk since (then its pages are the kernel's,
  /// which ran after a failed copy: undefined, as on a GPU). Never throws.
  void settle_uploads_locked(std::size_t c) noexcept;
  /// Copies those runs on `lane`; throws on failure.
  std::size_t copy_runs(std::size_t first, std::size_t end, page_state from, copy_direction dir,
                        copy_lane& lane, unsigned dev);
  /// Enqueues `ops` (`bytes` in all) on `s` of `drv`, traced as `what`.
  void enqueue_copies(umpager::span<const copy_op> ops, std::size_t bytes, copy_direction dir, driver& drv,
                      stream_handle s, const char* what);
  /// Zaps the user view over [first, end) (the caller holds their chunk's lock).
  /// Zaps [first, end) of chunk `c` (locked) where it is still the view (`own`).
  void zap(std::size_t c, std::size_t first, std::size_t end, std::span<const os::address_range> own);
  /// Moves chunk `c` (locked, resident on another device) to device `k`.
  void move_chunk(std::size_t c, unsigned k);
  /// Maps every unmapped page of [first, end); pages hit by a write fault in `writes`
  /// writable; `device` pages are left alone with `skip_device` (their copy failed).
  /// Returns false if some page could not be mapped (it was woken, so its thread retries).
  /// With `speculative`, pages that would be write-protected are mapped writable and
  /// marked speculative instead (their chunk's snapshot must hold their bytes).
  bool map_pages(std::size_t first, std::size_t end, std::span<const fault> writes, bool skip_device = false,
                 bool speculative = false) noexcept;
  /// Ends the speculation on [first, end) of chunk `c` (locked): write-protects the
  /// speculative pages (from here the kernel tracks writes), then marks written each
  /// whose bytes differ from its snapshot. Every reader of the write tracking calls it
  /// first (zap, note_written_locked, stale_pages). Never throws.
  void retire_speculative_locked(std::size_t c, std::size_t first, std::size_t end) noexcept;
  /// Before speculating on chunk `c` (no chunk lock held): lists it, and retires the
  /// oldest listed chunks beyond the bound (the read-ahead window and two chunks).
  void reserve_speculation(std::size_t c) noexcept;
  /// Copies the bytes of the pages of [first, end) (chunk `c`, locked) that
  /// map_pages(speculative) will make speculative into the chunk's snapshot. False if
  /// no snapshot could be had (then map without speculation).
  bool snapshot_locked(std::size_t c, std::size_t first, std::size_t end) noexcept;
  /// Pages of [first, end) not mapped in the user view (the caller holds their chunk
  /// lock, so the count stays true): before and after a mapping, what it mapped.
  [[nodiscard]] std::size_t unmapped_pages(std::size_t first, std::size_t end) const noexcept {
    std::size_t n = 0;
    for (std::size_t p = first; p < end; ++p) n += !pages_.mapped(p);
    return n;
  }
  /// A write to page `i` was seen: its device copy (and a mapped file's) is stale.
  void note_page_written(std::size_t i) noexcept {
    if (pages_.state(i) == page_state::shared) pages_.set_state(i, page_state::host);
    if (pages_.state(i) != page_state::storage) pages_.set_backed(i, false);
  }
  /// Reads the `storage` pages of [first, end) (one chunk's, locked) from the file
  /// into the memfd (spliced, or read into the alias view): they become `host`, unmapped, backed. False, with `why`
  /// set, if some could not be read (those stay `storage`). Never throws.
  bool load_storage_locked(std::size_t first, std::size_t end, char* why, std::size_t why_bytes) noexcept;
  /// Pages of [p, e) (one chunk's, locked; `own`: the view's parts) written since the
  /// last look lose `backed` (and `shared` ones become `host`), in the tracking mode's
  /// way: PAGEMAP_SCAN re-arming them (wp_async), every mapped page (off). With `protect`
  /// under sync tracking the mapped pages are write-protected, so the next write faults;
  /// false if that failed.
  bool note_written_locked(std::size_t p, std::size_t e, std::span<const os::address_range> own, bool protect);
  /// The reads of the `storage` pages of [first, end) (one chunk's, locked) that no
  /// read has in flight: with `splice` (the engine's splices()) straight into the
  /// memfd's holes, else into the alias view, its holes allocated first. Throws bad_alloc.
  void collect_reads_locked(std::size_t first, std::size_t end, bool splice, std::vector<io_request>& reqs);
  /// Retries page by page (buffered) the requests of several pages that failed. Throws.
  void retry_reads(io_engine& engine, std::vector<io_request>& reqs);
  /// After the reads `reqs` (sorted by offset): the pages of [first, end) they were
  /// for (the `reading` ones if `async`, else the unread ones) whose bytes all arrived
  /// become `host`, unmapped; the others stay `storage`, punched, and `why` says why
  /// (false). `async` also clears `reading` on [first, end). Never throws.
  bool land_reads_locked(std::size_t first, std::size_t end, umpager::span<const io_request> reqs, bool async, char* why,
                         std::size_t why_bytes) noexcept;
  void note_storage_read(std::chrono::steady_clock::time_point t0, std::size_t requests, unsigned depth) noexcept;
  /// Read-ahead from storage on resolver `ring` (region_storage_async.cpp): starts
  /// the reads of [first, end) (chunk `c`, locked) and marks their pages `reading`;
  /// null when there is nothing to read or it cannot be asynchronous (then the caller
  /// reads synchronously). The caller arms the returned read after unlocking.
  [[nodiscard]] storage_read* start_storage_read_locked(std::size_t c, std::size_t first, std::size_t end,
                                                        resolver_wait& ring) noexcept;
  /// The completion of `op` (its I/O all done): lands the pages and maps them, or
  /// wakes their faults to retry (then synchronously, poisoned if that fails too).
  void finish_storage_read(storage_read& op) noexcept;
  /// After unlocking the chunk: has the resolver's ring poll `op`'s I/O (or, if it
  /// cannot, finishes it here). Null: nothing.
  void arm_storage_read(storage_read* op) noexcept;
  /// read_ahead under chunk c's lock; `reading`: an asynchronous read it started.
  void read_ahead_locked(std::size_t c, std::size_t first, std::size_t end, std::span<copy_lane* const> lanes,
                         std::uint64_t queued_at, bool writable, resolver_wait* ring, storage_read*& reading) noexcept;
  /// Chunk c's lock, taken when no asynchronous read of it is in flight (waited for
  /// without the lock, bounded by the wait limit; throws driver_error past it).
  [[nodiscard]] std::unique_lock<std::mutex> lock_unread(std::size_t c);
  /// A declared kernel or upload still writes chunk c's device copy (locked).
  [[nodiscard]] bool writers_in_flight_locked(std::size_t c) const noexcept;
  friend class storage_read;
  /// load_storage_locked, throwing runtime_error on failure (`what` names the call).
  void load_storage_or_throw(std::size_t first, std::size_t end, const char* what);
  /// Most chunks one block spans (a 2 MiB block over 4 KiB chunks).
  static constexpr std::size_t kMaxChunksPerBlock = 512;
  /// Poisons the faults on `device` pages of the block's chunks c0 + i with lost[i]:
  /// their copy failed, so their data cannot be had now (the threads get SIGBUS).
  void fail_closed(std::span<const fault> faults, const char* why, const std::bitset<kMaxChunksPerBlock>& lost,
                   std::size_t c0) noexcept;
  /// The parts of pages [first, end) of the user view that are still this region's
  /// mapping (the application may have unmapped a piece and mapped something else there).
  [[nodiscard]] std::vector<os::address_range> own_ranges(std::size_t first, std::size_t end) const;
  /// After a fault at page `at` whose service maps up to `end`: queues the pages after
  /// `end` when the faults look sequential (reads and writes alike: pages mapped ahead
  /// are write-protected, so a write to them is still seen). Returns the end of the
  /// sequential window ahead (queued or already queued), or `end` when not sequential.
  /// `write`: the fault was a write (a write scan's read-ahead maps writable).
  std::size_t plan_readahead(std::size_t at, std::size_t end, std::uint64_t read_at, bool write) noexcept;
  /// Chunk c's lock.
  [[nodiscard]] chunk_lock lock_chunk(std::size_t c) { return chunk_lock(chunks_[c].lock, c); }
  /// The locks of chunks [first, end), in address order (a block over several chunks).
  [[nodiscard]] chunk_run_lock<region_chunk> lock_chunks(std::size_t first, std::size_t end) {
    return {chunks_, first, end};
  }
  /// Single-pointer mode, constructor failure: hands the view's range back to the driver.
  void give_back_view() noexcept;
  /// Releases the device VA ranges and the alias registrations made so far.
  void release_devices() noexcept;

  context& ctx_;
  std::size_t bytes_;
  std::size_t block_;
  bool adaptive_;
  std::size_t chunk_bytes_;
  os::unique_fd memfd_;
  os::mapping user_;
  os::mapping alias_;
  std::vector<std::byte*> device_;  ///< VA range per device (null until reserved)
  std::size_t device_bytes_ = 0;
  std::size_t registered_ = 0;  ///< devices whose driver registered the alias view (0..k-1)
  page_table pages_;
  std::vector<region_chunk> chunks_;
  std::unique_ptr<storage_file> file_;  ///< map_file's file, else null

  sequential_detector scan_;  ///< sequential faults, for plan_readahead
  host_reach reached_;        ///< kernels reaching chunks in host memory

  // Write read-ahead: chunks holding speculative pages, oldest first (a leaf lock:
  // never held while taking a chunk lock).
  std::mutex spec_mutex_;
  std::deque<std::size_t> spec_chunks_;
};

}  // namespace umpager::detail
