// What runtime::query reports about a range: where each page is, the last
// prefetch location and the advice in force (cudaMemRangeGetAttribute's shape).
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

namespace umpager {

/// A place: the host, or device `device`.
struct placement {
  bool on_host = true;
  unsigned device = 0;
  friend bool operator==(const placement& a, const placement& b) noexcept {
    return a.on_host == b.on_host && a.device == b.device;
  }
  friend bool operator!=(const placement& a, const placement& b) noexcept { return !(a == b); }
};

/// Where one 4 KiB page's valid copies are.
enum class page_where : unsigned char {
  host,    ///< the host copy only is valid
  shared,  ///< both the host copy and device `device`'s copy are valid
  device,  ///< only device `device`'s copy is valid
  storage  ///< only the storage copy is valid (a mapped file's page not read yet)
};

struct page_residence {
  page_where where = page_where::host;
  unsigned device = 0;  ///< for shared and device
};

struct range_info {
  std::vector<page_residence> pages;  ///< one per 4 KiB page of the range
  /// The last prefetch's target, if every chunk of the range agrees (cudaMemRangeAttributeLastPrefetchLocation).
  std::optional<placement> last_prefetch;
  /// The preferred location, if every chunk of the range has the same one.
  std::optional<placement> preferred_location;
  bool read_mostly = false;  ///< read-mostly advice is in force on every page of the range
  /// Devices with accessed_by advice on every chunk of the range: they reach it where
  /// it is (device_span.hpp), whatever their access counts.
  std::vector<unsigned> accessed_by;
};

}  // namespace umpager
