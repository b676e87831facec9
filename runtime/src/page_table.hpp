// Per-page state of a region: one byte per 4 KiB page (the budget is 8).
// Every access happens under the lock of the page's chunk (region_chunk::lock).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace umpager::detail {

inline constexpr std::size_t kPageSize = 4096;

/// See design.md "Page states".
enum class page_state : std::uint8_t {
  host = 0,    ///< host authoritative, device copy stale or absent
  shared = 1,  ///< both valid; user PTE write-protected or absent
  device = 2,  ///< device authoritative; user PTE absent
  storage = 3, ///< only the storage copy (a mapped file) is valid: a memfd hole, user PTE absent
};

class page_table {
 public:
  explicit page_table(std::size_t pages) : bits_(std::make_unique<std::uint8_t[]>(pages)), pages_(pages) {}

  [[nodiscard]] std::size_t size() const noexcept { return pages_; }
  [[nodiscard]] std::size_t memory_bytes() const noexcept { return pages_ * sizeof(std::uint8_t); }

  [[nodiscard]] page_state state(std::size_t p) const noexcept {
    return static_cast<page_state>(bits_[p] & kStateMask);
  }
  void set_state(std::size_t p, page_state s) noexcept {
    bits_[p] = static_cast<std::uint8_t>((bits_[p] & ~kStateMask) | static_cast<std::uint8_t>(s));
  }
  /// Whether the user view has a PTE for the page, as far as the runtime knows
  /// (a fault on the page proves it has none; EEXIST proves it has one).
  [[nodiscard]] bool mapped(std::size_t p) const noexcept { return (bits_[p] & kMapped) != 0; }
  void set_mapped(std::size_t p, bool m) noexcept { set_bit(p, kMapped, m); }
  /// The page was uploaded since its chunk became resident (a `host` page with this
  /// bit has a stale device copy: UMPAGER_CHECK_STALE).
  [[nodiscard]] bool uploaded(std::size_t p) const noexcept { return (bits_[p] & kUploaded) != 0; }
  void set_uploaded(std::size_t p, bool u) noexcept { set_bit(p, kUploaded, u); }
  /// Read-mostly advice: uploads leave the page `shared`.
  [[nodiscard]] bool read_mostly(std::size_t p) const noexcept { return (bits_[p] & kReadMostly) != 0; }
  void set_read_mostly(std::size_t p, bool r) noexcept { set_bit(p, kReadMostly, r); }
  /// The storage copy (a mapped file) holds the page's current bytes: a flush need
  /// not write it. Cleared by every way a page can be written (region_storage.cpp).
  [[nodiscard]] bool backed(std::size_t p) const noexcept { return (bits_[p] & kBacked) != 0; }
  void set_backed(std::size_t p, bool b) noexcept { set_bit(p, kBacked, b); }
  /// Mapped writable ahead of a write scan while still clean: its bytes at mapping are
  /// in its chunk's snapshot, which decides later whether it was written
  /// (region_write_ahead.cpp).
  [[nodiscard]] bool speculative(std::size_t p) const noexcept { return (bits_[p] & kSpeculative) != 0; }
  void set_speculative(std::size_t p, bool s) noexcept { set_bit(p, kSpeculative, s); }
  /// A `storage` page whose asynchronous read into the alias view is in flight
  /// (region_storage_async.cpp): nothing else may read, map or punch it until it lands.
  [[nodiscard]] bool reading(std::size_t p) const noexcept { return (bits_[p] & kReading) != 0; }
  void set_reading(std::size_t p, bool r) noexcept { set_bit(p, kReading, r); }

 private:
  static constexpr std::uint8_t kStateMask = 0x3;
  static constexpr std::uint8_t kMapped = 0x4;
  static constexpr std::uint8_t kUploaded = 0x8;
  static constexpr std::uint8_t kReadMostly = 0x10;
  static constexpr std::uint8_t kBacked = 0x20;
  static constexpr std::uint8_t kSpeculative = 0x40;
  static constexpr std::uint8_t kReading = 0x80;
  void set_bit(std::size_t p, std::uint8_t bit, bool on) noexcept {
    bits_[p] = static_cast<std::uint8_t>(on ? (bits_[p] | bit) : (bits_[p] & ~bit));
  }
  std::unique_ptr<std::uint8_t[]> bits_;
  std::size_t pages_;
};

}  // namespace umpager::detail
