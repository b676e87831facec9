#include "umpager/config.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <limits>
#include <string_view>
#include <vector>

#include "config_table.hpp"
#include "umpager/error.hpp"

namespace umpager {
namespace {

constexpr std::size_t kPage = 4096;
constexpr std::size_t kMaxBlock = std::size_t{2} << 20;
constexpr std::size_t kMaxReadahead = std::size_t{1} << 30;
constexpr unsigned kMaxSpinUs = 10000;
constexpr std::size_t kMinHostMemory = std::size_t{4} << 20;

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? v : nullptr;
}

[[noreturn]] void bad(const char* what, const std::string& value, const char* accepted) {
  throw invalid_argument(std::string(what) + "='" + value + "' is invalid; accepted: " + accepted);
}

bool is_pow2(std::size_t v) { return v != 0 && (v & (v - 1)) == 0; }

/// Variable `name`'s value `v` as an integer from lo to hi, else the error listing `accepted`.
unsigned parse_count(const char* name, const char* v, long lo, long hi, const char* accepted) {
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n < lo || n > hi) bad(name, v, accepted);
  return static_cast<unsigned>(n);
}

/// "1" or "0", else the error listing `accepted`.
bool parse_switch(const char* name, const char* v, const char* accepted) {
  const std::string s(v);
  if (s != "1" && s != "0") bad(name, s, accepted);
  return s == "1";
}

}  // namespace

const char* to_string(driver_kind k) noexcept {
  switch (k) {
    case driver_kind::sim: return "sim";
    case driver_kind::cuda: return "cuda";
    default: return "auto";
  }
}

const char* to_string(tracking_mode m) noexcept {
  switch (m) {
    case tracking_mode::wp_async: return "wp_async";
    case tracking_mode::sync: return "sync";
    case tracking_mode::off: return "off";
    default: return "auto";
  }
}

const char* to_string(policy_kind p) noexcept {
  switch (p) {
    case policy_kind::lru: return "lru";
    case policy_kind::fifo: return "fifo";
    case policy_kind::clock: return "clock";
    case policy_kind::adaptive: return "adaptive";
  }
  return "unknown";
}

policy_kind parse_policy(const std::string& text, const char* what) {
  for (policy_kind p : {policy_kind::lru, policy_kind::fifo, policy_kind::clock, policy_kind::adaptive}) {
    if (text == to_string(p)) return p;
  }
  bad(what, text, "lru, fifo, clock, adaptive");
}

std::size_t parse_size(const std::string& text, const char* what) {
  const char* accepted = "a byte count with optional K, M or G suffix (binary units), e.g. 4096, 64K, 2M, 1G";
  if (text.empty() || text[0] < '0' || text[0] > '9') bad(what, text, accepted);
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (errno != 0) bad(what, text, accepted);
  std::size_t shift = 0;
  std::string suffix(end);
  if (suffix == "K" || suffix == "k" || suffix == "KiB") shift = 10;
  else if (suffix == "M" || suffix == "m" || suffix == "MiB") shift = 20;
  else if (suffix == "G" || suffix == "g" || suffix == "GiB") shift = 30;
  else if (!suffix.empty()) bad(what, text, accepted);
  if (v > (std::numeric_limits<std::size_t>::max() >> shift)) bad(what, text, accepted);
  return static_cast<std::size_t>(v) << shift;
}

bool config::operator==(const config&) const = default;

void config::validate() const {
  if (block_size != 0 && (!is_pow2(block_size) || block_size < kPage || block_size > kMaxBlock)) {
    bad("block_size", std::to_string(block_size), "0 (adaptive) or a power of two from 4K to 2M");
  }
  if (devices < 1 || devices > 16) bad("devices", std::to_string(devices), "1 to 16");
  if (resolvers > 64) bad("resolvers", std::to_string(resolvers), "0 (auto) or 1 to 64");
  if (readahead_bytes > kMaxReadahead) bad("readahead_bytes", std::to_string(readahead_bytes), "0 (off) to 1G");
  if (host_memory != 0 && host_memory < kMinHostMemory) {
    bad("host_memory", std::to_string(host_memory), "0 (no budget) or at least 4M");
  }
  if (policy != policy_kind::lru && policy != policy_kind::fifo && policy != policy_kind::clock &&
      policy != policy_kind::adaptive) {
    bad("policy", std::to_string(static_cast<int>(policy)), "lru, fifo, clock, adaptive");
  }
  if (resolver_spin_us > kMaxSpinUs && resolver_spin_us != kSpinAuto) {
    bad("resolver_spin_us", std::to_string(resolver_spin_us), "config::kSpinAuto, or 0 (never spin) to 10000");
  }
  if (resolver_wait != resolver_wait_kind::automatic && resolver_wait != resolver_wait_kind::io_uring &&
      resolver_wait != resolver_wait_kind::epoll) {
    bad("resolver_wait", std::to_string(static_cast<int>(resolver_wait)), "auto, io_uring, epoll");
  }
  if (copy_timeout_ms < 1 || copy_timeout_ms > 3600000) {
    bad("copy_timeout_ms", std::to_string(copy_timeout_ms), "1 to 3600000");
  }
}

namespace detail {
namespace {

void set_driver(config& c, const char* v) {
  const std::string s(v);
  if (s == "auto") c.driver = driver_kind::automatic;
  else if (s == "sim") c.driver = driver_kind::sim;
  else if (s == "cuda") c.driver = driver_kind::cuda;
  else bad("UMPAGER_DRIVER", s, "auto, sim, cuda");
}
void set_device_memory(config& c, const char* v) {
  c.device_memory = parse_size(v, "UMPAGER_DEVICE_MEMORY");
  if (c.device_memory == 0) bad("UMPAGER_DEVICE_MEMORY", v, "a size of at least one chunk (2M)");
}
void set_block_size(config& c, const char* v) {
  const char* accepted = "adaptive (4K up to a chunk, by fault density) or a power of two from 4K to 2M";
  if (std::string_view(v) == "adaptive") {
    c.block_size = 0;
    return;
  }
  if (*v < '0' || *v > '9') bad("UMPAGER_BLOCK_SIZE", v, accepted);
  c.block_size = parse_size(v, "UMPAGER_BLOCK_SIZE");
  if (!is_pow2(c.block_size) || c.block_size < kPage || c.block_size > kMaxBlock) bad("UMPAGER_BLOCK_SIZE", v, accepted);
}
void set_resolvers(config& c, const char* v) {
  c.resolvers =
      std::string(v) == "auto" ? 0 : parse_count("UMPAGER_RESOLVERS", v, 1, 64, "auto, or an integer from 1 to 64");
}
void set_devices(config& c, const char* v) {
  c.devices = parse_count("UMPAGER_DEVICES", v, 1, 16, "an integer from 1 to 16");
}
void set_cpuset(config& c, const char* v) { c.cpuset = v; }  // validated by topology at start
void set_tracking(config& c, const char* v) {
  const std::string s(v);
  if (s == "auto") c.tracking = tracking_mode::automatic;
  else if (s == "wp_async") c.tracking = tracking_mode::wp_async;
  else if (s == "sync") c.tracking = tracking_mode::sync;
  else if (s == "off") c.tracking = tracking_mode::off;
  else bad("UMPAGER_TRACKING", s, "auto, wp_async, sync, off");
}
void set_copy_timeout(config& c, const char* v) {
  c.copy_timeout_ms = parse_count("UMPAGER_COPY_TIMEOUT_MS", v, 1, 3600000, "an integer from 1 to 3600000");
}
void set_kernel_faults(config& c, const char* v) {
  c.kernel_faults = parse_switch("UMPAGER_KERNEL_FAULTS", v, "1 (serve faults in system calls), 0 (user-mode faults only)");
}
void set_readahead(config& c, const char* v) {
  c.readahead_bytes = parse_size(v, "UMPAGER_READAHEAD");
  if (c.readahead_bytes > kMaxReadahead) bad("UMPAGER_READAHEAD", v, "a size from 0 (off) to 1G");
}
void set_single_pointer(config& c, const char* v) {
  c.single_pointer =
      parse_switch("UMPAGER_SINGLE_POINTER", v, "1 (one pointer for CPU and device), 0 (separate pointers)");
}
void set_stats(config& c, const char* v) {
  c.stats_summary = parse_switch("UMPAGER_STATS", v, "1 (print a summary to stderr at shutdown), 0 (do not)");
}
void set_host_memory(config& c, const char* v) {
  c.host_memory = parse_size(v, "UMPAGER_HOST_MEMORY");
  if (c.host_memory != 0 && c.host_memory < kMinHostMemory) bad("UMPAGER_HOST_MEMORY", v, "0 (no budget) or at least 4M");
}
void set_spill_dir(config& c, const char* v) { c.spill_dir = v; }  // opened (and checked) when the runtime starts
void set_trace(config& c, const char* v) { c.trace_file = v; }  // opened (and checked) when the runtime starts
void set_policy(config& c, const char* v) { c.policy = parse_policy(v, "UMPAGER_POLICY"); }
void set_check_stale(config& c, const char* v) {
  c.check_stale = parse_switch("UMPAGER_CHECK_STALE", v,
                               "1 (an undeclared launch fails if the CPU wrote device-resident data), 0 (off)");
}
void set_chunks_ahead(config& c, const char* v) {
  c.chunks_ahead = parse_switch("UMPAGER_CHUNKS_AHEAD", v,
                                "1 (allocate creates the allocation's device chunks), 0 (the first move does)");
}
void set_page_cache(config& c, const char* v) {
  c.page_cache = parse_switch("UMPAGER_PAGE_CACHE", v,
                              "0 (mapped files use O_DIRECT where allowed), 1 (through the page cache)");
}
void set_migrate_after(config& c, const char* v) {
  const std::string s(v);
  if (s == "auto") c.migrate_after = config::kMigrateAuto;
  else if (s == "never") c.migrate_after = config::kMigrateNever;
  else c.migrate_after = parse_count("UMPAGER_MIGRATE_AFTER", v, 1, 4000000000L,
                                                       "auto, never, or a count of accesses from 1 to 4000000000");
}
void set_resolver_spin(config& c, const char* v) {
  c.resolver_spin_us = std::string(v) == "auto" ? config::kSpinAuto
                                                : parse_count("UMPAGER_RESOLVER_SPIN_US", v, 0, kMaxSpinUs,
                                                              "auto, or an integer from 0 (never spin) to 10000");
}
void set_resolver_wait(config& c, const char* v) {
  const std::string s(v);
  if (s == "auto") c.resolver_wait = resolver_wait_kind::automatic;
  else if (s == "io_uring") c.resolver_wait = resolver_wait_kind::io_uring;
  else if (s == "epoll") c.resolver_wait = resolver_wait_kind::epoll;
  else bad("UMPAGER_RESOLVER_WAIT", s, "auto, io_uring, epoll");
}

// Every variable: a new one is added here (with a sample that differs from the
// default), in docs/environment.md, and in the C struct; config_test walks this
// table through the C API round trip.
constexpr env_variable kVariables[] = {
    {"UMPAGER_DRIVER", "sim", set_driver},
    {"UMPAGER_DEVICE_MEMORY", "64M", set_device_memory},
    {"UMPAGER_BLOCK_SIZE", "2M", set_block_size},
    {"UMPAGER_RESOLVERS", "3", set_resolvers},
    {"UMPAGER_DEVICES", "2", set_devices},
    {"UMPAGER_CPUSET", "0", set_cpuset},
    {"UMPAGER_TRACKING", "sync", set_tracking},
    {"UMPAGER_COPY_TIMEOUT_MS", "1234", set_copy_timeout},
    {"UMPAGER_KERNEL_FAULTS", "0", set_kernel_faults},
    {"UMPAGER_READAHEAD", "4M", set_readahead},
    {"UMPAGER_SINGLE_POINTER", "1", set_single_pointer},
    {"UMPAGER_STATS", "1", set_stats},
    {"UMPAGER_TRACE", "/tmp/umpager-trace.json", set_trace},
    {"UMPAGER_POLICY", "clock", set_policy},
    {"UMPAGER_CHECK_STALE", "1", set_check_stale},
    {"UMPAGER_CHUNKS_AHEAD", "0", set_chunks_ahead},
    {"UMPAGER_PAGE_CACHE", "1", set_page_cache},
    {"UMPAGER_MIGRATE_AFTER", "7", set_migrate_after},
    {"UMPAGER_RESOLVER_SPIN_US", "7", set_resolver_spin},
    {"UMPAGER_RESOLVER_WAIT", "epoll", set_resolver_wait},
    {"UMPAGER_HOST_MEMORY", "256M", set_host_memory},
    {"UMPAGER_SPILL_DIR", "/var/tmp", set_spill_dir},
};

}  // namespace

std::span<const env_variable> env_variables() noexcept { return kVariables; }

}  // namespace detail

namespace {

/// Every name umpager knows: the runtime's variables, and those read by tools, tests
/// and the build rather than the runtime (docs/environment.md).
std::vector<std::string_view> known_names() {
  std::vector<std::string_view> out;
  for (const detail::env_variable& v : detail::env_variables()) out.emplace_back(v.name);
  for (std::string_view tool : {"UMPAGER_STRESS_SECONDS", "UMPAGER_STRESS_SEED", "UMPAGER_REQUIRE_PYTHON",
                                "UMPAGER_TEST_REQUIRE", "UMPAGER_BENCH", "UMPAGER_PIP_BUILD_DIR", "UMPAGER_PIP_JOBS"}) {
    out.push_back(tool);
  }
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

/// The known variable nearest to `name` by edit distance (`name` itself if known).
const char* nearest_variable(std::string_view name) {
  const char* nearest = nullptr;
  std::size_t best = std::string_view::npos;
  for (const std::string_view v : known_names()) {
    if (const std::size_t d = edit_distance(name, v); d < best) best = d, nearest = v.data();
  }
  return nearest;
}

/// A warning on stderr for each set UMPAGER_* variable that is not in the table (a typo
/// would otherwise be silently ignored), naming the nearest known one.
void warn_unknown_variables() {
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    if (!entry.starts_with("UMPAGER_")) continue;
    const std::string_view name = entry.substr(0, entry.find('='));
    const char* nearest = nearest_variable(name);
    if (name == nearest) continue;
    std::fprintf(stderr,
                 "umpager: warning: %.*s is not a known variable and is ignored; did you mean %s? "
                 "(every variable: docs/environment.md)\n",
                 static_cast<int>(name.size()), name.data(), nearest);
  }
}

}  // namespace

std::vector<std::string> known_variables() {
  std::vector<std::string> out;
  for (const std::string_view v : known_names()) out.emplace_back(v);
  return out;
}

config config::from_env() {
  config c;
  for (const detail::env_variable& v : detail::env_variables()) {
    if (const char* value = env(v.name)) v.apply(c, value);
  }
  warn_unknown_variables();
  return c;
}

}  // namespace umpager
