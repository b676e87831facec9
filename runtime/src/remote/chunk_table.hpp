// One allocation's chunk table on one device (device_span.hpp reads it): an 8-byte
// entry a chunk, the address where a kernel on that device reaches the chunk (its
// device VA while resident there, else its host bytes with kRemoteEntry set), and a
// 4-byte counter a chunk of the accesses that reached host memory. Both live in
// memory the driver gives for tables (device memory on CUDA). The runtime sets the
// entries a declaration reaches and writes them on its stream before its kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "umpager/driver.hpp"

namespace umpager::detail {

class chunk_table {
 public:
  chunk_table(driver& d, std::size_t chunks);
  ~chunk_table();
  chunk_table(const chunk_table&) = delete;
  chunk_table& operator=(const chunk_table&) = delete;

  [[nodiscard]] const std::uint64_t* entries() const noexcept { return static_cast<const std::uint64_t*>(mem_); }
  [[nodiscard]] unsigned* device_counts() const noexcept {
    return reinterpret_cast<unsigned*>(static_cast<std::uint64_t*>(mem_) + chunks_);
  }
  [[nodiscard]] std::size_t chunks() const noexcept { return chunks_; }
  /// Entries [first, first + values.size()) become `values`, written on `s`: kernels
  /// enqueued there later see them.
  void publish(std::size_t first, std::span<const std::uint64_t> values, stream_handle s);
  /// The entry last published for chunk `c` (0: never).
  [[nodiscard]] std::uint64_t entry(std::size_t c) const;
  /// The access counters of chunks [first, first + n) now.
  [[nodiscard]] std::vector<unsigned> counts(std::size_t first, std::size_t n) const;
  /// Chunk `c` moved, its counter `seen` when chosen: it starts again from 0, written
  /// on `s` before the kernels that follow.
  void restart_count(std::size_t c, unsigned seen, stream_handle s);
  /// Every access counted, those of restarted counters included.
  [[nodiscard]] std::uint64_t accesses() const;

 private:
  driver& drv_;
  std::size_t chunks_;
  void* mem_;
  mutable std::mutex mutex_;
  std::vector<std::uint64_t> shadow_;  ///< what was last written, by chunk
  std::uint64_t restarted_ = 0;        ///< counts dropped by restart_count
};

}  // namespace umpager::detail
