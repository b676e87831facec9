#include "chunk_table.hpp"

#include <algorithm>
#include <cstddef>

namespace umpager::detail {

chunk_table::chunk_table(driver& d, std::size_t chunks)
    : drv_(d), chunks_(chunks), mem_(d.allocate_table(chunks * (sizeof(std::uint64_t) + sizeof(unsigned)))),
      shadow_(chunks, 0) {}

chunk_table::~chunk_table() { drv_.free_table(mem_); }

void chunk_table::publish(std::size_t first, std::span<const std::uint64_t> values, stream_handle s) {
  UMPAGER_EXPECTS(first <= chunks_ && values.size() <= chunks_ - first, "chunk table: entries past its end");
  if (values.empty()) return;
  std::lock_guard g(mutex_);
  // Every entry, changed or not: an equal one written on another stream may not have
  // landed yet when this stream's kernel runs.
  drv_.write_table(static_cast<std::uint64_t*>(mem_) + first, values.data(), values.size() * sizeof(std::uint64_t), s);
  std::copy(values.begin(), values.end(), shadow_.begin() + static_cast<std::ptrdiff_t>(first));
}

std::vector<unsigned> chunk_table::counts(std::size_t first, std::size_t n) const {
  UMPAGER_EXPECTS(first <= chunks_ && n <= chunks_ - first, "chunk table: counters past its end");
  std::vector<unsigned> out(n);
  if (n != 0) drv_.read_table(out.data(), device_counts() + first, n * sizeof(unsigned));
  return out;
}

void chunk_table::restart_count(std::size_t c, unsigned seen, stream_handle s) {
  static constexpr unsigned kZero = 0;
  std::lock_guard g(mutex_);
  restarted_ += seen;
  drv_.write_table(device_counts() + c, &kZero, sizeof kZero, s);
}

std::uint64_t chunk_table::accesses() const {
  std::uint64_t sum = 0;
  for (const unsigned v : counts(0, chunks_)) sum += v;
  std::lock_guard g(mutex_);
  return sum + restarted_;
}

std::uint64_t chunk_table::entry(std::size_t c) const {
  std::lock_guard g(mutex_);
  return shadow_.at(c);
}

}  // namespace umpager::detail
