// Sequential read-ahead work: ranges of a region that a CPU scan will read next,
// queued by the resolver that served the fault and mapped by any idle resolver,
// so copies and mappings of the next blocks overlap (see docs/architecture.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>

#include "os/eventfd.hpp"

namespace umpager::detail {

class region;

struct readahead_item {
  std::shared_ptr<region> r;
  std::size_t first_page;
  std::size_t end_page;     ///< within one chunk
  std::uint64_t queued_at;  ///< context::zap_clock when the triggering fault was read
  bool writable = false;    ///< a write scan's: map writable, speculatively (region_write_ahead.cpp)
};

class readahead_queue {
 public:
  /// Adds an item and wakes one resolver (never throws: a lost item only costs a fault).
  void push(readahead_item item) noexcept;
  /// Takes the oldest item; false if another resolver took it first.
  bool pop(readahead_item& out);
  /// Semaphore eventfd: readable while items are queued (resolvers poll it).
  [[nodiscard]] int fd() const noexcept { return ready_.fd(); }
  /// Drops every item (shutdown: they hold regions alive).
  void clear() noexcept;

 private:
  std::mutex mutex_;
  std::deque<readahead_item> items_;
  os::event_fd ready_{true};
};

}  // namespace umpager::detail
