#include "policy/list_policy.hpp"

#include <bit>

#include "umpager/error.hpp"

namespace umpager::detail {

list_policy::list_policy(policy_kind kind, std::size_t capacity_chunks)
    : kind_(kind), capacity_(capacity_chunks == 0 ? 1 : capacity_chunks) {}

std::string list_policy::name() const { return to_string(kind_); }

void list_policy::stamp(chunk_id c) {
  if (kind_ == policy_kind::adaptive) last_[c] = ++tick_;
}

void list_policy::on_insert(chunk_id c) {
  if (where_.count(c) != 0) return on_use(c);
  where_.emplace(c, order_.insert(order_.end(), c));
  if (kind_ != policy_kind::adaptive) return;
  stamp(c);
  const bool ghost = ghost_set_.erase(c) != 0;
  history_ = ((history_ << 1) | (ghost ? 1u : 0u)) & ((1u << kWindow) - 1);
  scanning_ = static_cast<unsigned>(std::popcount(history_)) >= kSwitchHits;
}

void list_policy::on_use(chunk_id c) {
  auto it = where_.find(c);
  if (it == where_.end() || kind_ == policy_kind::fifo) return;
  stamp(c);
  order_.splice(order_.end(), order_, it->second);
}

void list_policy::on_evict(chunk_id c) {
  auto it = where_.find(c);
  if (it == where_.end()) return;
  order_.erase(it->second);
  where_.erase(it);
  if (kind_ == policy_kind::adaptive) {
    last_.erase(c);
    remember_evicted(c);
  }
}

void list_policy::remember_evicted(chunk_id c) {
  if (!ghost_set_.insert(c).second) return;
  ghosts_.push_back(c);
  // Bounded at four devices' worth: a cyclic scan over up to 4x the device is
  // recognised when its first evicted chunk comes back.
  while (ghosts_.size() > 4 * capacity_) {
    ghost_set_.erase(ghosts_.front());
    ghosts_.pop_front();
  }
}

bool list_policy::ahead_of_run(chunk_id c) const {
  auto mine = last_.find(c);
  const std::uint64_t own = mine == last_.end() ? 0 : mine->second;
  for (std::size_t d = 1; d <= kAhead && d <= c.index; ++d) {
    auto it = last_.find(chunk_id{c.allocation, c.index - d});
    if (it != last_.end() && it->second > own && tick_ - it->second < kRecent) return true;
  }
  return false;
}

std::optional<chunk_id> list_policy::pick(const std::function<bool(chunk_id)>& evictable) const {
  // Thrashing allocations and a detected scan: most recently used first.
  if (!mru_allocations_.empty() || scanning_) {
    for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
      if ((scanning_ || mru_allocations_.count(it->allocation) != 0) && evictable(*it)) return *it;
    }
  }
  for (const chunk_id& c : order_) {
    if (evictable(c)) return c;
  }
  return std::nullopt;
}

std::optional<chunk_id> list_policy::next_victim(const std::function<bool(chunk_id)>& evictable) {
  if (kind_ == policy_kind::adaptive) {
    if (auto c = pick([&](chunk_id id) { return !ahead_of_run(id) && evictable(id); })) return c;
  }
  return pick(evictable);
}

std::string list_policy::on_thrashing(chunk_id c) {
  if (kind_ == policy_kind::adaptive && scanning_) return "none needed: already evicting most recently used first";
  mru_allocations_.insert(c.allocation);
  return "its chunks are now evicted most recently used first";
}

void clock_policy::on_insert(chunk_id c) {
  if (where_.count(c) != 0) return on_use(c);
  // New chunks go just behind the hand: the last the hand reaches.
  where_.emplace(c, ring_.insert(hand_, slot{c, false}));
}

void clock_policy::on_use(chunk_id c) {
  auto it = where_.find(c);
  if (it != where_.end()) it->second->referenced = true;
}

void clock_policy::on_evict(chunk_id c) {
  auto it = where_.find(c);
  if (it == where_.end()) return;
  if (hand_ == it->second) ++hand_;
  ring_.erase(it->second);
  where_.erase(it);
}

std::optional<chunk_id> clock_policy::next_victim(const std::function<bool(chunk_id)>& evictable) {
  // Two sweeps clear every reference bit, so a third finds any evictable chunk.
  const std::size_t steps = 3 * ring_.size();
  for (std::size_t i = 0; i < steps; ++i) {
    if (hand_ == ring_.end()) hand_ = ring_.begin();
    slot& s = *hand_;
    if (s.referenced) {
      s.referenced = false;
    } else if (evictable(s.id)) {
      return s.id;  // the hand moves on when the runtime reports the eviction
    }
    ++hand_;
  }
  return std::nullopt;
}

}  // namespace umpager::detail

namespace umpager {

std::unique_ptr<eviction_policy> make_policy(policy_kind kind, std::size_t capacity_chunks) {
  switch (kind) {
    case policy_kind::lru:
    case policy_kind::fifo:
    case policy_kind::adaptive:
      return std::make_unique<detail::list_policy>(kind, capacity_chunks);
    case policy_kind::clock:
      return std::make_unique<detail::clock_policy>();
  }
  throw invalid_argument("make_policy: unknown policy_kind " + std::to_string(static_cast<int>(kind)));
}

}  // namespace umpager
