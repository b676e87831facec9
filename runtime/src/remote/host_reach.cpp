#include "host_reach.hpp"

namespace umpager::detail {

void host_reach::open(std::size_t c) {
  std::lock_guard g(mutex_);
  ++chunks_.at(c).open;
}

void host_reach::close(std::size_t c, stream_handle s, const std::shared_ptr<fence>& point, bool writes) {
  std::lock_guard g(mutex_);
  chunk& k = chunks_.at(c);
  k.work.pin(s, point, writes);
  if (k.open > 0) --k.open;
}

void host_reach::abandon(std::size_t c) noexcept {
  std::lock_guard g(mutex_);
  if (c < chunks_.size() && chunks_[c].open > 0) --chunks_[c].open;
}

bool host_reach::idle(std::size_t c) {
  std::lock_guard g(mutex_);
  chunk& k = chunks_.at(c);
  return k.work.idle() && k.open == 0;
}

bool host_reach::movable(std::size_t c, const driver& d, stream_handle s) {
  std::lock_guard g(mutex_);
  chunk& k = chunks_.at(c);
  return k.open == 0 && k.work.pending(d, s, false).empty();
}

bool host_reach::settle(std::size_t c, const driver& d, stream_handle s, std::chrono::milliseconds timeout,
                        std::vector<std::shared_ptr<fence>>& same_stream) {
  return poll_until(
      [&] {
        std::lock_guard g(mutex_);
        chunk& k = chunks_.at(c);
        if (k.open != 0 || !k.work.pending(d, s, false).empty()) return false;
        same_stream = k.work.pending(d, s, true);
        return true;
      },
      timeout);
}

bool host_reach::wait_idle(std::size_t c, std::chrono::milliseconds timeout) {
  return poll_until([&] { return idle(c); }, timeout);
}

}  // namespace umpager::detail
