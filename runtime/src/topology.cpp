#include "topology.hpp"

#include <hwloc.h>

#include <cerrno>
#include <cstdlib>
#include <memory>

#include "umpager/error.hpp"

namespace umpager::detail {
namespace {

struct bitmap_deleter {
  void operator()(hwloc_bitmap_s* b) const noexcept { hwloc_bitmap_free(b); }
};
using bitmap_ptr = std::unique_ptr<hwloc_bitmap_s, bitmap_deleter>;

bitmap_ptr parse(const std::string& list) {
  bitmap_ptr b(hwloc_bitmap_alloc());
  if (!b || hwloc_bitmap_list_sscanf(b.get(), list.c_str()) != 0) return nullptr;
  return b;
}

std::string to_list(hwloc_const_bitmap_t b) {
  char* s = nullptr;
  if (hwloc_bitmap_list_asprintf(&s, b) < 0 || s == nullptr) return {};
  std::string out(s);
  std::free(s);
  return out;
}

}  // namespace

topology::topology() {
  if (hwloc_topology_init(&topo_) != 0 || hwloc_topology_load(topo_) != 0) {
    if (topo_ != nullptr) hwloc_topology_destroy(topo_);
    throw runtime_error("hwloc could not load the machine topology");
  }
}

topology::~topology() { hwloc_topology_destroy(topo_); }

std::string topology::resolve(const std::string& configured, const std::string& device_local) const {
  hwloc_const_cpuset_t all = hwloc_topology_get_allowed_cpuset(topo_);
  if (!configured.empty()) {
    auto b = parse(configured);
    if (!b || !hwloc_bitmap_intersects(b.get(), all)) {
      throw invalid_argument("UMPAGER_CPUSET='" + configured +
                             "' is invalid; accepted: a CPU list such as 0-3,6 naming CPUs of this machine (" +
                             to_list(all) + ")");
    }
    hwloc_bitmap_and(b.get(), b.get(), all);
    return to_list(b.get());
  }
  if (!device_local.empty()) {
    auto b = parse(device_local);
    if (b && hwloc_bitmap_intersects(b.get(), all)) {
      hwloc_bitmap_and(b.get(), b.get(), all);
      return to_list(b.get());
    }
  }
  return to_list(all);
}

unsigned topology::count(const std::string& cpus) const noexcept {
  auto b = parse(cpus);
  const int n = b ? hwloc_bitmap_weight(b.get()) : 0;
  return n > 0 ? static_cast<unsigned>(n) : 0u;
}

int topology::bind_current_thread(const std::string& cpus) const noexcept {
  auto b = parse(cpus);
  if (!b) return -EINVAL;
  return hwloc_set_cpubind(topo_, b.get(), HWLOC_CPUBIND_THREAD) == 0 ? 0 : -errno;
}

}  // namespace umpager::detail
