#include "inflight.hpp"

#include <algorithm>

namespace umpager::detail {

bool work_in_flight::idle() {
  std::erase_if(records_, [](const pin_record& r) { return r.passed(); });
  return records_.empty();
}

bool work_in_flight::wait(bool writers_only, std::chrono::milliseconds timeout) {
  for (const pin_record& r : records_) {
    // Writers: until their data is there. Everything: until the stream is done with it.
    if (writers_only && !r.writes) continue;
    if (!(writers_only ? r.point->wait_for(timeout) : poll_until([&r] { return r.passed(); }, timeout))) return false;
  }
  (void)idle();
  return true;
}

void work_in_flight::pin(stream_handle s, const std::shared_ptr<fence>& point, bool writes, bool open_ended) {
  for (pin_record& r : records_) {
    if (r.stream.impl != s.impl || &r.point->owner() != &point->owner()) continue;
    r.writes = writes || (r.writes && !r.point->done());
    r.point = point;
    r.open_ended = open_ended;  // a declaration says exactly how long the stream uses it
    return;
  }
  records_.push_back(pin_record{s, point, writes, open_ended});
}

std::vector<std::shared_ptr<fence>> work_in_flight::pending(const driver& d, stream_handle s, bool same) {
  std::vector<std::shared_ptr<fence>> out;
  for (const pin_record& r : records_) {
    const bool on_s = r.stream.impl == s.impl && &r.point->owner() == &d;
    if (on_s == same && !r.passed()) out.push_back(r.point);
  }
  return out;
}

bool work_in_flight::writing() const noexcept {
  return std::any_of(records_.begin(), records_.end(),
                     [](const pin_record& r) { return r.writes && !r.point->done(); });
}

std::vector<std::shared_ptr<fence>> work_in_flight::writers_besides(const driver& d, stream_handle s) const {
  std::vector<std::shared_ptr<fence>> out;
  for (const pin_record& r : records_) {
    const bool same_stream = r.stream.impl == s.impl && &r.point->owner() == &d;
    if (r.writes && !same_stream && !r.point->done()) out.push_back(r.point);
  }
  return out;
}

}  // namespace umpager::detail
