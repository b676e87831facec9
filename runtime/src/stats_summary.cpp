#include "stats_summary.hpp"

#include <cstdio>

namespace umpager::detail {
namespace {

std::string mib(std::uint64_t bytes) {
  char b[32];
  std::snprintf(b, sizeof(b), "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return b;
}

std::string us(std::uint64_t ns) {
  char b[32];
  std::snprintf(b, sizeof(b), "%.1f us", static_cast<double>(ns) / 1000);
  return b;
}

}  // namespace

std::string stats_summary(const stats& s, const std::string& driver_name, unsigned resolvers) {
  auto n = [](std::uint64_t v) { return std::to_string(v); };
  std::string o = "umpager statistics (" + driver_name + " driver, " + n(resolvers) + " resolvers)\n";
  auto row = [&o](const char* label, const std::string& text) { o += "  " + std::string(label) + text + "\n"; };
  row("faults          ", "read " + n(s.read_faults) + ", write " + n(s.write_faults) + ", write-protect " +
                             n(s.wp_faults) + ", stale " + n(s.stale_faults));
  row("fault wait      ", "p50 " + us(s.fault_wait_p50_ns) + ", p99 " + us(s.fault_wait_p99_ns));
  row("to host         ", mib(s.bytes_to_host) + " (read-ahead " + mib(s.bytes_read_ahead) + ")");
  row("to device       ", mib(s.bytes_to_device));
  row("device to device", std::string(" ").append(mib(s.bytes_device_to_device)));
  row("read-ahead      ", n(s.pages_read_ahead) + " pages mapped ahead of a scan");
  row("pages           ", "continued " + n(s.pages_continued) + ", written found by scan " + n(s.written_pages_found) +
                             ", poisoned " + n(s.pages_poisoned));
  row("evictions       ", n(s.chunks_evicted) + " chunks");
  row("storage         ", "read back " + mib(s.bytes_from_storage) + " (p50 " + us(s.storage_read_p50_ns) + ", p99 " +
                             us(s.storage_read_p99_ns) + "), written " + mib(s.bytes_to_storage) + ", queue depth " +
                             n(s.io_queue_depth_max) + ", spill failures " + n(s.spill_failures));
  row("resolver busy   ", us(s.resolver_busy_ns));
  row("memory          ", "managed " + mib(s.managed_bytes) + ", host in use " + mib(s.host_bytes_in_use) +
                             ", device in use " + mib(s.device_bytes_in_use) +
                             ", metadata " + mib(s.metadata_bytes));
  return o;
}

}  // namespace umpager::detail
