#include "os/cpu_pressure.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace umpager::os {

cpu_pressure::cpu_pressure() noexcept : fd_(::open("/proc/pressure/cpu", O_RDONLY | O_CLOEXEC)) {
  if (fd_ && !some_stall_us()) fd_.reset();  // present but unreadable (psi=0 gives EOPNOTSUPP)
}

std::optional<std::uint64_t> cpu_pressure::some_stall_us() const noexcept {
  // "some avg10=0.00 avg60=0.00 avg300=0.00 total=12345\nfull ...": re-read from the start.
  char buf[256];
  const ssize_t n = ::pread(fd_.get(), buf, sizeof buf - 1, 0);
  if (n <= 0) return std::nullopt;
  buf[n] = '\0';
  if (std::strncmp(buf, "some ", 5) != 0) return std::nullopt;
  const char* total = std::strstr(buf, "total=");
  const char* eol = std::strchr(buf, '\n');
  if (total == nullptr || (eol != nullptr && total > eol)) return std::nullopt;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(total + 6, &end, 10);
  if (end == total + 6) return std::nullopt;
  return static_cast<std::uint64_t>(v);
}

}  // namespace umpager::os
