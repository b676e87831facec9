// Eviction policies: which resident chunk leaves the device when room is needed.
// A policy only orders candidates; the residency manager owns the budget, pins and
// correctness (design.md "Policies decide victims, never correctness").
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "umpager/config.hpp"

namespace umpager {

/// One chunk-sized piece of an allocation: its CPU base pointer and chunk index.
struct chunk_id {
  const void* allocation = nullptr;
  std::size_t index = 0;
  friend bool operator==(const chunk_id& a, const chunk_id& b) noexcept {
    return a.allocation == b.allocation && a.index == b.index;
  }
  friend bool operator!=(const chunk_id& a, const chunk_id& b) noexcept { return !(a == b); }
};

struct chunk_id_hash {
  std::size_t operator()(const chunk_id& c) const noexcept {
    return std::hash<const void*>{}(c.allocation) ^ (c.index * 0x9e3779b97f4a7c15ULL);
  }
};

/// Called under the residency lock of one device, never concurrently. Any call may
/// throw: the runtime then reports it once on stderr and falls back to LRU.
class eviction_policy {
 public:
  virtual ~eviction_policy() = default;
  [[nodiscard]] virtual std::string name() const = 0;
  /// The chunk became resident on the device.
  virtual void on_insert(chunk_id c) = 0;
  /// A resident chunk was used again (a prefetch or declared launch touched it).
  virtual void on_use(chunk_id c) = 0;
  /// The chunk left the device (evicted, moved to another device, freed).
  virtual void on_evict(chunk_id c) = 0;
  /// The victim: a resident chunk for which `evictable` returns true (it checks pins,
  /// work in flight and locks), or nullopt when the policy finds none.
  virtual std::optional<chunk_id> next_victim(const std::function<bool(chunk_id)>& evictable) = 0;
  /// The runtime saw `c` evicted and fetched again repeatedly: mitigate if the policy
  /// can, and say what was done (for the one warning on stderr).
  virtual std::string on_thrashing(chunk_id c) {
    (void)c;
    return "nothing (the policy has no mitigation)";
  }
};

/// A built-in policy; `capacity_chunks` is the device budget in chunks.
[[nodiscard]] std::unique_ptr<eviction_policy> make_policy(policy_kind kind, std::size_t capacity_chunks);

}  // namespace umpager
