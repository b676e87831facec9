// UMPAGER_HOST_MEMORY: a thread that keeps the host memory of managed data (the
// memfds' allocated pages) within the budget by moving the coldest chunks' host
// copies to storage (region::release_host). Loads only nudge it (grew()); nothing on
// the fault path waits for it, so the budget can be passed by what resolvers read
// while it works (about one read-ahead window per resolver).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "counters.hpp"

namespace umpager::detail {

class region;

class host_budget {
 public:
  using regions_fn = std::function<std::vector<std::shared_ptr<region>>()>;
  /// `regions`: the live regions (a snapshot, called on the budget's thread).
  host_budget(std::size_t bytes, regions_fn regions, counters& count);
  ~host_budget();
  host_budget(const host_budget&) = delete;
  host_budget& operator=(const host_budget&) = delete;

  /// Host memory grew by `bytes` (pages read or zero-filled): check the budget soon once
  /// loads since the last nudge add up to a 64th of it (a nudge per 4 KiB fault would
  /// wake this thread on every fault; the 20 ms look catches the rest).
  void grew(std::size_t bytes) noexcept;
  /// Runs one enforcement pass now, on the calling thread (tests, shutdown checks).
  void enforce() noexcept;
  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }

 private:
  void run() noexcept;

  std::size_t bytes_;
  std::size_t target_;  ///< a pass stops once at or below this (hysteresis)
  std::size_t nudge_bytes_;              ///< loads between nudges
  std::atomic<std::size_t> grown_{0};    ///< bytes loaded since the last nudge
  regions_fn regions_;
  counters& count_;
  std::mutex pass_mutex_;  ///< one pass at a time
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool nudged_ = false;
  bool warned_ = false;  ///< the one spill failure message was printed
  std::thread thread_;
};

}  // namespace umpager::detail
