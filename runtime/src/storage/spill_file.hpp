// The host budget's spill file: one O_TMPFILE file (mode 0600, gone when the process
// exits) in UMPAGER_SPILL_DIR, O_DIRECT where the filesystem allows. Each region with
// a budget gets its own range of the (sparse) file, punched out again when freed.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "os/fd.hpp"

namespace umpager::detail {

class spill_file {
 public:
  /// `dir` "" = $TMPDIR, else /var/tmp. invalid_argument or system_error naming
  /// UMPAGER_SPILL_DIR when the directory is missing, not a directory or not writable.
  explicit spill_file(const std::string& dir);

  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  [[nodiscard]] const std::string& dir() const noexcept { return dir_; }
  [[nodiscard]] bool direct() const noexcept { return direct_; }
  /// A range of `bytes` for one region (its file offset); never reused.
  [[nodiscard]] std::uint64_t reserve(std::uint64_t bytes) noexcept;
  /// Frees a region's range (punches it out of the file).
  void release(std::uint64_t base, std::uint64_t bytes) const noexcept;

 private:
  std::string dir_;
  os::unique_fd fd_;
  bool direct_ = false;
  std::atomic<std::uint64_t> next_{0};
};

}  // namespace umpager::detail
