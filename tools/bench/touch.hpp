// The touch: the one CPU access loop every pass of `umpager-bench scan` runs
// (the umpager pass and each baseline), so their times are comparable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace umpager::bench {

enum class pattern { seq, random, random_sparse };
enum class access { read, write };

inline constexpr std::size_t page_bytes = 4096;

/// Which pages each thread touches, in which order. Built once per run and
/// shared by every pass: the random permutation is the same for all of them.
class touch_plan {
 public:
  /// random_sparse touches a random `fraction` of the pages (at least one), in random order.
  touch_plan(std::size_t bytes, std::size_t block, pattern p, unsigned threads, std::uint64_t seed,
             double fraction = 1.0);

  [[nodiscard]] std::size_t bytes() const noexcept { return pages_ * page_bytes; }
  [[nodiscard]] std::size_t pages() const noexcept { return pages_; }
  [[nodiscard]] std::size_t block() const noexcept { return block_; }
  [[nodiscard]] std::size_t blocks() const noexcept { return (bytes() + block_ - 1) / block_; }
  [[nodiscard]] unsigned threads() const noexcept { return threads_; }
  [[nodiscard]] pattern order() const noexcept { return pattern_; }
  /// Pages the pass touches (all but with random_sparse).
  [[nodiscard]] std::size_t touched() const noexcept { return touched_; }
  /// Thread `t`'s share: [first, last) of the page order.
  [[nodiscard]] std::size_t first(unsigned t) const noexcept { return touched_ * t / threads_; }
  [[nodiscard]] std::size_t last(unsigned t) const noexcept { return touched_ * (t + 1) / threads_; }
  /// Page index at position `i` of the order.
  [[nodiscard]] std::size_t page_at(std::size_t i) const noexcept {
    return pattern_ == pattern::seq ? i : permutation_[i];
  }

 private:
  std::size_t pages_;
  std::size_t touched_;
  std::size_t block_;
  unsigned threads_;
  pattern pattern_;
  std::vector<std::uint32_t> permutation_;  // empty for seq
};

struct touch_result {
  double seconds = 0;             ///< wall time of the pass, threads started before the clock
  std::uint64_t sum = 0;          ///< read passes: sum of the words read (wrapping)
  std::vector<double> fault_us;   ///< one per fault sample: the first touch of a block
};

/// The 64-bit word stored at the start of page `page` by a pattern with `salt`.
[[nodiscard]] std::uint64_t page_value(std::size_t page, std::uint64_t salt) noexcept;
/// Wrapping sum of page_value over every page: what a read pass must return.
[[nodiscard]] std::uint64_t expected_sum(std::size_t pages, std::uint64_t salt) noexcept;
/// Wrapping sum of page_value(page, salt) over the pages `plan` touches.
[[nodiscard]] std::uint64_t touched_sum(const touch_plan& plan, std::uint64_t salt) noexcept;
/// What a sequential read of every page returns after a write pass of `plan` with
/// `write_salt` over pages filled with `fill_salt`.
[[nodiscard]] std::uint64_t after_write_sum(const touch_plan& plan, std::uint64_t fill_salt,
                                            std::uint64_t write_salt) noexcept;
/// Writes page_value(page, salt) into every page (untimed, one thread).
void fill_pattern(std::byte* base, std::size_t pages, std::uint64_t salt) noexcept;

/// One pass over [base, base + plan.bytes()): reads (sums) or writes (page_value
/// with `write_salt`) the first word of every page in the plan's order.
[[nodiscard]] touch_result touch_pass(std::byte* base, const touch_plan& plan, access a,
                                      std::uint64_t write_salt = 0);

/// Nearest-rank percentile (q in [0, 1]) of `v`; reorders `v`. 0 for an empty vector.
[[nodiscard]] double percentile(std::vector<double>& v, double q);

}  // namespace umpager::bench
