// Device memory budget: a pool of physical chunks and an LRU of resident region
// chunks, evicted to make room when the data is larger than the device.
#pragma once

#include <atomic>
#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "counters.hpp"
#include "umpager/driver.hpp"

namespace umpager::detail {

class region;

/// One per device: its budget, pool and LRU. A region chunk resident on this device
/// (region_chunk::on == device()) is in this LRU.
class residency {
 public:
  residency(driver& drv, unsigned device, std::size_t budget_bytes, counters& count);
  ~residency();
  residency(const residency&) = delete;
  residency& operator=(const residency&) = delete;

  /// Maps a physical chunk at chunk `c` of `r` on this device (the caller holds its
  /// lock), evicting least recently used chunks of any region if the budget is spent.
  /// Throws out_of_memory when every resident chunk is in use.
  void make_resident(region& r, std::size_t c);
  /// A move to another device: takes chunk `c` out of this LRU (it stays mapped here
  /// until recycle), or puts it back with attach if the move failed.
  void detach(region& r, std::size_t c) noexcept;
  void attach(region& r, std::size_t c) noexcept;
  /// Unmaps the chunk a move left behind at `va` and returns it to the pool.
  void recycle(chunk_handle h, void* va) noexcept;
  /// Marks chunk `c` of `r` most recently used.
  void touch(region& r, std::size_t c);
  /// make_resident and touch pin the chunk, so the prefetch that asked for it
  /// cannot evict it again; the prefetch unpins its chunks [first, end) when done.
  void unpin(region& r, std::size_t first, std::size_t end) noexcept;
  /// Unmaps every resident chunk of `r` (on free) and returns them to the pool.
  void release_all(region& r) noexcept;
  /// Drops every chunk of `r` from this residency without unmapping or reusing it: a
  /// copy given up on may still write it (region::~region). The chunks stay counted.
  void forget_all(region& r) noexcept;

  [[nodiscard]] std::size_t budget_bytes() const noexcept {
    return budget_chunks_.load(std::memory_order_relaxed) * chunk_bytes_;
  }
  [[nodiscard]] std::size_t bytes_in_use() const;
  [[nodiscard]] unsigned device() const noexcept { return device_; }

 private:
  /// A pooled chunk, if any; the caller holds mutex_.
  std::optional<chunk_handle> pop_free();
  /// `held` is the caller's lock of mutex_, released while waiting for a victim.
  chunk_handle take_chunk(region& r, std::size_t c, std::unique_lock<std::mutex>& held);

  driver& drv_;
  unsigned device_;
  counters& count_;
  std::size_t chunk_bytes_;
  /// Read by prefetches without mutex_; lowered under it when the device has less.
  std::atomic<std::size_t> budget_chunks_;
  mutable std::mutex mutex_;
  std::size_t created_ = 0;
  std::size_t in_use_ = 0;
  std::vector<chunk_handle> free_;
  std::list<std::pair<region*, std::size_t>> lru_;  // front = least recently used
};

}  // namespace umpager::detail
