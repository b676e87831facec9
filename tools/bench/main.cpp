// umpager-bench: the command dispatch, and `scan`'s options and output (docs/bench.md);
// `oversub` lives in oversub*.cpp.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "baselines.hpp"
#include "cli.hpp"
#include "cuda_baselines.hpp"
#include "io_baselines.hpp"
#include "oversub.hpp"
#include "scan.hpp"
#include "touch.hpp"
#include "umpager/config.hpp"
#include "umpager/error.hpp"

namespace ub = umpager::bench;

namespace {

constexpr const char* kOverview = R"(usage: umpager-bench scan [options]     CPU touch of device-resident data
       umpager-bench oversub [options]  workloads larger than the device budget
       umpager-bench mapfile [options]  a file read through map_file beside mmap(2)
       umpager-bench COMMAND --help     the command's options (docs/bench.md)
       umpager-bench --help             this text

exit status: 0 ok, 1 runtime failure or wrong result, 2 bad usage.
)";

constexpr const char* kUsage = R"(usage: umpager-bench scan [options]

A device-resident umpager allocation touched by the CPU, beside the machine's own
limits measured on the same bytes (see docs/bench.md). On the CUDA driver also
pinned device-to-host cudaMemcpy and the same touch over prefetched
cudaMallocManaged memory (UVM).

options:
  --size N          bytes to scan, K/M/G suffixes, a multiple of --block (256M)
  --block N         fixed fault block (read-ahead) and CONTINUE size: 4K..2M, power of
                    two; without it the runtime's default granularity (UMPAGER_BLOCK_SIZE,
                    adaptive unless set), fault samples per 64K
  --pattern P       seq | random | random-sparse: page order of the touch (seq)
  --touch-fraction F  random-sparse: share of the pages touched, 0 < F <= 1 (0.01)
  --access A        read | write: one 64-bit word per page (read)
  --threads N       touching threads, 1..256 (1)
  --residency R     device | host | storage: where the pages are before the pass
                    (device); storage: spilled past a host budget of --size/8
                    (UMPAGER_HOST_MEMORY overrides it) to UMPAGER_SPILL_DIR, with
                    the raw io_uring O_DIRECT read bandwidth of a file there and a
                    bare 4 KiB io_uring read + CONTINUE fault as baselines
  --tracking T      wp_async | sync | off: runtime write tracking (wp_async)
  --format F        table | json (table)
  --seed N          seed of the random order and of the data (1)
  --baselines-only  measure only the baselines; the umpager fields are null
  --help            this text

environment: UMPAGER_* variables configure the runtime (UMPAGER_DEVICE_MEMORY
defaults to --size + 64M here); --tracking overrides UMPAGER_TRACKING.
exit status: 0 ok, 1 runtime failure or wrong data read, 2 bad usage.
)";

constexpr const char* kScan = "scan";

[[noreturn]] void usage_error(const std::string& msg) { ub::cli::usage_error(msg, kScan); }
std::size_t parse_size(const std::string& text, const char* what) { return ub::cli::parse_size(text, what, kScan); }
unsigned long long parse_count(const std::string& text, const char* what) {
  return ub::cli::parse_count(text, what, kScan);
}
template <class E>
E parse_enum(const std::string& text, const char* what, std::initializer_list<std::pair<std::string_view, E>> choices) {
  return ub::cli::parse_enum<E>(text, what, choices, kScan);
}

double parse_fraction(const std::string& text, const char* what) {
  char* end = nullptr;
  const double f = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(f > 0.0 && f <= 1.0)) {
    usage_error(std::string(what) + ": '" + text + "' is not a number in (0, 1]");
  }
  return f;
}

/// --touch-fraction belongs to random-sparse, which defaults it to 1%.
void check_sparse(ub::scan_options& o, bool fraction_given) {
  if (o.order != ub::pattern::random_sparse) {
    if (fraction_given) usage_error("--touch-fraction: only with --pattern random-sparse");
    o.touch_fraction = 1.0;
  } else if (!fraction_given) {
    o.touch_fraction = 0.01;
  }
}

ub::scan_options parse(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) usage_error("missing command: 'scan' or 'oversub'");
  if (args[0] == "--help" || args[0] == "-h") {
    std::fputs(kOverview, stdout);
    std::exit(0);
  }
  if (args[0] != "scan") usage_error("unknown command '" + args[0] + "': the commands are 'scan' and 'oversub'");

  ub::scan_options o;
  static constexpr std::string_view kFlags[] = {"--baselines-only"};
  static constexpr std::string_view kValued[] = {"--size",      "--block",    "--pattern", "--access", "--threads",
                                                 "--residency", "--tracking", "--format",  "--seed",
                                                 "--touch-fraction"};
  bool fraction_given = false, block_given = false;
  for (const auto& [key, value] : ub::cli::read_options(std::span<char*>(argv + 2, argc - 2), kFlags, kValued, kScan)) {
    if (key == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (key == "--baselines-only") {
      o.baselines_only = true;
      continue;
    }
    const char* k = key.c_str();
    if (key == "--size") {
      o.size = parse_size(value, k);
    } else if (key == "--block") {
      o.block = parse_size(value, k);
      block_given = true;
    } else if (key == "--pattern") {
      o.order = parse_enum<ub::pattern>(
          value, k,
          {{"seq", ub::pattern::seq}, {"random", ub::pattern::random}, {"random-sparse", ub::pattern::random_sparse}});
    } else if (key == "--touch-fraction") {
      o.touch_fraction = parse_fraction(value, k);
      fraction_given = true;
    } else if (key == "--access") {
      o.mode = parse_enum<ub::access>(value, k, {{"read", ub::access::read}, {"write", ub::access::write}});
    } else if (key == "--threads") {
      const auto n = parse_count(value, k);
      if (n < 1 || n > 256) usage_error("--threads: '" + value + "' is outside 1..256");
      o.threads = static_cast<unsigned>(n);
    } else if (key == "--residency") {
      o.where = parse_enum<ub::residency>(value, k,
                                          {{"device", ub::residency::device}, {"host", ub::residency::host},
                                           {"storage", ub::residency::storage}});
    } else if (key == "--tracking") {
      o.track = parse_enum<ub::tracking>(
          value, k, {{"wp_async", ub::tracking::wp_async}, {"sync", ub::tracking::sync}, {"off", ub::tracking::off}});
    } else if (key == "--format") {
      o.output = parse_enum<ub::format>(value, k, {{"table", ub::format::table}, {"json", ub::format::json}});
    } else if (key == "--seed") {
      o.seed = parse_count(value, k);
    }
  }

  check_sparse(o, fraction_given);
  const bool pow2 = o.block != 0 && (o.block & (o.block - 1)) == 0;
  if (block_given && (!pow2 || o.block < 4096 || o.block > (std::size_t{2} << 20))) {
    usage_error("--block: " + std::to_string(o.block) + " is not a power of two in 4K..2M");
  }
  const std::size_t unit = ub::sample_block(o);
  if (o.size == 0 || o.size % unit != 0) {
    usage_error("--size: " + std::to_string(o.size) + " is not a positive multiple of " +
                (block_given ? "--block (" : "64K, the fault-sample block without --block (") + std::to_string(unit) +
                ")");
  }
  if (o.size / ub::page_bytes > 0xffffffffULL) usage_error("--size: at most 16T");
  if (o.threads > o.size / ub::page_bytes) usage_error("--threads: more threads than pages");
  if (o.order == ub::pattern::random_sparse &&
      o.touch_fraction * static_cast<double>(o.size / ub::page_bytes) < static_cast<double>(o.threads)) {
    usage_error("--touch-fraction: touches fewer pages than --threads");
  }
  return o;
}

// ---- results and output ----------------------------------------------------

using opt = std::optional<double>;

struct report {
  ub::scan_options o;
  std::optional<ub::umpager_result> um;
  double memcpy_s = 0;
  ub::continue_result cont;
  ub::touch_result bare;
  ub::touch_result bare_spin;  ///< the bare resolver busy-polling instead of sleeping
  std::optional<ub::touch_result> floor;
  std::size_t touched = 0;  ///< pages the pass touches
  std::optional<ub::cuda_result> cuda;  ///< the CUDA baselines; empty unless the driver is cuda
  std::optional<ub::io_baselines> io;   ///< --residency storage only
  std::string cuda_why;                 ///< why they did not run (empty when they did)

  [[nodiscard]] double gb(double seconds) const { return static_cast<double>(o.size) / seconds / 1e9; }
  [[nodiscard]] double limit_s() const { return memcpy_s + cont.continue_seconds + cont.populated.seconds; }
  [[nodiscard]] opt gbps() const { return um ? opt(gb(um->touch.seconds)) : std::nullopt; }
  [[nodiscard]] opt floor_gbps() const { return floor ? opt(gb(floor->seconds)) : std::nullopt; }
  [[nodiscard]] opt d2h_s() const { return cuda ? cuda->pinned_d2h_seconds : std::nullopt; }
  [[nodiscard]] opt d2h_gbps() const { return d2h_s() ? opt(gb(*d2h_s())) : std::nullopt; }
  [[nodiscard]] opt uvm_s() const { return cuda && cuda->uvm ? opt(cuda->uvm->seconds) : std::nullopt; }
  [[nodiscard]] opt io_limit_gbps() const { return io ? opt(gb(io->read_seconds)) : std::nullopt; }
  [[nodiscard]] opt uvm_gbps() const { return uvm_s() ? opt(gb(*uvm_s())) : std::nullopt; }
};

opt pct(std::vector<double>& v, double q) {
  return v.empty() ? std::nullopt : opt(ub::percentile(v, q));
}
opt ratio(opt a, opt b) { return a && b && *b > 0 ? opt(*a / *b) : std::nullopt; }

/// The derived numbers both output formats print, computed once.
struct summary {
  opt gbps, limit, p50, p99, bare50, bare99, spin50, spin99, uvm50, uvm99, faults_per_s;
  explicit summary(const report& r) : gbps(r.gbps()), limit(r.gb(r.limit_s())) {
    std::vector<double> um = r.um ? r.um->touch.fault_us : std::vector<double>{};
    std::vector<double> bare = r.bare.fault_us;
    std::vector<double> uvm = r.cuda && r.cuda->uvm ? r.cuda->uvm->fault_us : std::vector<double>{};
    p50 = pct(um, 0.50);
    p99 = pct(um, 0.99);
    bare50 = pct(bare, 0.50);
    bare99 = pct(bare, 0.99);
    std::vector<double> spin = r.bare_spin.fault_us;
    spin50 = pct(spin, 0.50);
    spin99 = pct(spin, 0.99);
    if (r.um && r.um->touch.seconds > 0) {
      const umpager::stats& d = r.um->delta;
      faults_per_s = static_cast<double>(d.read_faults + d.write_faults + d.wp_faults) / r.um->touch.seconds;
    }
    uvm50 = pct(uvm, 0.50);
    uvm99 = pct(uvm, 0.99);
  }
};

const char* name(ub::pattern p) {
  return p == ub::pattern::seq ? "seq" : p == ub::pattern::random ? "random" : "random-sparse";
}
const char* name(ub::access a) { return a == ub::access::read ? "read" : "write"; }
const char* name(ub::residency r) {
  return r == ub::residency::device ? "device" : r == ub::residency::host ? "host" : "storage";
}
const char* name(ub::tracking t) {
  return t == ub::tracking::wp_async ? "wp_async" : t == ub::tracking::sync ? "sync" : "off";
}

using ub::cli::json_string;
std::string num(opt v) { return ub::cli::json_number(v); }

void print_json(report& r) {
  auto& o = r.o;
  const summary m(r);
  const opt gbps = m.gbps, limit = m.limit, p50 = m.p50, p99 = m.p99, bare50 = m.bare50, bare99 = m.bare99;
  const auto count = [&](auto f) { return r.um ? std::to_string(f(r.um->delta)) : std::string("null"); };
  const auto str = [](const std::string& s) { return "\"" + s + "\""; };

  std::vector<std::pair<std::string, std::string>> kv = {
      {"size", std::to_string(o.size)},
      {"block", std::to_string(ub::sample_block(o))},
      {"granularity", r.um ? str(r.um->granularity) : "null"},
      {"pattern", str(name(o.order))},
      {"touch_fraction", ub::cli::json_number(opt(o.touch_fraction))},
      {"bytes_touched", std::to_string(r.touched * ub::page_bytes)},
      {"access", str(name(o.mode))},
      {"threads", std::to_string(o.threads)},
      {"residency", str(name(o.where))},
      {"tracking", str(r.um ? r.um->tracking : name(o.track))},
      {"driver", r.um ? str(r.um->driver) : "null"},
      {"resolvers", r.um ? std::to_string(r.um->resolvers) : "null"},
      {"readahead", r.um ? std::to_string(r.um->readahead) : "null"},
      {"seconds", num(r.um ? opt(r.um->touch.seconds) : std::nullopt)},
      {"gbps", num(gbps)},
      {"fault_p50_us", num(p50)},
      {"fault_p99_us", num(p99)},
      {"faults_per_s", num(m.faults_per_s)},
      {"fault_samples", r.um ? std::to_string(r.um->touch.fault_us.size()) : "null"},
      {"faults", count([](const umpager::stats& s) { return s.read_faults + s.write_faults + s.wp_faults; })},
      {"read_faults", count([](const umpager::stats& s) { return s.read_faults; })},
      {"write_faults", count([](const umpager::stats& s) { return s.write_faults; })},
      {"wp_faults", count([](const umpager::stats& s) { return s.wp_faults; })},
      {"written_pages_found", count([](const umpager::stats& s) { return s.written_pages_found; })},
      {"pages_continued", count([](const umpager::stats& s) { return s.pages_continued; })},
      {"pages_read_ahead", count([](const umpager::stats& s) { return s.pages_read_ahead; })},
      {"bytes_to_host", count([](const umpager::stats& s) { return s.bytes_to_host; })},
      {"bytes_to_device", count([](const umpager::stats& s) { return s.bytes_to_device; })},
      {"resolver_busy_ns", count([](const umpager::stats& s) { return s.resolver_busy_ns; })},
      {"limit_gbps", num(limit)},
      {"limit_seconds", num(r.limit_s())},
      {"memcpy_seconds", num(r.memcpy_s)},
      {"memcpy_gbps", num(r.gb(r.memcpy_s))},
      {"continue_seconds", num(r.cont.continue_seconds)},
      {"continue_gbps", num(r.gb(r.cont.continue_seconds))},
      {"populated_seconds", num(r.cont.populated.seconds)},
      {"populated_gbps", num(r.gb(r.cont.populated.seconds))},
      {"bare_seconds", num(r.bare.seconds)},
      {"bare_gbps", num(r.gb(r.bare.seconds))},
      {"bare_p50_us", num(bare50)},
      {"bare_p99_us", num(bare99)},
      {"bare_spin_seconds", num(r.bare_spin.seconds)},
      {"bare_spin_p50_us", num(m.spin50)},
      {"bare_spin_p99_us", num(m.spin99)},
      {"floor_seconds", num(r.floor ? opt(r.floor->seconds) : std::nullopt)},
      {"floor_gbps", num(r.floor_gbps())},
      {"gbps_over_limit", num(ratio(gbps, limit))},
      {"io_limit_gbps", num(r.io_limit_gbps())},
      {"bare_io_p50_us", num(r.io ? pct(r.io->bare_us, 0.5) : std::nullopt)},
      {"gbps_over_io_limit", num(ratio(gbps, r.io_limit_gbps()))},
      {"p50_over_bare_io_p50", num(ratio(p50, r.io ? pct(r.io->bare_us, 0.5) : std::nullopt))},
      {"p50_over_bare_p50", num(ratio(p50, bare50))},
      {"p50_over_bare_spin_p50", num(ratio(p50, m.spin50))},
      {"gbps_over_floor", num(ratio(gbps, r.floor_gbps()))},
      {"pinned_d2h_seconds", num(r.d2h_s())},
      {"pinned_d2h_gbps", num(r.d2h_gbps())},
      {"uvm_seconds", num(r.uvm_s())},
      {"uvm_gbps", num(r.uvm_gbps())},
      {"uvm_fault_p50_us", num(m.uvm50)},
      {"uvm_fault_p99_us", num(m.uvm99)},
      {"gbps_over_pinned_d2h", num(ratio(gbps, r.d2h_gbps()))},
      {"gbps_over_uvm", num(ratio(gbps, r.uvm_gbps()))},
      {"p50_over_uvm_p50", num(ratio(p50, m.uvm50))},
      {"cuda_note", r.cuda_why.empty() && (!r.cuda || r.cuda->note.empty())
                        ? std::string("null")
                        : json_string(r.cuda_why.empty() ? r.cuda->note : r.cuda_why)},
  };
  std::string out = "{";
  for (std::size_t i = 0; i < kv.size(); ++i) {
    out += (i ? ", " : "") + str(kv[i].first) + ": " + kv[i].second;
  }
  std::puts((out + "}").c_str());
}

std::string cell(opt v, const char* fmt) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), fmt, *v);
  return buf;
}

void row(const char* label, opt seconds, opt gbps, opt p50, opt p99, const std::string& note = "") {
  std::printf("  %-18s %10s %8s %9s %9s  %s\n", label, cell(seconds ? opt(*seconds * 1e3) : std::nullopt, "%.1f").c_str(),
              cell(gbps, "%.2f").c_str(), cell(p50, "%.2f").c_str(), cell(p99, "%.2f").c_str(), note.c_str());
}

std::string block_label(const report& r) {
  if (r.o.block != 0) return std::to_string(r.o.block >> 10) + " KiB";
  return std::string(r.um ? r.um->granularity : "default") + " (samples per 64 KiB)";
}

void print_table(report& r) {
  auto& o = r.o;
  const summary m(r);
  const opt gbps = m.gbps, limit = m.limit, p50 = m.p50, p99 = m.p99, bare50 = m.bare50, bare99 = m.bare99;

  std::printf("scan: size %zu MiB, block %s, %s %s, %u thread%s, residency %s, tracking %s, driver %s, "
              "%u resolvers, read-ahead %zu KiB\n",
              o.size >> 20, block_label(r).c_str(), name(o.order), name(o.mode), o.threads, o.threads == 1 ? "" : "s",
              name(o.where), r.um ? r.um->tracking.c_str() : name(o.track), r.um ? r.um->driver.c_str() : "-",
              r.um ? r.um->resolvers : 0u, r.um ? r.um->readahead >> 10 : 0);
  std::printf("  %-18s %10s %8s %9s %9s\n", "pass", "time ms", "GB/s", "p50 us", "p99 us");
  if (r.um) {
    const auto& d = r.um->delta;
    row("umpager", r.um->touch.seconds, gbps, p50, p99,
        std::to_string(d.read_faults + d.write_faults + d.wp_faults) + " faults, " +
            std::to_string(d.pages_continued) + " pages continued (" + std::to_string(d.pages_read_ahead) +
            " read ahead), " + std::to_string(d.bytes_to_host >> 20) + " MiB to host of " +
            std::to_string((r.touched * ub::page_bytes) >> 20) + " MiB touched");
  } else {
    row("umpager", std::nullopt, std::nullopt, std::nullopt, std::nullopt, "not run (--baselines-only)");
  }
  row("memcpy", r.memcpy_s, r.gb(r.memcpy_s), std::nullopt, std::nullopt);
  row("CONTINUE loop", r.cont.continue_seconds, r.gb(r.cont.continue_seconds), std::nullopt, std::nullopt);
  row("populated touch", r.cont.populated.seconds, r.gb(r.cont.populated.seconds), std::nullopt, std::nullopt);
  row("limit", r.limit_s(), limit, std::nullopt, std::nullopt, "memcpy + CONTINUE loop + populated touch");
  row("bare resolver", r.bare.seconds, r.gb(r.bare.seconds), bare50, bare99);
  row("bare busy-poll", r.bare_spin.seconds, r.gb(r.bare_spin.seconds), m.spin50, m.spin99,
      "the bare resolver polling the non-blocking userfaultfd");
  if (r.floor) row("WP_ASYNC floor", r.floor->seconds, r.floor_gbps(), std::nullopt, std::nullopt);
  const std::string cuda_note = !r.cuda_why.empty() ? "not run: " + r.cuda_why : "";
  row("pinned D2H", r.d2h_s(), r.d2h_gbps(), std::nullopt, std::nullopt,
      cuda_note.empty() ? (r.d2h_s() ? "cudaMemcpy device->cudaMallocHost" : "not measured") : cuda_note);
  row("UVM prefetched", r.uvm_s(), r.uvm_gbps(), m.uvm50, m.uvm99,
      cuda_note.empty() ? (r.uvm_s() ? "cudaMallocManaged + cudaMemPrefetchAsync(device)" : "not measured")
                        : cuda_note);
  if (r.io) {
    const opt io50 = pct(r.io->bare_us, 0.5);
    std::printf("  io_uring O_DIRECT read %s GB/s, bare io_uring + CONTINUE p50 %s us\n",
                cell(r.io_limit_gbps(), "%.3f").c_str(), cell(io50, "%.1f").c_str());
    std::printf("  gbps / io_limit_gbps   %s\n", cell(ratio(gbps, r.io_limit_gbps()), "%.2f").c_str());
    std::printf("  fault_p50 / bare_io_p50 %s\n", cell(ratio(p50, io50), "%.2f").c_str());
  }
  std::printf("  gbps / limit_gbps      %s\n", cell(ratio(gbps, limit), "%.2f").c_str());
  std::printf("  fault_p50 / bare_p50   %s\n", cell(ratio(p50, bare50), "%.2f").c_str());
  std::printf("  fault_p50 / busy_p50   %s\n", cell(ratio(p50, m.spin50), "%.2f").c_str());
  if (r.floor) std::printf("  gbps / floor_gbps      %s\n", cell(ratio(gbps, r.floor_gbps()), "%.2f").c_str());
  std::printf("  gbps / pinned_d2h_gbps %s\n", cell(ratio(gbps, r.d2h_gbps()), "%.2f").c_str());
  std::printf("  gbps / uvm_gbps        %s\n", cell(ratio(gbps, r.uvm_gbps()), "%.2f").c_str());
  std::printf("  fault_p50 / uvm_p50    %s\n", cell(ratio(p50, m.uvm50), "%.2f").c_str());
  if (r.cuda && !r.cuda->note.empty()) std::printf("  CUDA baselines: %s\n", r.cuda->note.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "oversub") == 0) return ub::oversub_main(argc - 2, argv + 2);
  if (argc >= 2 && std::strcmp(argv[1], "mapfile") == 0) return ub::mapfile_main(argc - 2, argv + 2);
  const ub::scan_options o = parse(argc, argv);
  return ub::run_reporting([&] {
    const ub::touch_plan plan(o.size, ub::sample_block(o), o.order, o.threads, o.seed, o.touch_fraction);
    report r;
    r.o = o;
    r.touched = plan.touched();
    // The umpager pass first, so a runtime failure is reported before minutes of baselines.
    if (!o.baselines_only) r.um = ub::run_umpager_pass(o, plan);
    // The CUDA baselines only beside the CUDA driver: on the sim driver nothing CUDA is called.
    if (!ub::cuda_baselines_built()) {
      r.cuda_why = "built without CUDA";
    } else if (r.um ? r.um->driver != "cuda" : !ub::cuda_driver_chosen()) {
      r.cuda_why = "driver is " + (r.um ? r.um->driver : std::string("not cuda"));
    } else {
      r.cuda = ub::run_cuda_baselines(plan, o.mode, o.seed);
      if (r.cuda && !r.cuda->note.empty()) std::fprintf(stderr, "umpager-bench: %s\n", r.cuda->note.c_str());
    }
    r.memcpy_s = ub::memcpy_seconds(o.size);
    r.cont = ub::continue_then_touch(plan, o.mode);
    r.bare = ub::bare_resolver_pass(plan, o.mode);
    r.bare_spin = ub::bare_resolver_pass(plan, o.mode, true);
    if (o.mode == ub::access::write && o.where == ub::residency::host) r.floor = ub::wp_async_floor_pass(plan);
    if (o.where == ub::residency::storage) {
      const char* dir = std::getenv("UMPAGER_SPILL_DIR");
      r.io = ub::measure_io_baselines(dir != nullptr ? dir : "", o.size, ub::sample_block(o), 32, 2000);
      if (!r.io->note.empty()) std::fprintf(stderr, "umpager-bench: %s\n", r.io->note.c_str());
    }
    if (o.output == ub::format::json) {
      print_json(r);
    } else {
      print_table(r);
    }
  });
}
