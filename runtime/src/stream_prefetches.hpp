// What was prefetched to the device on each stream the runtime made, since that
// stream's last runtime launch, declaration or synchronize: the set an undeclared
// runtime::launch on it declares, so that other threads' work cannot evict it between
// the prefetches and the kernel (docs/api.md "Prefetch, then launch").
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "umpager/stream.hpp"

namespace umpager::detail {

class region;

class stream_prefetches final : public stream_observer {
 public:
  struct range {
    std::weak_ptr<region> r;  ///< weak: a freed allocation is dropped, not kept alive
    std::size_t offset = 0;
    std::size_t bytes = 0;
  };

  /// Remembers [offset, offset + bytes) of `r`, just prefetched to `device` on `h`.
  /// Keeps the newest ranges whose chunks fit `budget_chunks` together: older ones
  /// could not all stay resident with them anyway.
  void remember(stream_handle h, unsigned device, const std::shared_ptr<region>& r, std::size_t offset,
                std::size_t bytes, std::size_t chunk_bytes, std::size_t budget_chunks);
  /// The ranges remembered for `h` (overlaps merged) and their device; forgets them.
  std::vector<range> take(stream_handle h, unsigned& device);
  void forget(stream_handle h) noexcept;
  /// Forgets the ranges of `h` that overlap [offset, offset + bytes) of `r` (gone home).
  void forget(stream_handle h, const region* r, std::size_t offset, std::size_t bytes) noexcept;

  void synchronized(stream_handle h) noexcept override { forget(h); }
  void destroyed(stream_handle h) noexcept override { forget(h); }

 private:
  struct window {
    unsigned device = 0;
    std::deque<range> ranges;  ///< oldest first
  };
  std::mutex mutex_;
  std::unordered_map<const void*, window> windows_;
};

}  // namespace umpager::detail
