#include "readahead.hpp"

#include <utility>

namespace umpager::detail {

void readahead_queue::push(readahead_item item) noexcept {
  try {
    std::lock_guard g(mutex_);
    items_.push_back(std::move(item));
  } catch (...) {
    return;  // out of memory: the CPU simply faults on those pages later
  }
  ready_.signal();
}

bool readahead_queue::pop(readahead_item& out) {
  if (!ready_.consume()) return false;
  std::lock_guard g(mutex_);
  if (items_.empty()) return false;  // cleared meanwhile
  out = std::move(items_.front());
  items_.pop_front();
  return true;
}

void readahead_queue::clear() noexcept {
  std::deque<readahead_item> drop;
  {
    std::lock_guard g(mutex_);
    drop.swap(items_);
  }
  // Regions may be destroyed here, outside the queue's lock.
}

}  // namespace umpager::detail
