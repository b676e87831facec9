// Helpers for tests that run the whole runtime against each driver.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>

#include "driver_factories.hpp"
#include "umpager/kernels.hpp"
#include "umpager/runtime.hpp"

namespace umpager::testing {

inline constexpr std::size_t kPage = 4096;
inline constexpr std::size_t kWordsPerPage = kPage / sizeof(std::uint32_t);

/// One row of the case table: read-ahead block × dirty-tracking mode.
struct cycle_case {
  std::size_t block;
  tracking_mode tracking;
};

inline std::string describe(const cycle_case& c) {
  return "block=" + std::to_string(c.block >> 10) + "K tracking=" + to_string(c.tracking);
}

inline config make_config(std::size_t block, tracking_mode t, std::size_t device_memory = 0) {
  config cfg;
  cfg.block_size = block;
  cfg.tracking = t;
  cfg.device_memory = device_memory;
  cfg.resolvers = 2;
  return cfg;
}

/// How many of w[0..n) differ from index + delta (the pattern fill-then-add leaves).
inline std::size_t index_mismatches(const std::uint32_t* w, std::size_t n, std::uint32_t delta) {
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) bad += w[i] != static_cast<std::uint32_t>(i + delta);
  return bad;
}

/// How many of w[0..n) differ from what a write scan leaves once the device added
/// `added` to every word: the first word of each page p < `front` was written `base` + p
/// on the CPU, every other word holds index + `delta`.
inline std::size_t scan_mismatches(const std::uint32_t* w, std::size_t n, std::size_t front, std::uint32_t base,
                                   std::uint32_t delta, std::uint32_t added) {
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t p = i / kWordsPerPage;
    const std::uint32_t want = p < front && i % kWordsPerPage == 0 ? base + static_cast<std::uint32_t>(p) + added
                                                                   : static_cast<std::uint32_t>(i + delta);
    bad += w[i] != want;
  }
  return bad;
}

/// A runtime on the factory's driver, or null with `why` (the driver cannot run here).
template <class Factory>
std::unique_ptr<runtime> make_runtime(const config& cfg, std::string* why,
                                      std::size_t memory_bytes = std::size_t{1} << 30) {
  auto d = Factory::make(why, memory_bytes);
  if (!d) return nullptr;
  return std::make_unique<runtime>(cfg, std::move(d));
}

}  // namespace umpager::testing
