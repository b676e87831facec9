// The userfaultfd: opening (syscall, else /dev/userfaultfd), feature probing,
// registration and the resolving ioctls. The resolving calls are noexcept and
// return 0 or -errno, because they run on resolver threads (no exceptions there).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "os/fd.hpp"

namespace umpager::os {

struct uffd_features {
  std::uint64_t bits = 0;
  [[nodiscard]] bool has(std::uint64_t f) const noexcept { return (bits & f) == f; }
  /// Human-readable names of the bits in `f` that are missing.
  [[nodiscard]] std::string missing(std::uint64_t f) const;
};

class userfaultfd {
 public:
  /// Features the running kernel offers (opens and closes a probe fd).
  static uffd_features probe(bool user_mode_only);
  /// Opens a userfaultfd and enables `features`; throws umpager::unsupported with
  /// what to change when the kernel or the policy forbids it.
  static userfaultfd open(std::uint64_t features, bool user_mode_only);

  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  [[nodiscard]] uffd_features features() const noexcept { return features_; }

  /// Registers [addr, addr+bytes) with UFFDIO_REGISTER_MODE_* `modes`; throws on failure.
  void register_range(void* addr, std::size_t bytes, std::uint64_t modes) const;
  void unregister_range(void* addr, std::size_t bytes) const noexcept;

  /// UFFDIO_CONTINUE over the range; `*mapped` gets the bytes mapped before an error.
  int continue_range(void* addr, std::size_t bytes, bool write_protect, bool wake,
                     std::size_t* mapped) const noexcept;
  int wake(void* addr, std::size_t bytes) const noexcept;
  /// `wake` only matters when un-protecting.
  int write_protect(void* addr, std::size_t bytes, bool protect, bool wake) const noexcept;
  int poison(void* addr, std::size_t bytes) const noexcept;

 private:
  userfaultfd(unique_fd fd, uffd_features f) : fd_(std::move(fd)), features_(f) {}
  unique_fd fd_;
  uffd_features features_;
};

}  // namespace umpager::os
