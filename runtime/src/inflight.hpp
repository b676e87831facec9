// Work in flight on one chunk: one record per stream that may still use the chunk's
// device copy (the fence after the last prefetch or declared launch on that stream that
// touched it). Eviction waits until every record has passed; a move home and a CPU
// fault wait for the writers only. Guarded by the chunk's lock, like the pages.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include "fence.hpp"

namespace umpager::detail {

class work_in_flight {
 public:
  /// No stream still uses the chunk (the records that passed are dropped).
  [[nodiscard]] bool idle();
  /// Waits for the records that write (all of them when `writers_only` is false), each
  /// up to `timeout`; false if one did not pass in time (then the records stay).
  [[nodiscard]] bool wait(bool writers_only, std::chrono::milliseconds timeout);
  /// Adds or updates `s`'s record: later work on the same stream replaces its point
  /// (passing it passes the old one); a writer not yet passed stays a writer.
  /// `open_ended` (a prefetch's): kernels enqueued after the point without a
  /// declaration may use the chunk too, so the record lasts until the stream is idle.
  void pin(stream_handle s, const std::shared_ptr<fence>& point, bool writes, bool open_ended = false);
  /// Some writer has not passed its point yet (asks nothing of open-ended streams:
  /// only whether the device copy is still being written).
  [[nodiscard]] bool writing() const noexcept;
  /// The points of the writers not yet passed on streams other than `s` of driver `d`:
  /// what work enqueued on `s` that reads the device copy must follow. A stream is
  /// known by its driver too, as in pin(): two drivers' handles may be equal.
  [[nodiscard]] std::vector<std::shared_ptr<fence>> writers_besides(const driver& d, stream_handle s) const;
  /// The points not passed yet of the records of stream `s` of driver `d` (`same`) or
  /// of every other stream (not `same`).
  [[nodiscard]] std::vector<std::shared_ptr<fence>> pending(const driver& d, stream_handle s, bool same);
  /// Forgets every record: the chunk left the device (it is evicted only when idle).
  void clear() noexcept { records_.clear(); }
  /// Records held (passed ones too, until the next idle or wait).
  [[nodiscard]] std::size_t size() const noexcept { return records_.size(); }

 private:
  std::vector<pin_record> records_;
};

}  // namespace umpager::detail
