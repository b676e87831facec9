// `umpager-bench scan`: options, and the umpager pass (public C++ API only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "touch.hpp"
#include "umpager/stats.hpp"

namespace umpager::bench {

enum class residency { device, host, storage };
enum class tracking { wp_async, sync, off };
enum class format { table, json };

struct scan_options {
  std::size_t size = std::size_t{256} << 20;
  std::size_t block = 0;  ///< 0: the runtime's default granularity (fault samples per 64 KiB)
  double touch_fraction = 1.0;  ///< random_sparse: share of the pages touched
  pattern order = pattern::seq;
  access mode = access::read;
  unsigned threads = 1;
  residency where = residency::device;
  tracking track = tracking::wp_async;
  format output = format::table;
  std::uint64_t seed = 1;
  bool baselines_only = false;
};

/// A read pass returned other data than was written: the runtime is wrong.
struct data_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Runs a command's body: its exit status, or 1 with the message on stderr when it
/// throws (a data_error says "error:", the runtime's own exceptions as they are).
template <class Body>
int run_reporting(Body&& body) {
  try {
    body();
    return 0;
  } catch (const data_error& e) {
    std::fprintf(stderr, "umpager-bench: error: %s\n", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "umpager-bench: %s\n", e.what());
  }
  return 1;
}

struct umpager_result {
  touch_result touch;
  stats delta;          ///< statistics() after the timed pass minus before
  std::string driver;   ///< driver_info::name
  std::string tracking; ///< tracking in use, as the runtime reports it
  unsigned resolvers = 0;  ///< resolver threads (UMPAGER_RESOLVERS or auto)
  std::size_t readahead = 0;  ///< UMPAGER_READAHEAD in use
  std::string granularity;    ///< "adaptive" or "fixed": what the allocation got
};

/// The fault-sample block of a run: --block, else 64 KiB.
[[nodiscard]] inline std::size_t sample_block(const scan_options& o) noexcept {
  return o.block != 0 ? o.block : std::size_t{64} << 10;
}

/// The scan on a umpager allocation; throws data_error when a read is wrong and
/// umpager exceptions when the runtime fails.
[[nodiscard]] umpager_result run_umpager_pass(const scan_options& o, const touch_plan& plan);

}  // namespace umpager::bench
