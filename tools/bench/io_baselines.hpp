// `scan --residency storage` baselines (docs/bench.md): the raw io_uring O_DIRECT read
// bandwidth of a file of the scan's size at its block size and queue depth, and a bare
// 4 KiB io_uring read + UFFDIO_CONTINUE fault round trip.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace umpager::bench {

struct io_baselines {
  double read_seconds = 0;        ///< reading `bytes` once with O_DIRECT (page cache bypassed)
  std::vector<double> bare_us;    ///< one per random 4 KiB touch served by a bare io_uring + CONTINUE resolver
  std::string note;               ///< set when O_DIRECT was refused (buffered reads measured instead)
};

/// In `dir` ("" = $TMPDIR, else /var/tmp): a file of `bytes`, read in `block` requests at
/// `depth` in flight; then `touches` random pages faulted through the bare resolver.
[[nodiscard]] io_baselines measure_io_baselines(const std::string& dir, std::size_t bytes, std::size_t block,
                                                unsigned depth, std::size_t touches);

}  // namespace umpager::bench
