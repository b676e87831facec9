// umpager-bench oversub: running the suite (see oversub.hpp, docs/bench.md).
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "baselines.hpp"
#include "belady.hpp"
#include "scan.hpp"
#include "oversub.hpp"
#include "pipeline_bound.hpp"
#include "sim/sim_driver.hpp"
#include "umpager/config.hpp"
#include "umpager/error.hpp"
#include "umpager/runtime.hpp"

namespace umpager::bench {
namespace {

namespace wl = kernels::workloads;

constexpr unsigned kDefaultRatios[] = {50, 100, 110, 125, 150, 200};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

bool is_reach_policy(const std::string& policy) {
  const auto names = reach_policies();
  return std::find(names.begin(), names.end(), policy) != names.end();
}

config run_config(const oversub_options& o, const std::string& policy) {
  config cfg = config::from_env();
  cfg.device_memory = o.budget;
  if (is_reach_policy(policy)) {  // an accessor workload: the default eviction, this migration rule
    if (policy == "remote") cfg.migrate_after = config::kMigrateNever;
    else if (policy == "migrate") cfg.migrate_after = 1;
    // counters: UMPAGER_MIGRATE_AFTER as configured (auto unless set), so its threshold can be swept.
    else if (policy == "counters" && (cfg.migrate_after == 1 || cfg.migrate_after == config::kMigrateNever)) {
      cfg.migrate_after = config::kMigrateAuto;
    }
  } else {
    cfg.policy = parse_policy(policy, "--policy");
  }
  return cfg;
}

wl::params workload_params(const oversub_options& o, unsigned ratio) {
  wl::params p;
  p.data_bytes = o.budget / 100 * ratio;
  p.tile_bytes = o.tile != 0 ? o.tile : o.budget / 8;
  p.passes = o.passes;
  p.seed = o.seed;
  p.in_flight = o.in_flight;
  return p;
}

/// One managed run in a fresh runtime: the workload, its trace and the runtime's counters.
struct managed_run {
  wl::result result;
  wl::trace trace;
  stats counters;
  std::string driver;
};

managed_run run_managed_once(wl::kind k, const wl::params& p, runtime& rt) {
  managed_run m;
  m.driver = rt.device_driver().info().name;
  stream s = rt.create_stream();
  m.result = wl::run_managed(k, p, rt, s, &m.trace);
  m.counters = rt.statistics();
  return m;
}

oversub_row run_cell(wl::kind k, unsigned ratio, const std::string& policy, const oversub_options& o) {
  oversub_row row;
  row.workload = wl::name(k);
  row.ratio = ratio;
  row.policy = policy;
  wl::params p = workload_params(o, ratio);
  p.reach_resident = policy == "resident";
  std::vector<double> seconds;
  for (unsigned rep = 0; rep < std::max(1u, o.repeat); ++rep) {
    runtime rt(run_config(o, policy));
    managed_run m = run_managed_once(k, p, rt);
    seconds.push_back(m.result.seconds);
    if (rep != 0) continue;  // traffic is deterministic: counters of the first run
    row.driver = m.driver;
    row.data_bytes = m.result.data_bytes;
    row.launches = m.result.launches;
    row.correct = m.result.correct;
    row.error = m.result.error;
    row.bytes_to_device = m.counters.bytes_to_device;
    row.bytes_to_host = m.counters.bytes_to_host;
    row.evictions = m.counters.chunks_evicted;
    row.thrashing_events = m.counters.thrashing_events;
    row.cpu_faults = m.counters.read_faults + m.counters.write_faults + m.counters.wp_faults;
    row.remote_accesses = m.counters.remote_accesses;
    row.migrated_bytes = m.counters.bytes_migrated;
    // Belady's MIN is the reference of declared sets; an accessor workload's whole-table
    // set need not fit, and its reference is an oracle over access counts (not yet).
    if (!wl::reaches(k)) {
      belady_model model{};
      model.capacity_bytes = o.budget;
      model.chunk_bytes = rt.device_driver().info().chunk_bytes;
      row.opt_bytes = belady_min(m.trace, model).bytes_to_device;
    }
    if (!row.correct) break;
  }
  row.seconds = median(seconds);
  return row;
}

/// The same workload on plain device buffers (explicit copies), where it fits.
std::optional<double> run_baseline(wl::kind k, unsigned ratio, const oversub_options& o, std::string& error) {
  const wl::params p = workload_params(o, ratio);
  std::vector<double> seconds;
  for (unsigned rep = 0; rep < std::max(1u, o.repeat); ++rep) {
    runtime rt(run_config(o, default_policy()));  // its driver, with nothing allocated
    const wl::result r = wl::run_plain(k, p, rt.device_driver());
    if (!r.correct) {
      error = "baseline " + r.error;
      return std::nullopt;
    }
    seconds.push_back(r.seconds);
  }
  return median(seconds);
}

std::optional<double> run_uvm(wl::kind k, unsigned ratio, bool hinted, const oversub_options& o, std::string& error) {
  const wl::params p = workload_params(o, ratio);
  std::vector<double> seconds;
  for (unsigned rep = 0; rep < std::max(1u, o.repeat); ++rep) {
    const wl::result r = wl::run_uvm(k, p, hinted);
    if (!r.correct) {
      error = std::string(hinted ? "uvm_hinted " : "uvm ") + r.error;
      return std::nullopt;
    }
    seconds.push_back(r.seconds);
  }
  return median(seconds);
}

/// Launches in flight in the overlap measurement: a pipeline, the next tile's
/// uploads may overlap this tile's kernel.
constexpr unsigned kOverlapDepth = 2;

/// The triad at 150% on a simulated device whose copies run at `gbps` (0: memcpy speed).
managed_run triad_on_sim(const oversub_options& o, const std::string& policy, double gbps) {
  sim::sim_config sc;
  sc.memory_bytes = o.budget;
  sc.bandwidth_gbps = gbps;
  config cfg = run_config(o, policy);
  cfg.driver = driver_kind::sim;
  runtime rt(cfg, sim::make_driver(sc));
  wl::params p = workload_params(o, 150);
  p.in_flight = kOverlapDepth;
  p.sim_kernel_gbps = o.overlap_kernel_gbps;
  managed_run m = run_managed_once(wl::kind::triad, p, rt);
  if (!m.result.correct) throw data_error("overlap run: " + m.result.error);
  return m;
}

/// Copy time exposed in a pair = the run with slow copies minus the same run with
/// (nearly) free ones; hidden = the rest of the pair's modelled upload time. Pairs
/// repeat, interleaved, until there are at least kMinPairs and kMinSeconds of slow
/// runs, so one disturbed run on a shared machine cannot decide the figure.
overlap_result measure_overlap(const oversub_options& o) {
  constexpr unsigned kMinPairs = 5, kMaxPairs = 25;
  constexpr double kMinSeconds = 1.0;
  overlap_result ov;
  ov.ratio = 150;
  ov.policy = default_policy();
  ov.gbps = o.overlap_gbps;
  ov.kernel_gbps = o.overlap_kernel_gbps;
  std::vector<double> slow, fast, kernels, fast_kernels, copies, hidden, bound;
  double total = 0;
  while (ov.pairs < kMinPairs || (total < kMinSeconds && ov.pairs < kMaxPairs)) {
    const managed_run m = triad_on_sim(o, ov.policy, o.overlap_gbps);
    const managed_run f = triad_on_sim(o, ov.policy, 0);
    const double c = static_cast<double>(m.counters.bytes_to_device) / (o.overlap_gbps * 1e9);
    slow.push_back(m.result.seconds);
    fast.push_back(f.result.seconds);
    kernels.push_back(m.result.kernel_seconds);
    fast_kernels.push_back(f.result.kernel_seconds);
    copies.push_back(c);
    hidden.push_back(c - (m.result.seconds - f.result.seconds));
    if (o.overlap_kernel_gbps > 0) {
      bound.push_back(hidden_bound(m.trace, o.overlap_gbps, o.overlap_kernel_gbps, kOverlapDepth));
    }
    total += m.result.seconds;
    ++ov.pairs;
  }
  ov.seconds = median(slow);
  ov.fast_seconds = median(fast);
  ov.kernel_seconds = median(kernels);
  ov.fast_kernel_seconds = median(fast_kernels);
  ov.copy_seconds = median(copies);
  ov.hidden_seconds = median(hidden);
  ov.hidden_min = *std::min_element(hidden.begin(), hidden.end());
  ov.hidden_max = *std::max_element(hidden.begin(), hidden.end());
  ov.hidden_bound = median(bound);
  if (ov.copy_seconds > 0) ov.hidden_fraction = std::clamp(ov.hidden_seconds / ov.copy_seconds, 0.0, 1.0);
  return ov;
}

}  // namespace

std::vector<std::string> known_policies() {
  std::vector<std::string> names{default_policy()};
  for (policy_kind k : {policy_kind::lru, policy_kind::fifo, policy_kind::clock, policy_kind::adaptive}) {
    if (names.front() != to_string(k)) names.emplace_back(to_string(k));
  }
  return names;
}

std::string default_policy() { return to_string(config{}.policy); }

std::vector<std::string> reach_policies() { return {"counters", "remote", "migrate", "resident"}; }

oversub_report run_oversub(const oversub_options& o,
                           const std::function<void(std::size_t, std::size_t, const std::string&)>& progress) {
  std::vector<wl::kind> kinds = o.workloads;
  if (kinds.empty()) kinds.assign(std::begin(wl::all_kinds), std::end(wl::all_kinds));
  std::vector<unsigned> ratios = o.ratios;
  if (ratios.empty()) ratios.assign(std::begin(kDefaultRatios), std::end(kDefaultRatios));
  std::vector<std::string> policies = o.policies;
  if (policies.empty()) policies = known_policies();

  oversub_report rep;
  rep.budget = o.budget;
  rep.first_touch_us = first_touch_us(std::size_t{16} << 20);
  {
    runtime probe(run_config(o, default_policy()));
    rep.driver = probe.device_driver().info().name;
  }
  const bool uvm = rep.driver == "cuda" && wl::uvm_built();
  const bool overlap = o.overlap && rep.driver == "sim" &&
                       std::find(kinds.begin(), kinds.end(), wl::kind::triad) != kinds.end();
  // Accessor workloads compare migration rules, the others eviction policies; resident
  // (today's rule) runs only where the data fits.
  auto policies_of = [&](wl::kind k, unsigned ratio) {
    if (!wl::reaches(k)) return policies;
    std::vector<std::string> out;
    for (const std::string& r : reach_policies()) {
      if (r != "resident" || ratio <= 100) out.push_back(r);
    }
    return out;
  };
  std::size_t total = overlap ? 1 : 0;
  for (wl::kind k : kinds) {
    for (unsigned ratio : ratios) total += policies_of(k, ratio).size() + (o.baseline ? 1 : 0) + (uvm ? 2 : 0);
  }
  std::size_t done = 0;
  for (wl::kind k : kinds) {
    for (unsigned ratio : ratios) {
      const std::string where = std::string(wl::name(k)) + " " + std::to_string(ratio) + "%";
      std::optional<double> base, uvm_hinted, uvm_plain;
      std::string note;
      // Plain device buffers only where the data fits (a ratio of at most 100).
      if (o.baseline) {
        progress(done++, total, where + " baseline");
        if (ratio <= 100) base = run_baseline(k, ratio, o, note);
      }
      if (uvm) {
        progress(done++, total, where + " uvm_hinted");
        uvm_hinted = run_uvm(k, ratio, true, o, note);
        progress(done++, total, where + " uvm");
        uvm_plain = run_uvm(k, ratio, false, o, note);
      }
      for (const std::string& policy : policies_of(k, ratio)) {
        progress(done++, total, where + " " + policy);
        oversub_row row = run_cell(k, ratio, policy, o);
        row.baseline_seconds = base;
        row.uvm_hinted_seconds = uvm_hinted;
        row.uvm_seconds = uvm_plain;
        if (row.correct && !note.empty()) {
          row.correct = false;
          row.error = note;
        }
        rep.rows.push_back(std::move(row));
      }
    }
  }
  if (overlap) {
    progress(done++, total, "triad overlap");
    rep.overlap = measure_overlap(o);
  }
  progress(done, total, "done");
  return rep;
}

}  // namespace umpager::bench
