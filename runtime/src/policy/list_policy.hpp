// Policies that keep resident chunks in one ordered list: LRU (a use moves the chunk
// to the back), FIFO (it does not), and adaptive (LRU that evicts from the back, most
// recently used first, while chunks it evicted keep coming back: a cyclic scan larger
// than the device, where MRU is what Belady's MIN does). All three evict an allocation
// reported thrashing most-recently-used first. Adaptive also leaves for last the
// chunks just ahead of an ascending run of chunks in use: a scan is about to reach them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <unordered_map>
#include <unordered_set>

#include "umpager/eviction_policy.hpp"

namespace umpager::detail {

class list_policy final : public eviction_policy {
 public:
  list_policy(policy_kind kind, std::size_t capacity_chunks);

  [[nodiscard]] std::string name() const override;
  void on_insert(chunk_id c) override;
  void on_use(chunk_id c) override;
  void on_evict(chunk_id c) override;
  std::optional<chunk_id> next_victim(const std::function<bool(chunk_id)>& evictable) override;
  std::string on_thrashing(chunk_id c) override;

  /// adaptive: evicting most recently used first now.
  [[nodiscard]] bool scanning() const noexcept { return scanning_; }

 private:
  void remember_evicted(chunk_id c);
  void stamp(chunk_id c);
  /// adaptive: one of the kAhead chunks before `c` in its allocation was used within
  /// the last kRecent policy events and `c` was not used since.
  [[nodiscard]] bool ahead_of_run(chunk_id c) const;
  std::optional<chunk_id> pick(const std::function<bool(chunk_id)>& evictable) const;

  policy_kind kind_;
  std::size_t capacity_;
  std::list<chunk_id> order_;  ///< front: next victim in LRU/FIFO order
  std::unordered_map<chunk_id, std::list<chunk_id>::iterator, chunk_id_hash> where_;
  std::unordered_set<const void*> mru_allocations_;  ///< thrashing mitigation

  // adaptive: recently evicted chunks (a bounded FIFO) and whether each of the last
  // kWindow insertions was one of them.
  static constexpr unsigned kWindow = 8;
  static constexpr unsigned kSwitchHits = 1;
  std::deque<chunk_id> ghosts_;
  std::unordered_set<chunk_id, chunk_id_hash> ghost_set_;
  unsigned history_ = 0;  ///< bit i: the i-th last insertion was a ghost
  bool scanning_ = false;
  // adaptive: when each resident chunk was last inserted or used, in policy events.
  // Measured on the oversub suite (docs/bench.md): 4 chunks and 10 events (about three
  // declared launches of three ranges) bring tiled matrix multiply from 1.21x to 1.10x
  // Belady's MIN at 125% and leave the cyclic scans as they were or better.
  static constexpr std::size_t kAhead = 4;
  static constexpr std::uint64_t kRecent = 10;
  std::uint64_t tick_ = 0;
  std::unordered_map<chunk_id, std::uint64_t, chunk_id_hash> last_;
};

class clock_policy final : public eviction_policy {
 public:
  [[nodiscard]] std::string name() const override { return "clock"; }
  void on_insert(chunk_id c) override;
  void on_use(chunk_id c) override;
  void on_evict(chunk_id c) override;
  std::optional<chunk_id> next_victim(const std::function<bool(chunk_id)>& evictable) override;

 private:
  struct slot {
    chunk_id id;
    bool referenced;
  };
  std::list<slot> ring_;
  std::list<slot>::iterator hand_ = ring_.end();
  std::unordered_map<chunk_id, std::list<slot>::iterator, chunk_id_hash> where_;
};

}  // namespace umpager::detail
