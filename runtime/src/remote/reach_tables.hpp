// The chunk tables of the allocations accessors were made for (runtime::reach), one
// per allocation and device, made on first use and dropped when the allocation is
// freed. A launch with no access set reaches every allocation listed here.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "chunk_table.hpp"

namespace umpager::detail {

class region;

class reach_tables {
 public:
  /// The table of `r` on device `dev` of driver `d`, made on first use.
  chunk_table& table(const std::shared_ptr<region>& r, unsigned dev, driver& d, std::size_t chunks);
  /// Its table on `dev`, or null if no accessor was made for it there.
  [[nodiscard]] chunk_table* find(const region& r, unsigned dev);
  /// The allocation is freed: its tables go (no kernel reaches it any more).
  void forget(const region& r) noexcept;
  /// Accesses the accessors counted in host memory, over every table (freed ones too).
  [[nodiscard]] std::uint64_t accesses() const;
  /// The live allocations with a table on `dev`.
  [[nodiscard]] std::vector<std::shared_ptr<region>> on_device(unsigned dev);

 private:
  struct entry {
    std::weak_ptr<region> r;
    std::vector<std::unique_ptr<chunk_table>> by_device;
  };
  mutable std::mutex mutex_;
  std::map<const region*, entry> tables_;
  std::uint64_t forgotten_ = 0;  ///< accesses counted by the tables of freed allocations
};

}  // namespace umpager::detail
