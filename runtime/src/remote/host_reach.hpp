// Kernels that reach a region's chunks in host memory (zero-copy, device_span.hpp):
// per chunk, the declarations still open that reach it there and one record per
// stream of the work that may still read or write it. While a chunk has either, it
// must stay where it is: not made resident (its table entry would change under a
// running kernel) and not released from host memory (host budget). Its own mutex,
// apart from the chunk locks: a declaration closes without taking the chunk's lock,
// so a move that waits here under that lock cannot block the close it waits for.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "inflight.hpp"

namespace umpager::detail {

class host_reach {
 public:
  explicit host_reach(std::size_t chunks) : chunks_(chunks) {}

  /// A declaration will reach chunk `c` in host memory.
  void open(std::size_t c);
  /// It closed: its kernels on `s` end at `point` (a writer when `writes`).
  void close(std::size_t c, stream_handle s, const std::shared_ptr<fence>& point, bool writes);
  /// It failed or was dropped before its close.
  void abandon(std::size_t c) noexcept;
  /// Nothing open and every record passed.
  [[nodiscard]] bool idle(std::size_t c);
  /// Waits up to `timeout` for idle().
  [[nodiscard]] bool wait_idle(std::size_t c, std::chrono::milliseconds timeout);
  /// settle() would not wait: nothing open, no record of another stream than `s` of `d`.
  [[nodiscard]] bool movable(std::size_t c, const driver& d, stream_handle s);
  /// Before the chunk moves in stream order on stream `s` of driver `d`: waits up to
  /// `timeout` until nothing is open and only records of `s` remain, and returns
  /// their points (the move follows them by event); false past the timeout.
  [[nodiscard]] bool settle(std::size_t c, const driver& d, stream_handle s, std::chrono::milliseconds timeout,
                            std::vector<std::shared_ptr<fence>>& same_stream);

 private:
  struct chunk {
    unsigned open = 0;
    work_in_flight work;
  };
  std::mutex mutex_;
  std::vector<chunk> chunks_;
};

}  // namespace umpager::detail
