#include "homecomings.hpp"

#include <chrono>
#include <string>
#include <utility>

#include "umpager/error.hpp"

namespace umpager::detail {

homecoming::homecoming(const std::shared_ptr<region>& r, std::vector<pending_home> parts)
    : r_(r), parts_(std::move(parts)), last_(parts_.empty() ? nullptr : parts_.back().point) {}

bool homecoming::land(bool wait) {
  std::lock_guard g(mutex_);
  if (landed_) return true;
  for (const pending_home& p : parts_) {
    if (wait) {
      while (!p.point->wait_for(std::chrono::milliseconds(1000))) {
      }
    } else if (!p.point->done()) {
      return false;
    }
  }
  landed_ = true;
  const std::vector<pending_home> parts = std::move(parts_);
  parts_.clear();
  auto r = r_.lock();
  std::string failure;
  for (const pending_home& p : parts) {
    if (!p.point->alive()) return true;  // the runtime is gone, and its views with it
    try {
      p.point->owner().synchronize(p.point->event());  // passed: only asks whether it failed
    } catch (const std::exception& e) {
      if (failure.empty()) failure = e.what();
      continue;
    }
    if (r != nullptr) r->land(p);
  }
  if (!failure.empty()) {
    throw driver_error("prefetch to host: copying part of the range home failed, so those pages stay on the "
                       "device (a touch brings them, nothing is lost): " + failure);
  }
  return true;
}

void stream_homecomings::add(stream_handle h, std::shared_ptr<homecoming> c) {
  std::lock_guard g(mutex_);
  auto& q = streams_[h.impl];
  // A stream never synchronized through its object keeps at most this many: the
  // oldest are then only left to faults (correct, one copy more).
  constexpr std::size_t kMaxPending = 1024;
  if (q.size() == kMaxPending) q.pop_front();
  q.push_back(std::move(c));
}

void stream_homecomings::land(std::deque<std::shared_ptr<homecoming>>& q) noexcept {
  for (const auto& c : q) {
    try {
      (void)c->land(false);
    } catch (...) {
      // A failed copy home: its pages stay on the device; the stream or the
      // completion reports the failure.
    }
  }
}

void stream_homecomings::synchronized(stream_handle h) noexcept {
  std::deque<std::shared_ptr<homecoming>> q;
  {
    std::lock_guard g(mutex_);
    auto it = streams_.find(h.impl);
    if (it == streams_.end()) return;
    q = std::move(it->second);
    streams_.erase(it);
  }
  land(q);
}

void stream_homecomings::land_all() noexcept {
  std::unordered_map<const void*, std::deque<std::shared_ptr<homecoming>>> all;
  {
    std::lock_guard g(mutex_);
    all.swap(streams_);
  }
  for (auto& [h, q] : all) land(q);
}

void stream_homecomings::destroyed(stream_handle h) noexcept {
  std::lock_guard g(mutex_);
  streams_.erase(h.impl);
}

}  // namespace umpager::detail
