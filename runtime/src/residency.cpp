#include "residency.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "region.hpp"
#include "umpager/error.hpp"

namespace umpager::detail {
namespace {

/// A chunk evicted and fetched again this many times, each within one budget's worth
/// of fetches, is thrashing.
constexpr unsigned kThrashRefetches = 3;

/// Eviction order by preferred-location advice: host-preferred chunks leave first,
/// chunks preferring this device last.
int preference_class(int preferred, unsigned device) {
  if (preferred == kPreferHost) return 0;
  return preferred == static_cast<int>(device) ? 2 : 1;
}

}  // namespace

residency::residency(driver& drv, unsigned device, std::size_t budget_bytes, counters& count, policy_kind policy,
                     unsigned wait_ms)
    : drv_(drv),
      device_(device),
      count_(count),
      chunk_bytes_(drv.info().chunk_bytes),
      wait_ms_(wait_ms),
      configured_chunks_(budget_bytes / drv.info().chunk_bytes),
      budget_chunks_(configured_chunks_) {
  UMPAGER_EXPECTS(budget_chunks_ > 0, "device memory budget is smaller than one chunk");
  policy_ = make_policy(policy, budget_chunks_);
}

residency::~residency() {
  for (chunk_handle h : free_) drv_.destroy_chunk(h);
}

void residency::create_ahead(std::size_t chunks) noexcept {
  for (std::size_t i = 0; i < chunks; ++i) {
    {
      std::lock_guard g(mutex_);
      if (created_ >= configured_chunks_) return;
      ++created_;  // claimed: take_chunk creates no more than the budget meanwhile,
      ++creating_;  // and waits for this one rather than fail
    }
    chunk_handle h{};
    try {
      h = drv_.create_chunk();
    } catch (...) {
      // The device has less now, or a failure was injected: a chunk is then made when
      // needed, where the failure is handled (take_chunk).
      std::lock_guard g(mutex_);
      --created_;
      --creating_;
      return;
    }
    std::lock_guard g(mutex_);
    --creating_;
    try {
      free_.push_back(h);
    } catch (...) {
      drv_.destroy_chunk(h);
      --created_;
      return;
    }
  }
}

std::size_t residency::bytes_in_use() const {
  std::lock_guard g(mutex_);
  return in_use_ * chunk_bytes_;
}

std::size_t residency::slack_bytes() const {
  std::lock_guard g(mutex_);
  return slack_;
}

std::size_t residency::slack_of(const region& r, std::size_t c) const noexcept {
  const std::size_t start = c * chunk_bytes_;
  return chunk_bytes_ - std::min(chunk_bytes_, r.size() - start);
}

std::optional<chunk_handle> residency::pop_free() {
  if (free_.empty()) return std::nullopt;
  chunk_handle h = free_.back();
  free_.pop_back();
  return h;
}

template <class Fn>
auto residency::guarded(Fn&& fn) -> decltype(fn(std::declval<eviction_policy&>())) {
  try {
    return fn(*policy_);
  } catch (...) {
    // A policy decides victims, never correctness: replace it and go on.
    counters::add(count_.policy_failures, 1);
    std::string what = "unknown exception";
    try {
      throw;
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    if (!policy_failed_) {
      std::fprintf(stderr, "umpager: eviction policy '%s' on device %u threw (%s); using lru from now on\n",
                   policy_name().c_str(), device_, what.c_str());
      policy_failed_ = true;
    }
    auto lru = make_policy(policy_kind::lru, budget_chunks_);
    rebuild(*lru);
    policy_ = std::move(lru);
    return fn(*policy_);
  }
}

void residency::rebuild(eviction_policy& p) {
  std::vector<std::pair<std::uint64_t, chunk_id>> order;
  order.reserve(resident_.size());
  for (const auto& [id, r] : resident_) order.emplace_back(r->chunk(id.index).placed.last_use, id);
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [stamp, id] : order) p.on_insert(id);
}

void residency::set_policy(std::unique_ptr<eviction_policy> p) {
  UMPAGER_EXPECTS(p != nullptr, "set_policy: policy is null");
  std::lock_guard g(mutex_);
  try {
    rebuild(*p);
  } catch (const std::exception& e) {
    throw invalid_argument(std::string("set_policy: the new policy threw while taking the resident chunks: ") +
                           e.what());
  }
  policy_ = std::move(p);
  policy_failed_ = false;
}

std::string residency::policy_name() const {
  try {
    return policy_->name();
  } catch (...) {
    return "(unnamed policy)";
  }
}

std::optional<chunk_id> residency::victim(region& r, std::size_t c, int pref, bool with_recent, bool& busy) {
  // Timing-independent on purpose: work in flight does not change the choice (the
  // victim's work is waited for), so traffic is a function of the access sequence.
  auto evictable = [&](chunk_id id) {
    auto it = resident_.find(id);
    if (it == resident_.end()) return false;  // a plug-in's invention: never trusted
    const region_chunk& v = it->second->chunk(id.index);
    if (it->second == &r && id.index == c) return false;
    if (pref >= 0 && preference_class(v.preferred.load(std::memory_order_relaxed), device_) != pref) return false;
    if (v.placed.pins != 0) {
      busy = true;
      return false;
    }
    // The previous operation's chunks (a pipeline's tile still running): others first.
    if (!with_recent && v.placed.last_use >= previous_op_) {
      busy = true;
      return false;
    }
    return true;
  };
  auto id = guarded([&](eviction_policy& p) { return p.next_victim(evictable); });
  if (id && !evictable(*id)) id.reset();  // trust only what `evictable` accepts
  return id;
}

void residency::admit(std::size_t chunks, const char* what) {
  if (chunks == 0) return;
  if (chunks > configured_chunks_) {
    throw out_of_memory(std::string(what) + " needs " + std::to_string(chunks * chunk_bytes_ >> 20) +
                        " MiB of device chunks at once, more than the device budget of " +
                        std::to_string(budget_bytes() >> 20) + " MiB; split the work into smaller pieces");
  }
  std::unique_lock g(admit_mutex_);
  const std::uint64_t ticket = next_ticket_++;
  admit_queue_.push_back(ticket);
  const auto patience = std::chrono::milliseconds(wait_ms_);
  auto deadline = std::chrono::steady_clock::now() + patience;
  std::uint64_t seen = admit_progress_;
  auto fits = [&] { return admit_queue_.front() == ticket && reserved_ + chunks <= configured_chunks_; };
  while (!fits()) {
    if (admit_cv_.wait_until(g, deadline) != std::cv_status::timeout) continue;
    if (fits()) break;
    if (admit_progress_ != seen) {  // the work ahead moves: keep waiting for it
      seen = admit_progress_;
      deadline = std::chrono::steady_clock::now() + patience;
      continue;
    }
    admit_queue_.erase(std::find(admit_queue_.begin(), admit_queue_.end(), ticket));
    admit_cv_.notify_all();  // the next in line may fit now
    throw out_of_memory(std::string(what) + " waited " + std::to_string(wait_ms_) + " ms for " +
                        std::to_string(chunks * chunk_bytes_ >> 20) + " MiB of the " +
                        std::to_string(budget_bytes() >> 20) + " MiB device budget, while " +
                        std::to_string(reservations_) + " operation(s) holding " +
                        std::to_string(reserved_ * chunk_bytes_ >> 20) +
                        " MiB did not finish (a declaration left open by this or another thread?)");
  }
  admit_queue_.pop_front();
  reserved_ += chunks;
  ++reservations_;
  admit_cv_.notify_all();  // the next in line may fit beside this one
}

void residency::leave(std::size_t chunks) noexcept {
  if (chunks == 0) return;
  {
    std::lock_guard g(admit_mutex_);
    reserved_ -= std::min(chunks, reserved_);
    if (reservations_ > 0) --reservations_;
    ++admit_progress_;
  }
  admit_cv_.notify_all();
}

void residency::begin_operation() {
  std::lock_guard g(mutex_);
  previous_op_ = current_op_;
  current_op_ = clock_ + 1;
}

chunk_handle residency::take_chunk(region& r, std::size_t c, std::unique_lock<std::mutex>& held) {
  if (auto h = pop_free()) return *h;
  // Up to the configured budget, also after a failure: a device short of memory for
  // a moment (another user, an injected failure) must not shrink it for good.
  if (created_ < configured_chunks_) {
    try {
      chunk_handle h = drv_.create_chunk();
      ++created_;
      if (created_ > budget_chunks_) budget_chunks_ = created_;
      return h;
    } catch (const out_of_memory&) {
      // The device has less than the budget now: evict instead. Never below one
      // chunk: a device that has none now may have one later.
      if (created_ > 0) budget_chunks_ = created_;
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms_);
  auto pause = [&] {
    held.unlock();
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    held.lock();
  };
  for (;;) {
    bool busy = false;
    std::optional<chunk_id> id;
    const bool prefs = preferences_.load(std::memory_order_relaxed);
    // Preference classes first (advice is the user's word), then the previous
    // operation's chunks last within each.
    for (int pref = prefs ? 0 : -1; pref < (prefs ? 3 : 0) && !id; ++pref) {
      for (int pass = 0; pass < 2 && !id; ++pass) id = victim(r, c, pref, pass == 1, busy);
    }
    if (!id) {
      // A chunk being created ahead (create_ahead) lands in the pool soon.
      if ((!busy && creating_ == 0) || std::chrono::steady_clock::now() > deadline) break;
      pause();
      if (auto h = pop_free()) return *h;  // someone freed a chunk meanwhile
      continue;
    }
    region& vr = *resident_.at(*id);
    region_chunk& v = vr.chunk(id->index);
    // try_lock: the caller holds its own chunk lock, and a thread holding the
    // victim's may wait for mutex_. Resolvers hold chunk locks only briefly.
    std::unique_lock vl(v.lock, std::try_to_lock);
    if (!vl.owns_lock()) {
      if (std::chrono::steady_clock::now() > deadline) break;
      pause();
      continue;
    }
    if (!vr.idle_locked(id->index)) {
      // Its streams still use it: wait (nobody can pin it while we hold its lock).
      held.unlock();
      const bool passed = vr.wait_locked(id->index, false);
      held.lock();
      if (!passed) break;
      if (!v.placed.linked || v.placed.pins != 0 || !vr.idle_locked(id->index)) continue;
    }
    chunk_handle h = vr.evict_locked(id->index);
    unlink(vr, id->index);
    v.placed.evicted_at = clock_;
    counters::add(count_.chunks_evicted, 1);
    return h;
  }
  throw out_of_memory("device memory is full (" + std::to_string(budget_bytes() >> 20) +
                      " MiB) and every resident chunk is pinned by work in flight or by this operation; raise "
                      "UMPAGER_DEVICE_MEMORY, or declare or prefetch less at once");
}

void residency::link(region& r, std::size_t c) {
  region_chunk& rc = r.chunk(c);
  const chunk_id id{r.user(), c};
  resident_.emplace(id, &r);
  rc.placed.linked = true;
  rc.placed.last_use = ++clock_;
  ++in_use_;
  slack_ += slack_of(r, c);
  guarded([&](eviction_policy& p) { p.on_insert(id); });
}

void residency::unlink(region& r, std::size_t c) noexcept {
  region_chunk& rc = r.chunk(c);
  if (!rc.placed.linked) return;
  const chunk_id id{r.user(), c};
  resident_.erase(id);
  rc.placed.linked = false;
  --in_use_;
  slack_ -= slack_of(r, c);
  try {
    guarded([&](eviction_policy& p) { p.on_evict(id); });
  } catch (...) {
    // Even LRU failed (out of memory): the chunk is gone from resident_, so a
    // victim the policy still names is refused.
  }
}

void residency::note_refetch(region& r, std::size_t c) {
  region_chunk& rc = r.chunk(c);
  if (rc.placed.evicted_at == 0 || clock_ - rc.placed.evicted_at > 2 * budget_chunks_) {
    rc.placed.refetches = 0;
    return;
  }
  if (++rc.placed.refetches < kThrashRefetches) return;
  rc.placed.refetches = 0;
  counters::add(count_.thrashing_events, 1);
  const std::string done = guarded([&](eviction_policy& p) { return p.on_thrashing(chunk_id{r.user(), c}); });
  if (!r.thrash_warned.exchange(true)) {
    std::fprintf(stderr,
                 "umpager: allocation %p (%zu MiB) is thrashing on device %u: chunk %zu was evicted and fetched "
                 "again %u times within %zu fetches (the device holds %zu chunks); policy '%s': %s\n",
                 static_cast<void*>(r.user()), r.size() >> 20, device_, c, kThrashRefetches,
                 2 * budget_chunks_.load(), budget_chunks_.load(), policy_name().c_str(), done.c_str());
  }
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
  ++rc.placed.pins;
  ++clock_;
  note_refetch(r, c);
  link(r, c);
}

void residency::touch(region& r, std::size_t c) {
  std::lock_guard g(mutex_);
  region_chunk& rc = r.chunk(c);
  ++rc.placed.pins;
  if (!rc.placed.linked) return;
  rc.placed.last_use = ++clock_;
  guarded([&](eviction_policy& p) { p.on_use(chunk_id{r.user(), c}); });
}

void residency::unpin(region& r, std::size_t c) noexcept {
  std::lock_guard g(mutex_);
  region_chunk& rc = r.chunk(c);
  if (rc.placed.pins > 0) --rc.placed.pins;
}

void residency::detach(region& r, std::size_t c) noexcept {
  std::lock_guard g(mutex_);
  unlink(r, c);
}

void residency::attach(region& r, std::size_t c) noexcept {
  std::lock_guard g(mutex_);
  if (r.chunk(c).placed.linked) return;
  try {
    link(r, c);
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
}

void residency::forget_all(region& r) noexcept {
  std::lock_guard g(mutex_);
  for (std::size_t c = 0; c < r.chunk_count(); ++c) {
    region_chunk& rc = r.chunk(c);
    if (!rc.device.valid() || rc.on != device_) continue;
    unlink(r, c);
    rc.placed.pins = 0;
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
    unlink(r, c);
    rc.placed.pins = 0;
  }
}

}  // namespace umpager::detail
