// Belady's MIN over a workload trace (see belady.hpp).
#include "belady.hpp"

#include <algorithm>
#include <bit>
#include <limits>
#include <unordered_map>
#include <vector>

#include "umpager/error.hpp"

namespace umpager::bench {
namespace {

using kernels::workloads::trace;

/// A chunk's pages touched by one use: [first, last) in pages of the chunk.
struct chunk_use {
  std::size_t chunk;  ///< global chunk id
  std::size_t first, last;
  bool uploads;       ///< false for a write-only range when the model does not upload those
  bool cpu_write;     ///< a CPU phase wrote these pages
};

/// Splits every step's ranges into per-chunk page spans.
std::vector<std::vector<chunk_use>> split(const trace& t, const belady_model& m) {
  std::vector<std::size_t> first_chunk(t.alloc_bytes.size() + 1, 0);
  for (std::size_t i = 0; i < t.alloc_bytes.size(); ++i) {
    first_chunk[i + 1] = first_chunk[i] + (t.alloc_bytes[i] + m.chunk_bytes - 1) / m.chunk_bytes;
  }
  const std::size_t pages_per_chunk = m.chunk_bytes / m.page_bytes;
  std::vector<std::vector<chunk_use>> steps(t.steps.size());
  for (std::size_t s = 0; s < t.steps.size(); ++s) {
    for (const trace::use& u : t.steps[s].uses) {
      UMPAGER_EXPECTS(u.alloc < t.alloc_bytes.size() && u.offset + u.bytes <= t.alloc_bytes[u.alloc],
                      "belady_min: a trace range outside its allocation");
      if (u.bytes == 0) continue;
      const bool cpu = t.steps[s].cpu;
      if (cpu && u.mode == access_mode::read) continue;  // a CPU read leaves the device copy valid
      std::size_t page = u.offset / m.page_bytes;
      const std::size_t end = (u.offset + u.bytes + m.page_bytes - 1) / m.page_bytes;
      while (page < end) {
        const std::size_t c = page / pages_per_chunk, stop = std::min(end, (c + 1) * pages_per_chunk);
        steps[s].push_back({first_chunk[u.alloc] + c, page - c * pages_per_chunk, stop - c * pages_per_chunk,
                            u.mode != access_mode::write || m.write_only_uploads, cpu});
        page = stop;
      }
    }
  }
  return steps;
}

class page_set {
 public:
  explicit page_set(std::size_t pages) : words_((pages + 63) / 64, 0) {}
  /// Marks [first, last) and returns how many of them were not marked.
  std::size_t insert(std::size_t first, std::size_t last) {
    std::size_t added = 0;
    for (std::size_t p = first; p < last; ++p) {
      std::uint64_t& w = words_[p / 64];
      const std::uint64_t bit = std::uint64_t{1} << (p % 64);
      added += (w & bit) == 0;
      w |= bit;
    }
    return added;
  }
  void erase(std::size_t first, std::size_t last) {
    for (std::size_t p = first; p < last; ++p) words_[p / 64] &= ~(std::uint64_t{1} << (p % 64));
  }

 private:
  std::vector<std::uint64_t> words_;
};

}  // namespace

belady_result belady_min(const trace& t, const belady_model& m) {
  UMPAGER_EXPECTS(m.chunk_bytes > 0 && m.page_bytes > 0 && m.chunk_bytes % m.page_bytes == 0,
                  "belady_min: chunk_bytes must be a positive multiple of page_bytes");
  const std::size_t capacity = m.capacity_bytes / m.chunk_bytes;
  const std::size_t pages_per_chunk = m.chunk_bytes / m.page_bytes;
  const auto steps = split(t, m);

  // next_use[s][i]: the next launch step after s that uses steps[s][i].chunk.
  constexpr std::size_t never = std::numeric_limits<std::size_t>::max();
  std::unordered_map<std::size_t, std::size_t> upcoming;  // chunk -> next launch step using it
  std::vector<std::vector<std::size_t>> next_use(steps.size());
  for (std::size_t s = steps.size(); s-- > 0;) {
    next_use[s].resize(steps[s].size());
    for (std::size_t i = 0; i < steps[s].size(); ++i) {
      auto it = upcoming.find(steps[s][i].chunk);
      next_use[s][i] = it == upcoming.end() ? never : it->second;
    }
    if (!t.steps[s].cpu) {
      for (const chunk_use& u : steps[s]) upcoming[u.chunk] = s;
    }
  }

  struct resident {
    page_set valid;
    std::size_t next;  ///< next launch step that uses it (never: none)
    std::size_t pinned_at;
  };
  std::unordered_map<std::size_t, resident> cache;
  belady_result r;
  for (std::size_t s = 0; s < steps.size(); ++s) {
    if (t.steps[s].cpu) {
      for (std::size_t i = 0; i < steps[s].size(); ++i) {
        const chunk_use& u = steps[s][i];
        if (auto it = cache.find(u.chunk); it != cache.end()) it->second.valid.erase(u.first, u.last);
      }
      continue;
    }
    for (std::size_t i = 0; i < steps[s].size(); ++i) {
      const chunk_use& u = steps[s][i];
      auto it = cache.find(u.chunk);
      if (it == cache.end()) {
        if (cache.size() >= capacity) {
          auto victim = cache.end();
          for (auto c = cache.begin(); c != cache.end(); ++c) {
            if (c->second.pinned_at == s) continue;  // used by this launch
            if (victim == cache.end() || c->second.next > victim->second.next) victim = c;
          }
          UMPAGER_EXPECTS(victim != cache.end(), "belady_min: one launch needs more chunks than the budget holds");
          cache.erase(victim);
          ++r.evictions;
        }
        it = cache.emplace(u.chunk, resident{page_set(pages_per_chunk), never, s}).first;
        ++r.misses;
      }
      it->second.pinned_at = s;
      it->second.next = next_use[s][i];
      if (u.uploads) {
        r.bytes_to_device += it->second.valid.insert(u.first, u.last) * m.page_bytes;
      } else {
        it->second.valid.insert(u.first, u.last);
      }
    }
  }
  return r;
}

}  // namespace umpager::bench
