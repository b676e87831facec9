// CPU pressure (PSI, Linux 4.20+): the total time some runnable task waited for a CPU,
// from /proc/pressure/cpu. The resolvers spin only while it stays low: a spin then uses
// a CPU nobody else wanted (docs/architecture.md "One resolver loop").
#pragma once

#include <cstdint>
#include <optional>

#include "os/fd.hpp"

namespace umpager::os {

class cpu_pressure {
 public:
  /// Opens /proc/pressure/cpu; available() is false where the kernel has no PSI
  /// (CONFIG_PSI off, booted with psi=0) or /proc is not mounted.
  cpu_pressure() noexcept;
  [[nodiscard]] bool available() const noexcept { return static_cast<bool>(fd_); }
  /// The "some" line's total stall time in microseconds; nullopt if it cannot be read.
  [[nodiscard]] std::optional<std::uint64_t> some_stall_us() const noexcept;

 private:
  unique_fd fd_;
};

}  // namespace umpager::os
