#include "stream_prefetches.hpp"

#include <algorithm>
#include <functional>
#include <set>
#include <utility>

namespace umpager::detail {

void stream_prefetches::remember(stream_handle h, unsigned device, const std::shared_ptr<region>& r,
                                 std::size_t offset, std::size_t bytes, std::size_t chunk_bytes,
                                 std::size_t budget_chunks) {
  std::lock_guard g(mutex_);
  window& w = windows_[h.impl];
  if (w.device != device) w.ranges.clear();  // the stream's device is fixed; a stale entry of a reused handle
  w.device = device;
  // The same range again (prefetched twice) becomes the newest, once.
  for (auto it = w.ranges.begin(); it != w.ranges.end();) {
    auto held = it->r.lock();
    const bool same = held == r && it->offset == offset && it->bytes == bytes;
    it = (held == nullptr || same) ? w.ranges.erase(it) : std::next(it);
  }
  w.ranges.push_back({r, offset, bytes});
  // Newest first, the chunks they span together; drop the older ones past the budget
  // (and past a count that keeps this call cheap).
  constexpr std::size_t kMaxRanges = 256;
  std::set<std::pair<const region*, std::size_t>> chunks;
  std::size_t keep = 0;
  for (auto it = w.ranges.rbegin(); it != w.ranges.rend() && keep < kMaxRanges; ++it, ++keep) {
    const region* held = it->r.lock().get();
    const std::size_t first = it->offset / chunk_bytes, last = (it->offset + it->bytes - 1) / chunk_bytes;
    std::size_t adds = 0;
    for (std::size_t c = first; c <= last; ++c) adds += chunks.count({held, c}) == 0 ? 1 : 0;
    if (chunks.size() + adds > budget_chunks && keep > 0) break;  // the newest stays: its own prefetch fitted
    for (std::size_t c = first; c <= last; ++c) chunks.emplace(held, c);
  }
  while (w.ranges.size() > keep) w.ranges.pop_front();
}

std::vector<stream_prefetches::range> stream_prefetches::take(stream_handle h, unsigned& device) {
  std::lock_guard g(mutex_);
  auto it = windows_.find(h.impl);
  if (it == windows_.end()) return {};
  device = it->second.device;
  // Overlapping ranges of one allocation become one: a set names each page once.
  std::vector<std::pair<std::shared_ptr<region>, range>> held;
  for (auto& p : it->second.ranges) {
    if (auto r = p.r.lock()) held.emplace_back(std::move(r), std::move(p));
  }
  windows_.erase(it);
  std::sort(held.begin(), held.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? std::less<>{}(a.first.get(), b.first.get()) : a.second.offset < b.second.offset;
  });
  std::vector<range> out;
  for (auto& [r, p] : held) {
    if (!out.empty() && out.back().r.lock() == r && p.offset <= out.back().offset + out.back().bytes) {
      out.back().bytes = std::max(out.back().bytes, p.offset + p.bytes - out.back().offset);
      continue;
    }
    out.push_back(std::move(p));
  }
  return out;
}

void stream_prefetches::forget(stream_handle h) noexcept {
  std::lock_guard g(mutex_);
  windows_.erase(h.impl);
}

void stream_prefetches::forget(stream_handle h, const region* r, std::size_t offset, std::size_t bytes) noexcept {
  std::lock_guard g(mutex_);
  auto it = windows_.find(h.impl);
  if (it == windows_.end()) return;
  auto& ranges = it->second.ranges;
  for (auto at = ranges.begin(); at != ranges.end();) {
    const bool overlaps = at->r.lock().get() == r && at->offset < offset + bytes && offset < at->offset + at->bytes;
    at = overlaps ? ranges.erase(at) : std::next(at);
  }
}

}  // namespace umpager::detail
