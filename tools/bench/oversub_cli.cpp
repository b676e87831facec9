// umpager-bench oversub: options, progress bar, table/JSON/CSV output and the plot.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "oversub.hpp"
#include "plot.hpp"
#include "scan.hpp"

namespace umpager::bench {
namespace {

namespace wl = kernels::workloads;
constexpr const char* kCmd = "oversub";

constexpr const char* kUsage = R"(usage: umpager-bench oversub [options]

Workloads whose data is a given percentage of the device budget, run in tiles
through declared launches (no hand-written prefetch), under each eviction policy.
Each row reports time, traffic both ways, Belady's MIN traffic for the same
access sequence (opt_bytes), evictions, thrashing events, CPU faults and, where
the data fits, the same workload on plain device buffers with explicit copies
(baseline). On the CUDA driver also cudaMallocManaged with per-tile prefetch
hints (uvm_hinted) and without (uvm). Every result is checked: a wrong answer
is a failure (exit 1). See docs/bench.md.

options:
  --workload LIST   comma-separated: triad,gups,stencil,spmv,matmul,gups_table,bfs,
                    hash_probe or all (all). The last three reach their data through the accessor
                    and run under the migration rules counters, remote, migrate and
                    (where it fits) resident instead of the eviction policies
  --ratio LIST      data size as % of the device budget, 1..1000 (50,100,110,125,150,200)
  --policy LIST     eviction policies: POLICIES; default (the runtime's
                    default policy) or all (all)
  --budget N        device budget (UMPAGER_DEVICE_MEMORY), K/M/G suffixes, >= 8M (32M)
  --tile N          bytes a launch touches, 4K..budget/2 (budget / 8)
  --passes N        sweeps over the data, 1..100 (2)
  --repeat N        timed runs per cell, 1..99: seconds are their median (1)
  --in-flight N     declared launches in flight at most, 1..8 (1: each waits for the
                    one before, so traffic is the same on every run; 2+: pipelined)
  --no-baseline     skip the plain-device-buffer runs
  --no-overlap      skip the triad overlap measurement (simulated device only)
  --overlap-gbps X  copy bandwidth of the overlap measurement's simulated device (0.25)
  --overlap-kernel-gbps X  its kernels last at least their access set's bytes at this
                    rate (0.36: about as long as the uploads; 0: as the host runs them)
  --seed N          seed of the workloads' data and random choices (1)
  --format F        table | json | csv, on stdout (table)
  --output DIR      also write results.json, results.csv and oversub.svg (time and
                    traffic against the ratio, one line per policy) into DIR
  --no-progress     no progress bar (it is drawn only when stderr is a terminal)
  --help            this text

environment: UMPAGER_* configure the runtime (UMPAGER_DRIVER picks the device);
--budget overrides UMPAGER_DEVICE_MEMORY and --policy UMPAGER_POLICY.
exit status: 0 ok, 1 a run failed or computed a wrong result, 2 bad usage.
)";

[[noreturn]] void usage_error(const std::string& msg) { cli::usage_error(msg, kCmd); }

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(item);
  if (out.empty() || std::any_of(out.begin(), out.end(), [](const std::string& x) { return x.empty(); })) {
    usage_error("'" + s + "' is not a comma-separated list");
  }
  return out;
}

unsigned count_in(const std::string& text, const char* what, unsigned lo, unsigned hi) {
  const auto n = cli::parse_count(text, what, kCmd);
  if (n < lo || n > hi) {
    usage_error(std::string(what) + ": '" + text + "' is outside " + std::to_string(lo) + ".." + std::to_string(hi));
  }
  return static_cast<unsigned>(n);
}

std::string policy_names() {
  std::string s;
  for (const std::string& p : known_policies()) s += (s.empty() ? "" : ", ") + p;
  return s;
}

oversub_options parse(int argc, char** argv) {
  oversub_options o;
  static constexpr std::string_view kFlags[] = {"--no-baseline", "--no-overlap", "--no-progress"};
  static constexpr std::string_view kValued[] = {"--workload", "--ratio",        "--policy", "--budget",
                                                 "--tile",     "--passes",       "--repeat", "--seed", "--in-flight",
                                                 "--overlap-gbps", "--overlap-kernel-gbps", "--format",
                                                 "--output"};
  for (const auto& [key, value] : cli::read_options(std::span<char*>(argv, argc), kFlags, kValued, kCmd)) {
    if (key == "--help") {
      std::string text = kUsage;
      text.replace(text.find("POLICIES"), 8, policy_names());
      std::fputs(text.c_str(), stdout);
      std::exit(0);
    }
    if (key == "--no-baseline") {
      o.baseline = false;
    } else if (key == "--no-overlap") {
      o.overlap = false;
    } else if (key == "--no-progress") {
      o.progress = false;
    }
    const char* k = key.c_str();
    if (key == "--workload") {
      o.workloads.clear();
      if (value == "all") continue;
      for (const std::string& w : split_list(value)) {
        const auto kind = wl::parse_kind(w);
        if (!kind) usage_error("--workload: '" + w + "' is not one of triad, gups, stencil, spmv, matmul, gups_table, bfs, hash_probe, all");
        if (std::find(o.workloads.begin(), o.workloads.end(), *kind) == o.workloads.end()) o.workloads.push_back(*kind);
      }
    } else if (key == "--ratio") {
      o.ratios.clear();
      for (const std::string& r : split_list(value)) o.ratios.push_back(count_in(r, "--ratio", 1, 1000));
    } else if (key == "--policy") {
      o.policies.clear();
      if (value == "all") continue;
      const auto known = known_policies();
      for (std::string p : split_list(value)) {
        if (p == "default") p = default_policy();
        if (std::find(known.begin(), known.end(), p) == known.end()) {
          usage_error("--policy: '" + p + "' is not one of " + policy_names() + ", default, all");
        }
        o.policies.push_back(p);
      }
    } else if (key == "--budget") {
      o.budget = cli::parse_size(value, k, kCmd);
    } else if (key == "--tile") {
      o.tile = cli::parse_size(value, k, kCmd);
    } else if (key == "--passes") {
      o.passes = count_in(value, k, 1, 100);
    } else if (key == "--in-flight") {
      o.in_flight = count_in(value, k, 1, 8);
    } else if (key == "--repeat") {
      o.repeat = count_in(value, k, 1, 99);
    } else if (key == "--seed") {
      o.seed = cli::parse_count(value, k, kCmd);
    } else if (key == "--overlap-gbps") {
      char* end = nullptr;
      o.overlap_gbps = std::strtod(value.c_str(), &end);
      if (end == value.c_str() || *end != '\0' || !(o.overlap_gbps >= 0.1 && o.overlap_gbps <= 1000)) {
        usage_error("--overlap-gbps: '" + value + "' is not a number in 0.1..1000");
      }
    } else if (key == "--overlap-kernel-gbps") {
      char* end = nullptr;
      o.overlap_kernel_gbps = std::strtod(value.c_str(), &end);
      if (end == value.c_str() || *end != '\0' || !(o.overlap_kernel_gbps == 0 ||
                                                    (o.overlap_kernel_gbps >= 0.1 && o.overlap_kernel_gbps <= 1000))) {
        usage_error("--overlap-kernel-gbps: '" + value + "' is not 0 or a number in 0.1..1000");
      }
    } else if (key == "--format") {
      o.format = cli::parse_enum<oversub_format>(
          value, k, {{"table", oversub_format::table}, {"json", oversub_format::json}, {"csv", oversub_format::csv}},
          kCmd);
    } else if (key == "--output") {
      if (value.empty()) usage_error("--output: empty directory name");
      o.output_dir = value;
    }
  }
  constexpr std::size_t chunk = std::size_t{2} << 20;
  if (o.budget < 4 * chunk || o.budget % chunk != 0) {
    usage_error("--budget: " + std::to_string(o.budget) + " is not a multiple of 2M of at least 8M");
  }
  if (o.tile != 0 && (o.tile < 4096 || o.tile > o.budget / 2)) {
    usage_error("--tile: " + std::to_string(o.tile) + " is outside 4K..budget/2 (" + std::to_string(o.budget / 2) +
                ")");
  }
  return o;
}

// ---- output ----------------------------------------------------------------------

using cli::json_number;
using cli::json_string;
using opt = std::optional<double>;

std::string u64(std::uint64_t v) { return std::to_string(v); }

std::vector<std::pair<std::string, std::string>> json_fields(const oversub_row& r) {
  return {{"workload", json_string(r.workload)},
          {"ratio", std::to_string(r.ratio)},
          {"policy", json_string(r.policy)},
          {"driver", json_string(r.driver)},
          {"data_bytes", u64(r.data_bytes)},
          {"launches", u64(r.launches)},
          {"seconds", json_number(r.seconds)},
          {"bytes_to_device", u64(r.bytes_to_device)},
          {"bytes_to_host", u64(r.bytes_to_host)},
          {"bytes_moved", u64(r.bytes_moved())},
          {"opt_bytes", u64(r.opt_bytes)},
          {"to_device_over_opt", json_number(r.over_opt())},
          {"evictions", u64(r.evictions)},
          {"thrashing_events", u64(r.thrashing_events)},
          {"cpu_faults", u64(r.cpu_faults)},
          {"remote_accesses", u64(r.remote_accesses)},
          {"remote_bytes", u64(r.remote_bytes())},
          {"migrated_bytes", u64(r.migrated_bytes)},
          {"baseline_seconds", json_number(r.baseline_seconds)},
          {"uvm_hinted_seconds", json_number(r.uvm_hinted_seconds)},
          {"uvm_seconds", json_number(r.uvm_seconds)},
          {"correct", r.correct ? "true" : "false"},
          {"error", r.error.empty() ? "null" : json_string(r.error)}};
}

std::string to_json(const oversub_report& rep) {
  std::string out = "{\"driver\": " + json_string(rep.driver) + ", \"budget\": " + u64(rep.budget) +
                    ", \"first_touch_us\": " + json_number(rep.first_touch_us) + ", \"rows\": [";
  for (std::size_t i = 0; i < rep.rows.size(); ++i) {
    out += i ? ",\n  {" : "\n  {";
    const auto f = json_fields(rep.rows[i]);
    for (std::size_t j = 0; j < f.size(); ++j) out += (j ? ", " : "") + json_string(f[j].first) + ": " + f[j].second;
    out += "}";
  }
  out += "],\n \"overlap\": ";
  if (rep.overlap) {
    const overlap_result& ov = *rep.overlap;
    out += "{\"workload\": \"triad\", \"ratio\": " + std::to_string(ov.ratio) + ", \"policy\": " +
           json_string(ov.policy) + ", \"copy_gbps\": " + json_number(ov.gbps) +
           ", \"kernel_gbps\": " + json_number(ov.kernel_gbps) +
           ", \"pairs\": " + std::to_string(ov.pairs) + ", \"seconds\": " + json_number(ov.seconds) +
           ", \"fast_seconds\": " + json_number(ov.fast_seconds) +
           ", \"kernel_seconds\": " + json_number(ov.kernel_seconds) +
           ", \"fast_kernel_seconds\": " + json_number(ov.fast_kernel_seconds) +
           ", \"copy_seconds\": " + json_number(ov.copy_seconds) +
           ", \"hidden_seconds\": " + json_number(ov.hidden_seconds) +
           ", \"hidden_seconds_min\": " + json_number(ov.hidden_min) +
           ", \"hidden_seconds_max\": " + json_number(ov.hidden_max) +
           ", \"hidden_fraction\": " + json_number(ov.hidden_fraction) +
           ", \"hidden_bound_seconds\": " + json_number(ov.hidden_bound) + "}";
  } else {
    out += "null";
  }
  return out + "}\n";
}

std::string csv_cell(const std::string& json_value) {
  if (json_value == "null") return "";
  if (!json_value.empty() && json_value.front() == '"') {  // a JSON string: quote for CSV
    std::string s = json_value.substr(1, json_value.size() - 2), out = "\"";
    for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
  }
  return json_value;
}

std::string to_csv(const oversub_report& rep) {
  std::string out;
  for (std::size_t i = 0; i < rep.rows.size(); ++i) {
    const auto f = json_fields(rep.rows[i]);
    if (i == 0) {
      for (std::size_t j = 0; j < f.size(); ++j) out.append(j ? "," : "").append(f[j].first);
      out += "\n";
    }
    for (std::size_t j = 0; j < f.size(); ++j) out.append(j ? "," : "").append(csv_cell(f[j].second));
    out += "\n";
  }
  return out;
}

std::string mib(std::uint64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", static_cast<double>(b) / (1 << 20));
  return buf;
}
std::string cell(opt v, const char* fmt) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), fmt, *v);
  return buf;
}

std::string to_table(const oversub_report& rep) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof(line),
                "oversub: driver %s, device budget %zu MiB (MiB columns are traffic); first touch of a page "
                "through a new view: %.1f us (docs/bench.md)\n",
                rep.driver.c_str(), rep.budget >> 20, rep.first_touch_us);
  out += line;
  std::snprintf(line, sizeof(line), "%-10s %5s %-10s %8s %8s %9s %9s %9s %6s %6s %6s %7s %9s %8s %8s  %s\n",
                "workload", "ratio", "policy", "seconds", "baseline", "to dev", "to host", "MIN", "/MIN", "evict",
                "thrash", "faults", "remote", "uvm_hint", "uvm", "check");
  out += line;
  for (const oversub_row& r : rep.rows) {
    std::snprintf(line, sizeof(line), "%-10s %4u%% %-10s %8.3f %8s %9s %9s %9s %6s %6llu %6llu %7llu %9s %8s %8s  %s\n",
                  r.workload.c_str(), r.ratio, r.policy.c_str(), r.seconds, cell(r.baseline_seconds, "%.3f").c_str(),
                  mib(r.bytes_to_device).c_str(), mib(r.bytes_to_host).c_str(), mib(r.opt_bytes).c_str(),
                  cell(r.over_opt(), "%.2f").c_str(), static_cast<unsigned long long>(r.evictions),
                  static_cast<unsigned long long>(r.thrashing_events), static_cast<unsigned long long>(r.cpu_faults),
                  mib(r.remote_bytes()).c_str(),
                  cell(r.uvm_hinted_seconds, "%.3f").c_str(), cell(r.uvm_seconds, "%.3f").c_str(),
                  r.correct ? "ok" : ("WRONG: " + r.error).c_str());
    out += line;
  }
  if (rep.overlap) {
    const overlap_result& ov = *rep.overlap;
    const std::string bound =
        ov.hidden_bound > 0 ? cell(ov.hidden_bound, "%.3f") + " s in an ideal pipeline of these launches" : "no bound";
    std::snprintf(line, sizeof(line),
                  "triad pipeline at %u%% (%s; simulated copies at %.3g GB/s, kernels at %.3g GB/s; median of %u pairs):\n"
                  "  uploads %.3f s, kernels %.3f s; hidden %.3f s (spread %.3f..%.3f; %s); runs %.3f s, "
                  "%.3f s with free copies\n",
                  ov.ratio, ov.policy.c_str(), ov.gbps, ov.kernel_gbps, ov.pairs, ov.copy_seconds, ov.kernel_seconds,
                  ov.hidden_seconds, ov.hidden_min, ov.hidden_max, bound.c_str(), ov.seconds, ov.fast_seconds);
    out += line;
  }
  return out;
}

/// Time and traffic against the ratio, one panel pair per workload, one line per policy.
void write_plot(const oversub_report& rep, const std::string& path) {
  std::vector<std::string> workloads;
  for (const auto& r : rep.rows) {
    if (std::find(workloads.begin(), workloads.end(), r.workload) == workloads.end()) workloads.push_back(r.workload);
  }
  std::vector<panel> panels;
  for (const std::string& w : workloads) {
    panel time{w + ": time", "seconds", {}}, traffic{w + ": bytes to device", "MiB", {}};
    std::map<std::string, series> t, b;
    std::map<unsigned, double> opt_mib, base, uvm_h, uvm_p;
    for (const auto& r : rep.rows) {
      if (r.workload != w) continue;
      t[r.policy].name = b[r.policy].name = r.policy;
      t[r.policy].points.emplace_back(r.ratio, r.seconds);
      b[r.policy].points.emplace_back(r.ratio, static_cast<double>(r.bytes_to_device) / (1 << 20));
      opt_mib[r.ratio] = static_cast<double>(r.opt_bytes) / (1 << 20);
      if (r.baseline_seconds) base[r.ratio] = *r.baseline_seconds;
      if (r.uvm_hinted_seconds) uvm_h[r.ratio] = *r.uvm_hinted_seconds;
      if (r.uvm_seconds) uvm_p[r.ratio] = *r.uvm_seconds;
    }
    const auto extra = [](const char* name, const std::map<unsigned, double>& m) {
      series s{name, {}, true};
      for (auto [x, y] : m) s.points.emplace_back(x, y);
      return s;
    };
    for (auto& [_, s] : t) std::sort(s.points.begin(), s.points.end()), time.lines.push_back(s);
    for (auto& [_, s] : b) std::sort(s.points.begin(), s.points.end()), traffic.lines.push_back(s);
    time.lines.push_back(extra("baseline (fits)", base));
    time.lines.push_back(extra("uvm_hinted", uvm_h));
    time.lines.push_back(extra("uvm", uvm_p));
    traffic.lines.push_back(extra("Belady MIN", opt_mib));
    panels.push_back(std::move(time));
    panels.push_back(std::move(traffic));
  }
  write_svg(path, "umpager-bench oversub: " + rep.driver + ", device budget " + std::to_string(rep.budget >> 20) + " MiB",
            panels, 2);
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  if (!f || !(f << text) || !f.flush()) throw std::runtime_error("cannot write " + path);
}

/// "[#####.....]  12/150  triad 125% lru" on one terminal line.
void draw_progress(std::size_t done, std::size_t total, const std::string& what) {
  constexpr int width = 30;
  const int filled = total ? static_cast<int>(width * done / total) : width;
  std::fprintf(stderr, "\r[%s%s] %3zu/%zu %-36.36s", std::string(filled, '#').c_str(),
               std::string(width - filled, '.').c_str(), done, total, what.c_str());
  if (done == total) std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
}

}  // namespace

int oversub_main(int argc, char** argv) {
  const oversub_options o = parse(argc, argv);
  try {
    if (!o.output_dir.empty()) std::filesystem::create_directories(o.output_dir);
    const bool bar = o.progress && isatty(STDERR_FILENO) == 1;
    const oversub_report rep =
        run_oversub(o, [bar](std::size_t done, std::size_t total, const std::string& what) {
          if (bar) draw_progress(done, total, what);
        });
    switch (o.format) {
      case oversub_format::table: std::fputs(to_table(rep).c_str(), stdout); break;
      case oversub_format::json: std::fputs(to_json(rep).c_str(), stdout); break;
      case oversub_format::csv: std::fputs(to_csv(rep).c_str(), stdout); break;
    }
    if (!o.output_dir.empty()) {
      const std::filesystem::path dir(o.output_dir);
      write_file(dir / "results.json", to_json(rep));
      write_file(dir / "results.csv", to_csv(rep));
      write_plot(rep, dir / "oversub.svg");
      // The path last, on stdout only beside the table (JSON and CSV stay parseable).
      std::fprintf(o.format == oversub_format::table ? stdout : stderr, "plot: %s\n",
                   (dir / "oversub.svg").c_str());
    }
    const auto wrong = std::count_if(rep.rows.begin(), rep.rows.end(), [](const oversub_row& r) { return !r.correct; });
    if (wrong != 0) {
      std::fprintf(stderr, "umpager-bench oversub: %ld run(s) computed a wrong result\n", static_cast<long>(wrong));
      return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "\numpager-bench oversub: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace umpager::bench
