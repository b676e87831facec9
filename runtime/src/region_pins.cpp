// Work in flight on a region's chunks: one pin record per stream (the fence after
// the last prefetch or declared launch on it that touched the chunk). Eviction waits
// until all have passed; a move home and a CPU fault wait for the writers.
#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include "region.hpp"
#include "residency.hpp"

namespace umpager::detail {

namespace {

/// Polls `passed` until true or `timeout`: a short spin, then short sleeps.
template <class Pred>
bool poll(Pred&& passed, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (unsigned spin = 0; !passed(); ++spin) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    if (spin < 64) std::this_thread::yield();
    else std::this_thread::sleep_for(std::chrono::microseconds(spin < 1024 ? 20 : 200));
  }
  return true;
}

}  // namespace

bool fence::wait_for(std::chrono::milliseconds timeout) {
  return poll([this] { return done(); }, timeout);
}

void check_upload_stream(driver& d, stream_handle u, bool wait, const char* what) {
  if (!wait && !d.idle(u)) return;
  try {
    d.synchronize(u);
  } catch (const driver_error& e) {
    throw driver_error(std::string(what) +
                       ": an earlier stream-ordered upload (prefetch or declaration on a created stream) failed; the "
                       "device copy of the pages it moved is not valid, so kernels that used them read undefined "
                       "data: " + e.what());
  }
}

void fence::check_uploads(bool wait, const char* what) {
  if (upload_.impl != nullptr && alive()) check_upload_stream(drv_, upload_, wait, what);
}

bool region::idle_locked(std::size_t c) {
  auto& recs = chunks_[c].inflight;
  std::erase_if(recs, [](const pin_record& r) { return r.passed(); });
  return recs.empty();
}

bool region::wait_locked(std::size_t c, bool writers_only) {
  const std::chrono::milliseconds timeout(ctx_.wait_ms);
  for (const pin_record& r : chunks_[c].inflight) {
    // Writers: until their data is there. Everything: until the stream is done with it.
    if (writers_only && !r.writes) continue;
    if (!(writers_only ? r.point->wait_for(timeout) : poll([&r] { return r.passed(); }, timeout))) return false;
  }
  (void)idle_locked(c);
  return true;
}

void region::pin_locked(std::size_t c, stream_handle s, const std::shared_ptr<fence>& point, bool writes,
                        bool open_ended) {
  auto& recs = chunks_[c].inflight;
  for (pin_record& r : recs) {
    if (r.stream.impl != s.impl || &r.point->owner() != &point->owner()) continue;
    // Later on the same stream: passing it passes the old one; a writer not yet
    // passed stays a writer.
    r.writes = writes || (r.writes && !r.point->done());
    r.point = point;
    r.open_ended = open_ended;  // a declaration says exactly how long the stream uses it
    return;
  }
  recs.push_back(pin_record{s, point, writes, open_ended});
}

bool region::in_flight() {
  if (users.load(std::memory_order_acquire) != 0) return true;
  for (std::size_t c = 0; c < chunks_.size(); ++c) {
    std::lock_guard g(chunks_[c].lock);
    if (!idle_locked(c)) return true;
  }
  return false;
}

void region::hold_resident(std::size_t offset, std::size_t bytes, move_op& op) {
  const std::size_t first = offset / chunk_bytes_;
  const std::size_t last = (offset + bytes - 1) / chunk_bytes_;
  for (std::size_t c = first; c <= last; ++c) {
    std::lock_guard g(chunks_[c].lock);
    const region_chunk& rc = chunks_[c];
    if (!rc.device.valid() || rc.on != op.device) continue;
    ctx_.devices[op.device].res->touch(*this, c);
    op.pinned.emplace_back(this, c);
  }
}

}  // namespace umpager::detail
