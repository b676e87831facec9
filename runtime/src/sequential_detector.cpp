#include "sequential_detector.hpp"

#include <algorithm>

namespace umpager::detail {

sequential_detector::sequential_detector(std::size_t pages, std::size_t unit, std::size_t max_pages) noexcept
    : pages_(pages), unit_(std::max<std::size_t>(unit, 1)), max_window_(std::max(unit_, max_pages / unit_ * unit_)) {}

sequential_detector::step sequential_detector::observe(std::size_t at, std::size_t end) noexcept {
  std::lock_guard g(mutex_);
  const bool sequential = last_ != kNone && at > last_ && at <= std::max(end_, next_);
  last_ = at;
  end_ = end;
  if (!sequential) {
    window_ = 0;
    next_ = end;
    return {end, end, end};
  }
  window_ = window_ == 0 ? std::min(2 * unit_, max_window_) : std::min(window_ * 2, max_window_);
  const std::size_t from = std::max(next_, end);
  const std::size_t to = std::min(pages_, end + window_);
  if (from >= to) return {from, from, std::max(end, next_)};
  next_ = to;
  return {from, to, to};
}

}  // namespace umpager::detail
