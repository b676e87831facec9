// Simulated device memory and device address space: physical chunks are
// slots of anonymous memory (transparent huge pages where the machine allows
// them) parked in one PROT_NONE reservation; device VA is PROT_NONE
// reservations into which slots are moved (mremap) and out of which they are
// moved back to their parking place.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <vector>

#include "os/mapping.hpp"
#include "umpager/driver.hpp"

namespace umpager::sim::detail {

class device_memory {
 public:
  /// `memory_bytes` is rounded down to whole chunks; `chunk_bytes` is a power-of-two page multiple.
  device_memory(std::size_t memory_bytes, std::size_t chunk_bytes);
  device_memory(const device_memory&) = delete;
  device_memory& operator=(const device_memory&) = delete;

  [[nodiscard]] std::size_t chunk_bytes() const noexcept { return chunk_bytes_; }
  [[nodiscard]] std::size_t memory_bytes() const noexcept { return slots_.size() * chunk_bytes_; }

  void* reserve(std::size_t bytes);
  void release(void* base, std::size_t bytes) noexcept;
  chunk_handle create_chunk();
  void destroy_chunk(chunk_handle chunk) noexcept;
  void map_chunk(void* va, chunk_handle chunk);
  void unmap_chunk(void* va) noexcept;

  /// Throws invalid_argument unless the device side of every op lies in mapped chunks.
  void check_copy(umpager::span<const copy_op> ops, copy_direction dir) const;
  /// [p, p+bytes) lies in mapped chunks of this device (takes only this device's lock).
  [[nodiscard]] bool holds(const void* p, std::size_t bytes) const;

 private:
  static constexpr std::uint32_t no_slot = ~std::uint32_t{0};

  struct slot {
    std::uint32_t generation = 0;  ///< bumped by destroy_chunk, so a stale handle is refused
    bool in_use = false;
    bool allocated = false;   ///< pages populated once (at its parking place or mapped); reuse never faults again
    bool destroyed = false;   ///< destroyed while mapped: freed by the unmap
    void* mapped_at = nullptr;
  };
  struct va_chunk {
    std::uint32_t slot = no_slot;
    bool busy = false;  ///< an mmap for this chunk is in flight outside the lock
  };
  struct reservation {
    os::mapping range;
    std::vector<va_chunk> chunks;
  };

  /// The entry for chunk-aligned `va`, waiting out an mmap in flight there; null outside every reservation.
  va_chunk* settled_entry(std::unique_lock<std::mutex>& lk, const void* va);
  [[nodiscard]] const reservation* find(const void* p) const noexcept;
  [[nodiscard]] bool mapped(const void* p, std::size_t bytes) const noexcept;
  slot* lookup(chunk_handle chunk) noexcept;
  void free_slot(std::uint32_t index) noexcept;
  void* guard(void* va) noexcept;
  [[nodiscard]] std::byte* park(std::uint32_t index) const noexcept;
  /// Moves the slot's pages from `from` to `to` (both chunk-aligned, `to` PROT_NONE
  /// afterwards like `from`); false (errno set) if the kernel refused.
  bool move(void* from, void* to) noexcept;

  std::size_t chunk_bytes_;
  os::mapping parking_;  ///< slot i's pages live at parking_ + i * chunk_bytes_ while unmapped

  mutable std::mutex mutex_;
  std::condition_variable settled_;  ///< a busy entry became settled
  std::vector<slot> slots_;
  std::vector<std::uint32_t> free_;  ///< LIFO, so reuse prefers slots already allocated
  std::map<std::uintptr_t, reservation> reservations_;
};

}  // namespace umpager::sim::detail
