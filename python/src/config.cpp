// Runtime(**config): keyword names are umpager::config's fields; values are what the
// UMPAGER_* variables accept (strings) or plain Python ints and bools.
#include <functional>
#include <map>

#include "common.hpp"
#include "config_py.hpp"
#include "umpager/error.hpp"

namespace umpager::python {
namespace {

std::string text(const py::handle& v) { return py::str(v).cast<std::string>(); }

bool is_int(const py::handle& v) { return py::isinstance<py::int_>(v) && !py::isinstance<py::bool_>(v); }

std::size_t size_value(const py::handle& v, const char* name) {
  if (is_int(v)) {
    const long long n = v.cast<long long>();
    if (n < 0) raise_invalid(std::string(name) + ": must not be negative, got " + std::to_string(n));
    return static_cast<std::size_t>(n);
  }
  if (py::isinstance<py::str>(v)) return parse_size(text(v), name);
  raise_invalid(std::string(name) + ": expected an int or a size string such as \"64M\", got " +
                text(py::type::handle_of(v).attr("__name__")));
}

unsigned uint_value(const py::handle& v, const char* name) {
  const std::size_t n = size_value(v, name);
  if (n > 0xffffffffu) raise_invalid(std::string(name) + ": too large");
  return static_cast<unsigned>(n);
}

bool bool_value(const py::handle& v, const char* name) {
  if (py::isinstance<py::bool_>(v) || is_int(v)) return v.cast<long long>() != 0;
  const std::string t = py::isinstance<py::str>(v) ? text(v) : "";
  if (t == "1" || t == "true" || t == "on") return true;
  if (t == "0" || t == "false" || t == "off") return false;
  raise_invalid(std::string(name) + ": expected a bool, got " + text(py::repr(v)));
}

template <class E>
E enum_value(const py::handle& v, const char* name, std::initializer_list<std::pair<const char*, E>> names) {
  const std::string t = py::isinstance<py::str>(v) ? text(v) : "";
  std::string accepted;
  for (const auto& [n, e] : names) {
    if (t == n) return e;
    accepted += accepted.empty() ? n : std::string("|") + n;
  }
  raise_invalid(std::string(name) + ": expected one of " + accepted + ", got " + text(py::repr(v)));
}

using setter = std::function<void(config&, const py::handle&)>;

const std::map<std::string, setter>& setters() {
  static const std::map<std::string, setter> s = {
      {"driver", [](config& c, const py::handle& v) {
         c.driver = enum_value<driver_kind>(v, "driver", {{"auto", driver_kind::automatic}, {"sim", driver_kind::sim},
                                                          {"cuda", driver_kind::cuda}});
       }},
      {"device_memory", [](config& c, const py::handle& v) { c.device_memory = size_value(v, "device_memory"); }},
      {"devices", [](config& c, const py::handle& v) { c.devices = uint_value(v, "devices"); }},
      {"block_size", [](config& c, const py::handle& v) {
         c.block_size = py::isinstance<py::str>(v) && text(v) == "adaptive" ? 0 : size_value(v, "block_size");
       }},
      {"resolvers", [](config& c, const py::handle& v) { c.resolvers = uint_value(v, "resolvers"); }},
      {"cpuset", [](config& c, const py::handle& v) { c.cpuset = text(v); }},
      {"tracking", [](config& c, const py::handle& v) {
         c.tracking = enum_value<tracking_mode>(v, "tracking", {{"auto", tracking_mode::automatic},
                                                                {"wp_async", tracking_mode::wp_async},
                                                                {"sync", tracking_mode::sync}, {"off", tracking_mode::off}});
       }},
      {"kernel_faults", [](config& c, const py::handle& v) { c.kernel_faults = bool_value(v, "kernel_faults"); }},
      {"copy_timeout_ms", [](config& c, const py::handle& v) { c.copy_timeout_ms = uint_value(v, "copy_timeout_ms"); }},
      {"single_pointer", [](config& c, const py::handle& v) { c.single_pointer = bool_value(v, "single_pointer"); }},
      {"readahead_bytes", [](config& c, const py::handle& v) { c.readahead_bytes = size_value(v, "readahead_bytes"); }},
      {"stats_summary", [](config& c, const py::handle& v) { c.stats_summary = bool_value(v, "stats_summary"); }},
      {"trace_file", [](config& c, const py::handle& v) { c.trace_file = text(py::module_::import("os").attr("fspath")(v)); }},
      {"policy", [](config& c, const py::handle& v) {
         if (!py::isinstance<py::str>(v)) raise_invalid("policy: expected lru|fifo|clock|adaptive");
         c.policy = parse_policy(text(v), "policy");
       }},
      {"check_stale", [](config& c, const py::handle& v) { c.check_stale = bool_value(v, "check_stale"); }},
      {"chunks_ahead", [](config& c, const py::handle& v) { c.chunks_ahead = bool_value(v, "chunks_ahead"); }},
      {"page_cache", [](config& c, const py::handle& v) { c.page_cache = bool_value(v, "page_cache"); }},
      {"migrate_after", [](config& c, const py::handle& v) {
         if (py::isinstance<py::str>(v) && text(v) == "auto") c.migrate_after = config::kMigrateAuto;
         else if (py::isinstance<py::str>(v) && text(v) == "never") c.migrate_after = config::kMigrateNever;
         else if (const std::size_t n = size_value(v, "migrate_after"); n == 0) raise_invalid("migrate_after: 'auto', 'never' or a count from 1");
         else c.migrate_after = n;
       }},
      {"resolver_spin_us", [](config& c, const py::handle& v) {
         c.resolver_spin_us = py::isinstance<py::str>(v) && text(v) == "auto" ? config::kSpinAuto
                                                                              : uint_value(v, "resolver_spin_us");
       }},
      {"resolver_wait", [](config& c, const py::handle& v) {
         c.resolver_wait = enum_value<resolver_wait_kind>(
             v, "resolver_wait", {{"auto", resolver_wait_kind::automatic}, {"io_uring", resolver_wait_kind::io_uring},
                                  {"epoll", resolver_wait_kind::epoll}});
       }},
      {"host_memory", [](config& c, const py::handle& v) { c.host_memory = size_value(v, "host_memory"); }},
      {"spill_dir", [](config& c, const py::handle& v) { c.spill_dir = text(py::module_::import("os").attr("fspath")(v)); }},
  };
  return s;
}

const char* wait_name(resolver_wait_kind k) {
  switch (k) {
    case resolver_wait_kind::io_uring: return "io_uring";
    case resolver_wait_kind::epoll: return "epoll";
    default: return "auto";
  }
}

}  // namespace

config config_from(const py::kwargs& kw) {
  config cfg = config::from_env();
  for (const auto& [key, value] : kw) {
    const std::string k = text(key);
    auto it = setters().find(k);
    if (it == setters().end()) {
      std::string names;
      for (const auto& [n, s] : setters()) names += (names.empty() ? "" : ", ") + n;
      raise_invalid("Runtime: unknown config field '" + k + "' (fields: " + names + ")");
    }
    it->second(cfg, value);
  }
  cfg.validate();
  return cfg;
}

py::dict config_dict(const config& c) {
  py::dict d;
  d["driver"] = to_string(c.driver);
  d["device_memory"] = c.device_memory;
  d["devices"] = c.devices;
  d["block_size"] = c.block_size;
  d["resolvers"] = c.resolvers;
  d["cpuset"] = c.cpuset;
  d["tracking"] = to_string(c.tracking);
  d["kernel_faults"] = c.kernel_faults;
  d["copy_timeout_ms"] = c.copy_timeout_ms;
  d["single_pointer"] = c.single_pointer;
  d["readahead_bytes"] = c.readahead_bytes;
  d["stats_summary"] = c.stats_summary;
  d["trace_file"] = c.trace_file;
  d["policy"] = to_string(c.policy);
  d["check_stale"] = c.check_stale;
  d["chunks_ahead"] = c.chunks_ahead;
  d["page_cache"] = c.page_cache;
  if (c.migrate_after == config::kMigrateAuto) d["migrate_after"] = "auto";
  else if (c.migrate_after == config::kMigrateNever) d["migrate_after"] = "never";
  else d["migrate_after"] = c.migrate_after;
  if (c.resolver_spin_us == config::kSpinAuto) {
    d["resolver_spin_us"] = "auto";
  } else {
    d["resolver_spin_us"] = c.resolver_spin_us;
  }
  d["resolver_wait"] = wait_name(c.resolver_wait);
  d["host_memory"] = c.host_memory;
  d["spill_dir"] = c.spill_dir;
  return d;
}

py::dict stats_dict(const stats& s) {
  py::dict d;
#define UMPAGER_PY_STAT(f) d[#f] = s.f
  UMPAGER_PY_STAT(read_faults); UMPAGER_PY_STAT(write_faults); UMPAGER_PY_STAT(wp_faults);
  UMPAGER_PY_STAT(written_pages_found); UMPAGER_PY_STAT(pages_continued); UMPAGER_PY_STAT(pages_poisoned);
  UMPAGER_PY_STAT(pages_read_ahead); UMPAGER_PY_STAT(bytes_read_ahead); UMPAGER_PY_STAT(fault_messages);
  UMPAGER_PY_STAT(remote_accesses); UMPAGER_PY_STAT(remote_chunk_reaches); UMPAGER_PY_STAT(chunks_migrated);
  UMPAGER_PY_STAT(bytes_migrated);
  UMPAGER_PY_STAT(stale_faults); UMPAGER_PY_STAT(bytes_to_device); UMPAGER_PY_STAT(bytes_to_host);
  UMPAGER_PY_STAT(bytes_device_to_device); UMPAGER_PY_STAT(chunks_evicted); UMPAGER_PY_STAT(thrashing_events);
  UMPAGER_PY_STAT(policy_failures); UMPAGER_PY_STAT(stale_launches); UMPAGER_PY_STAT(resolver_busy_ns);
  UMPAGER_PY_STAT(fault_wait_p50_ns); UMPAGER_PY_STAT(fault_wait_p99_ns); UMPAGER_PY_STAT(bytes_from_storage);
  UMPAGER_PY_STAT(bytes_to_storage); UMPAGER_PY_STAT(spill_failures); UMPAGER_PY_STAT(host_bytes_in_use);
  UMPAGER_PY_STAT(io_queue_depth_max); UMPAGER_PY_STAT(storage_read_p50_ns); UMPAGER_PY_STAT(storage_read_p99_ns);
  UMPAGER_PY_STAT(device_bytes_in_use); UMPAGER_PY_STAT(device_bytes_slack); UMPAGER_PY_STAT(managed_bytes);
  UMPAGER_PY_STAT(metadata_bytes);
#undef UMPAGER_PY_STAT
  return d;
}

}  // namespace umpager::python
