// Device memory budget of one device: a pool of physical chunks, the resident
// region chunks, their pins, and the eviction policy that orders victims. A chunk is
// a victim only when no operation pins it and every stream's pin record on it has
// completed (fence.hpp); the policy only chooses among those.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "counters.hpp"
#include "umpager/driver.hpp"
#include "umpager/eviction_policy.hpp"

namespace umpager::detail {

class region;

class residency {
 public:
  /// `wait_ms`: how long a chunk request waits for pinned chunks to be released
  /// before it is out_of_memory.
  residency(driver& drv, unsigned device, std::size_t budget_bytes, counters& count, policy_kind policy,
            unsigned wait_ms);
  ~residency();
  residency(const residency&) = delete;
  residency& operator=(const residency&) = delete;

  /// Creates up to `chunks` physical chunks into the pool, within the configured
  /// budget, so the first moves to the device do not pay for it; stops quietly at
  /// the first failure (the chunk is then created, and its failure handled, when needed).
  void create_ahead(std::size_t chunks) noexcept;
  /// Maps a physical chunk at chunk `c` of `r` on this device (the caller holds its
  /// lock), evicting per the policy if the budget is spent, and pins it (unpin).
  /// Throws out_of_memory when nothing can be evicted in time.
  void make_resident(region& r, std::size_t c);
  /// Chunk `c` of `r`, resident here, is used again: tells the policy and pins it.
  void touch(region& r, std::size_t c);
  /// A prefetch or declaration starts: the previous one's chunks become the last
  /// choice as victims (a pipeline's tile may still run; timing must not decide).
  void begin_operation();
  /// Admission of an operation that pins several chunks at once (a declaration, a
  /// prefetch): reserves `chunks` of the budget before it pins any, so operations
  /// that do not fit together queue, first come first served, instead of each
  /// pinning part of its set and waiting for the rest (hold and wait). Waits while
  /// the operations ahead make progress; throws out_of_memory naming what it waited
  /// for when none left for wait_ms, or at once if `chunks` exceed the budget: the one
  /// place a set is checked against the budget. `what` starts the messages ("declare:
  /// the access set").
  void admit(std::size_t chunks, const char* what);
  /// Ends a reservation of admit.
  void leave(std::size_t chunks) noexcept;
  /// Ends one pin of make_resident or touch.
  void unpin(region& r, std::size_t c) noexcept;
  /// A move to another device: takes chunk `c` out of this device's policy (it stays
  /// mapped here until recycle), or puts it back with attach if the move failed.
  void detach(region& r, std::size_t c) noexcept;
  void attach(region& r, std::size_t c) noexcept;
  /// Unmaps the chunk a move left behind at `va` and returns it to the pool.
  void recycle(chunk_handle h, void* va) noexcept;
  /// Unmaps every resident chunk of `r` (on free) and returns them to the pool.
  void release_all(region& r) noexcept;
  /// Drops every chunk of `r` from this residency without unmapping or reusing it: a
  /// copy given up on may still write it (region::~region). The chunks stay counted.
  void forget_all(region& r) noexcept;

  /// Replaces the policy; resident chunks are inserted least recently used first.
  void set_policy(std::unique_ptr<eviction_policy> p);
  [[nodiscard]] std::string policy_name() const;
  /// Some allocation has preferred-location advice: victims are then chosen in three
  /// passes (host-preferred, none, this device preferred).
  void note_preferences() noexcept { preferences_.store(true, std::memory_order_relaxed); }

  /// The configured budget: what a move or declaration may need at once.
  [[nodiscard]] std::size_t budget_bytes() const noexcept { return configured_chunks_ * chunk_bytes_; }
  [[nodiscard]] std::size_t bytes_in_use() const;
  /// Resident bytes past the end of their allocation (small allocations).
  [[nodiscard]] std::size_t slack_bytes() const;
  [[nodiscard]] unsigned device() const noexcept { return device_; }

 private:
  std::optional<chunk_handle> pop_free();
  chunk_handle take_chunk(region& r, std::size_t c, std::unique_lock<std::mutex>& held);
  /// Runs a policy call; a throwing policy is replaced by LRU (reported once).
  template <class Fn>
  auto guarded(Fn&& fn) -> decltype(fn(std::declval<eviction_policy&>()));
  /// The policy's victim among unpinned chunks in preference class `pref` (any if
  /// negative), leaving the previous operation's chunks alone unless `with_recent`.
  std::optional<chunk_id> victim(region& r, std::size_t c, int pref, bool with_recent, bool& busy);
  void rebuild(eviction_policy& p);
  void link(region& r, std::size_t c);
  void unlink(region& r, std::size_t c) noexcept;
  void note_refetch(region& r, std::size_t c);
  [[nodiscard]] std::size_t slack_of(const region& r, std::size_t c) const noexcept;

  driver& drv_;
  unsigned device_;
  counters& count_;
  std::size_t chunk_bytes_;
  unsigned wait_ms_;
  const std::size_t configured_chunks_;
  /// What the device gave so far: lowered under mutex_ when creating a chunk fails
  /// (the device has less now), raised again when a later creation succeeds.
  std::atomic<std::size_t> budget_chunks_;
  mutable std::mutex mutex_;
  std::size_t created_ = 0;
  std::size_t creating_ = 0;  ///< create_ahead's creations in flight (counted in created_)
  std::size_t in_use_ = 0;
  std::size_t slack_ = 0;
  std::uint64_t clock_ = 0;  ///< ticks per fetch and use: recency and the thrashing window
  std::vector<chunk_handle> free_;
  std::unique_ptr<eviction_policy> policy_;
  bool policy_failed_ = false;
  std::unordered_map<chunk_id, region*, chunk_id_hash> resident_;
  std::uint64_t previous_op_ = 0;  ///< clock at the start of the previous operation
  std::uint64_t current_op_ = 0;
  std::atomic<bool> preferences_{false};
  /// Admission (admit/leave), apart from mutex_: a waiter holds no chunk lock.
  std::mutex admit_mutex_;
  std::condition_variable admit_cv_;
  std::deque<std::uint64_t> admit_queue_;  ///< tickets waiting, oldest first
  std::uint64_t next_ticket_ = 0;
  std::uint64_t admit_progress_ = 0;  ///< bumped by every leave: the work ahead passes
  std::size_t reserved_ = 0;          ///< chunks reserved by admitted operations
  std::size_t reservations_ = 0;      ///< admitted operations not left yet
};

}  // namespace umpager::detail
