// Fault wait times: a lock-free histogram with log-scale buckets (four per power
// of two, so a percentile is within about 12% of the true value). Each resolver
// records into its own, merged when statistics are read; recording never
// allocates, locks or throws, so it is safe on the fault path.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstdint>

namespace umpager::detail {

class wait_histogram {
 public:
  static constexpr int kSubBits = 2;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = 64 * kSub;
  using counts = std::array<std::uint64_t, kBuckets>;

  void record(std::uint64_t ns) noexcept { n_[bucket(ns)].fetch_add(1, std::memory_order_relaxed); }

  /// Adds this histogram's counts to `into`.
  void merge_into(counts& into) const noexcept {
    for (int b = 0; b < kBuckets; ++b) into[b] += n_[b].load(std::memory_order_relaxed);
  }

  /// Bucket of `ns`: exact below kSub, then kSub buckets per power of two.
  static constexpr int bucket(std::uint64_t ns) noexcept {
    if (ns < kSub) return static_cast<int>(ns);
    const int msb = 63 - std::countl_zero(ns);
    const auto sub = static_cast<int>((ns >> (msb - kSubBits)) & (kSub - 1));
    return (msb - kSubBits + 1) * kSub + sub;
  }
  /// The middle of bucket `b`'s range [low, high].
  static constexpr std::uint64_t midpoint(int b) noexcept {
    if (b < kSub) return static_cast<std::uint64_t>(b);
    const int msb = b / kSub + kSubBits - 1;
    const std::uint64_t step = std::uint64_t{1} << (msb - kSubBits);
    const std::uint64_t low = static_cast<std::uint64_t>(kSub + b % kSub) * step;
    return low + (step - 1) / 2;
  }
  /// The `q` quantile (0 < q <= 1) of merged counts, as its bucket's midpoint; 0 when empty.
  static std::uint64_t quantile(const counts& c, double q) noexcept {
    std::uint64_t total = 0;
    for (std::uint64_t v : c) total += v;
    if (total == 0) return 0;
    // The smallest value with at least q * total samples at or below it.
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total));
    if (static_cast<double>(rank) < q * static_cast<double>(total)) ++rank;
    if (rank == 0) rank = 1;
    std::uint64_t seen = 0;
    for (int b = 0; b < kBuckets; ++b) {
      seen += c[b];
      if (seen >= rank) return midpoint(b);
    }
    return midpoint(kBuckets - 1);
  }

 private:
  std::array<std::atomic<std::uint64_t>, kBuckets> n_{};
};

}  // namespace umpager::detail
