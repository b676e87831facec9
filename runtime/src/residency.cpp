#include "residency.hpp"

#include <chrono>
#include <thread>

#include "region.hpp"
#include "umpager/error.hpp"

namespace umpager::detail {

residency::residency(driver& drv, unsigned device, std::size_t budget_bytes, counters& count)
    : drv_(drv),
      device_(device),
      count_(count),
      chunk_bytes_(drv.info().chunk_bytes),
      budget_chunks_(budget_bytes / drv.info().chunk_bytes) {
  UMPAGER_EXPECTS(budget_chunks_ > 0, "device memory budget is smaller than one chunk");
}

residency::~residency() {
  for (chunk_handle h : free_) drv_.destroy_chunk(h);
}

std::size_t residency::bytes_in_use() const {
  std::lock_guard g(mutex_);
  return in_use_ * chunk_bytes_;
}

std::optional<chunk_handle> residency::pop_free() {
  if (free_.empty()) return std::nullopt;
  chunk_handle h = free_.back();
  free_.pop_back();
  return h;
}

chunk_handle residency::take_chunk(region& r, std::size_t c, std::unique_lock<std::mutex>& held) {
  if (auto h = pop_free()) return *h;
  if (created_ < budget_chunks_) {
    try {
      chunk_handle h = drv_.create_chunk();
      ++created_;
      return h;
    } catch (const out_of_memory&) {
      // The device has less than the budget (other users): evict instead. Never
      // below one chunk: a device that has none now may have one later.
      if (created_ > 0) budget_chunks_ = created_;
    }
  }
  // Evict the least recently used chunk that is not pinned and whose lock is
  // free; try_lock, because the caller holds its own chunk lock. Resolvers hold
  // chunk locks only briefly: if they hold every candidate, wait for one.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    bool busy = false;
    for (auto it = lru_.begin(); it != lru_.end(); ++it) {
      auto [vr, vc] = *it;
      region_chunk& victim = vr->chunk(vc);
      if (victim.pinned || (vr == &r && vc == c)) continue;
      std::unique_lock vl(victim.lock, std::try_to_lock);
      if (!vl.owns_lock()) {
        busy = true;
        continue;
      }
      chunk_handle h = vr->evict_locked(vc);
      victim.lru_linked = false;
      lru_.erase(it);
      --in_use_;
      counters::add(count_.chunks_evicted, 1);
      return h;
    }
    if (!busy || std::chrono::steady_clock::now() > deadline) break;
    held.unlock();
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    held.lock();
    if (auto h = pop_free()) return *h;  // someone freed a chunk meanwhile
  }
  throw out_of_memory("device memory is full (" + std::to_string(budget_bytes() >> 20) +
                      " MiB) and every resident chunk is in use by this prefetch or held; raise "
                      "UMPAGER_DEVICE_MEMORY or prefetch less");
}

void residency::make_resident(region& r, std::size_t c) {
  std::unique_lock g(mutex_);
  chunk_handle h = take_chunk(r, c, g);
  try {
    drv_.map_chunk(r.device(device_) + c * chunk_bytes_, h);
  } catch (...) {
    free_.push_back(h);
    throw;
  }
  region_chunk& rc = r.chunk(c);
  rc.device = h;
  rc.on = device_;
  rc.lru_pos = lru_.insert(lru_.end(), {&r, c});
  rc.lru_linked = true;
  rc.pinned = true;
  ++in_use_;
}

void residency::touch(region& r, std::size_t c) {
  std::lock_guard g(mutex_);
  region_chunk& rc = r.chunk(c);
  if (rc.lru_linked) lru_.splice(lru_.end(), lru_, rc.lru_pos);
  rc.pinned = true;
}

void residency::detach(region& r, std::size_t c) noexcept {
  std::lock_guard g(mutex_);
  region_chunk& rc = r.chunk(c);
  if (rc.lru_linked) lru_.erase(rc.lru_pos);
  rc.lru_linked = false;
}

void residency::attach(region& r, std::size_t c) noexcept {
  std::lock_guard g(mutex_);
  region_chunk& rc = r.chunk(c);
  if (rc.lru_linked) return;
  try {
    rc.lru_pos = lru_.insert(lru_.end(), {&r, c});
    rc.lru_linked = true;
  } catch (...) {
    // out of memory: the chunk stays resident but is never chosen as a victim
  }
}

void residency::recycle(chunk_handle h, void* va) noexcept {
  std::lock_guard g(mutex_);
  drv_.unmap_chunk(va);
  try {
    free_.push_back(h);
  } catch (...) {
    drv_.destroy_chunk(h);
    --created_;
  }
  --in_use_;
}

void residency::unpin(region& r, std::size_t first, std::size_t end) noexcept {
  std::lock_guard g(mutex_);
  for (std::size_t c = first; c < end; ++c) r.chunk(c).pinned = false;
}

void residency::forget_all(region& r) noexcept {
  std::lock_guard g(mutex_);
  for (std::size_t c = 0; c < r.chunk_count(); ++c) {
    region_chunk& rc = r.chunk(c);
    if (!rc.device.valid() || rc.on != device_) continue;
    if (rc.lru_linked) lru_.erase(rc.lru_pos);
    rc.lru_linked = false;
    rc.device = {};
  }
}

void residency::release_all(region& r) noexcept {
  std::lock_guard g(mutex_);
  for (std::size_t c = 0; c < r.chunk_count(); ++c) {
    region_chunk& rc = r.chunk(c);
    if (!rc.device.valid() || rc.on != device_) continue;
    drv_.unmap_chunk(r.device(device_) + c * chunk_bytes_);
    free_.push_back(rc.device);
    rc.device = {};
    if (rc.lru_linked) lru_.erase(rc.lru_pos);
    rc.lru_linked = false;
    rc.pinned = false;
    --in_use_;
  }
}

}  // namespace umpager::detail
