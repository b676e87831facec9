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
  void set_mapped(std::size_t p, bool m) noexcept {
    bits_[p] = static_cast<std::uint8_t>(m ? (bits_[p] | kMapped) : (bits_[p] & ~kMapped));
  }

 private:
  static constexpr std::uint8_t kStateMask = 0x3;
  static constexpr std::uint8_t kMapped = 0x4;
  std::unique_ptr<std::uint8_t[]> bits_;
  std::size_t pages_;
};

}  // namespace umpager::detail
