// Where resolver threads run: hwloc topology and CPU binding.
#pragma once

#include <string>

struct hwloc_topology;

namespace umpager::detail {

class topology {
 public:
  topology();
  ~topology();
  topology(const topology&) = delete;
  topology& operator=(const topology&) = delete;

  /// The CPUs resolvers use: `configured` (UMPAGER_CPUSET) if set, else the
  /// device's local CPUs, else the whole machine; as an hwloc list string.
  /// Throws invalid_argument when `configured` names no CPU of this machine.
  [[nodiscard]] std::string resolve(const std::string& configured, const std::string& device_local) const;
  /// How many CPUs an hwloc list string names (0 if it does not parse).
  [[nodiscard]] unsigned count(const std::string& cpus) const noexcept;
  /// Binds the calling thread to `cpus`; returns 0 or -errno (never throws: resolver threads call it).
  int bind_current_thread(const std::string& cpus) const noexcept;

 private:
  hwloc_topology* topo_ = nullptr;
};

}  // namespace umpager::detail
