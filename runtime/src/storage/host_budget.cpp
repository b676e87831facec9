#include "storage/host_budget.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "region.hpp"

namespace umpager::detail {

host_budget::host_budget(std::size_t bytes, regions_fn regions, counters& count)
    : bytes_(bytes), target_(bytes - bytes / 8), nudge_bytes_(bytes / 64), regions_(std::move(regions)), count_(count) {
  thread_ = std::thread([this] { run(); });
}

host_budget::~host_budget() {
  {
    std::lock_guard g(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void host_budget::grew(std::size_t bytes) noexcept {
  if (grown_.fetch_add(bytes, std::memory_order_relaxed) + bytes < nudge_bytes_) return;
  grown_.store(0, std::memory_order_relaxed);
  {
    std::lock_guard g(mutex_);
    nudged_ = true;
  }
  cv_.notify_one();
}

void host_budget::run() noexcept {
  std::unique_lock lk(mutex_);
  while (!stop_) {
    // Nudged by loads; also a periodic look, since evictions from the device and
    // writes into holes grow host memory without a load.
    cv_.wait_for(lk, std::chrono::milliseconds(20), [this] { return stop_ || nudged_; });
    if (stop_) return;
    nudged_ = false;
    lk.unlock();
    enforce();
    lk.lock();
  }
}

void host_budget::enforce() noexcept {
  std::lock_guard pass(pass_mutex_);
  try {
    std::vector<std::shared_ptr<region>> rs = regions_();
    std::size_t used = 0;
    for (const auto& r : rs) used += r->host_bytes();
    if (used <= bytes_) return;
    struct candidate {
      region* r;
      std::size_t chunk;
      std::uint64_t used;
    };
    std::vector<candidate> all;
    for (const auto& r : rs) {
      if (!r->has_storage()) continue;
      for (std::size_t c = 0; c < r->chunk_count(); ++c) all.push_back({r.get(), c, r->host_used(c)});
    }
    std::sort(all.begin(), all.end(), [](const candidate& a, const candidate& b) { return a.used < b.used; });
    for (const candidate& k : all) {
      try {
        const std::size_t freed = k.r->release_host(k.chunk, k.used) * 4096;
        used = freed < used ? used - freed : 0;
      } catch (const std::exception& e) {
        counters::add(count_.spill_failures, 1);
        if (!warned_) {
          std::fprintf(stderr, "umpager: host budget: %s\n", e.what());
          warned_ = true;
        }
      }
      if (used <= target_) break;
    }
  } catch (...) {
    // out of memory for the candidate list: the next pass tries again
  }
}

}  // namespace umpager::detail
