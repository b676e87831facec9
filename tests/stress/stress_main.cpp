// umpager-stress: the stress engine as a standalone program for long soaks.
//   umpager-stress --seconds 3600 --seed 42 [--threads 4] [--tracking wp_async|sync|off|auto]
//                  [--block 64K] [--device-memory 16M] [--resolvers 2] [--allocations 3]
//                  [--alloc-min 8M] [--alloc-max 16M] [--locked-pages 8] [--watchdog 10]
//                  [--no-signals] [--no-concurrent-prefetch] [--no-syscalls] [--concurrent-kernels]
//                  [--no-residency] [--verbose]
// Prints one summary line; exits 0 when no mismatch and no invariant failed, 1 otherwise,
// 2 on a bad option. A stuck op aborts the process (watchdog) after printing the seed.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "stress.hpp"
#include "umpager/error.hpp"

namespace {

constexpr const char* kUsage =
    "usage: umpager-stress [--seconds N] [--seed S] [--threads T] [--tracking wp_async|sync|off|auto]\n"
    "       [--block adaptive|4K..2M] [--device-memory 16M] [--resolvers R] [--devices D] [--host-memory N] [--allocations A]\n"
    "       [--alloc-min 8M] [--alloc-max 16M] [--locked-pages L] [--watchdog SECONDS]\n"
    "       [--no-signals] [--no-concurrent-prefetch] [--no-syscalls] [--concurrent-kernels] [--no-residency]\n"
    "       [--inject-failures] [--verbose]\n";

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "umpager-stress: %s\n%s(see --help)\n", why.c_str(), kUsage);
  std::exit(2);
}

[[noreturn]] void help() {
  std::printf(
      "umpager-stress: the stress engine of stress_test as a program for long soaks (docs/stress.md).\n"
      "CPU threads, prefetches, kernels, signals and system calls race on managed memory of the\n"
      "simulated device; every value read is checked against a model.\n\n%s\n"
      "options (default):\n"
      "  --seconds N               wall-clock budget of the epoch loop (10)\n"
      "  --seed S                  seed of every random choice; a failure prints it (1)\n"
      "  --threads T               CPU worker threads, 1..256 (4)\n"
      "  --tracking M              wp_async | sync | off | auto (wp_async)\n"
      "  --block N                 fault block: adaptive, or 4K..2M power of two (64K)\n"
      "  --device-memory N         device budget, K/M/G suffix (16M)\n"
      "  --resolvers R             resolver threads (2)\n"
      "  --devices D               simulated devices, 1..16; chunks move between them (1)\n"
      "  --host-memory N           host budget (UMPAGER_HOST_MEMORY): pages past it spill to $TMPDIR (0: none)\n"
      "  --allocations A           live allocations at any time, 1..64 (3)\n"
      "  --alloc-min N, --alloc-max N  allocation size range (8M, 16M)\n"
      "  --locked-pages L          shared counter pages per epoch (8)\n"
      "  --watchdog SECONDS        an operation stuck longer aborts the process (10)\n"
      "  --no-signals              no SIGUSR1 to CPU workers\n"
      "  --no-concurrent-prefetch  no prefetches while CPU threads run\n"
      "  --no-syscalls             no read(2)/write(2) on managed memory\n"
      "  --concurrent-kernels      kernels on pages no worker touches, while workers run; needs --block 4K (off)\n"
      "  --no-residency            no declared kernels, async prefetches, attach, advice or queries\n"
      "  --verbose                 a line per 100 epochs on stderr\n"
      "  --help                    this text\n\n"
      "environment: UMPAGER_* variables are not read; the options above set the runtime.\n"
      "exit status: 0 no mismatch and no invariant failed, 1 otherwise, 2 bad usage;\n"
      "a stuck operation aborts the process after printing the seed.\n",
      kUsage);
  std::exit(0);
}

unsigned long long number(const std::string& opt, const std::string& v) {
  try {
    std::size_t used = 0;
    const unsigned long long n = std::stoull(v, &used, 0);
    if (used != v.size()) throw std::invalid_argument(v);
    return n;
  } catch (const std::exception&) {
    usage(opt + ": not a number: '" + v + "'");
  }
}

}  // namespace

int main(int argc, char** argv) {
  using umpager::tracking_mode;
  umpager::stress::stress_options o;
  o.seconds = 60;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--seconds") {
        const std::string v = value();
        std::size_t used = 0;
        o.seconds = std::stod(v, &used);
        if (used != v.size() || !(o.seconds > 0)) usage("--seconds: a positive number, not '" + v + "'");
      } else if (a == "--seed") {
        o.seed = number(a, value());
      } else if (a == "--threads") {
        o.cpu_threads = static_cast<unsigned>(number(a, value()));
        if (o.cpu_threads < 1 || o.cpu_threads > 256) usage("--threads: 1..256");
      } else if (a == "--tracking") {
        const std::string v = value();
        if (v == "wp_async") o.tracking = tracking_mode::wp_async;
        else if (v == "sync") o.tracking = tracking_mode::sync;
        else if (v == "off") o.tracking = tracking_mode::off;
        else if (v == "auto") o.tracking = tracking_mode::automatic;
        else usage("--tracking: wp_async, sync, off or auto, not '" + v + "'");
      } else if (a == "--block") {
        const std::string v = value();
        o.block = v == "adaptive" ? 0 : umpager::parse_size(v, "--block");
        if (v != "adaptive" && (o.block < 4096 || o.block > (2u << 20) || (o.block & (o.block - 1)) != 0)) {
          usage("--block: adaptive, or a power of two 4K..2M, not '" + v + "'");
        }
      } else if (a == "--device-memory") {
        o.device_memory = umpager::parse_size(value(), "--device-memory");
      } else if (a == "--host-memory") {
        o.host_memory = umpager::parse_size(value(), "--host-memory");
      } else if (a == "--devices") {
        o.devices = static_cast<unsigned>(number(a, value()));
        if (o.devices < 1 || o.devices > 16) usage("--devices: 1..16");
      } else if (a == "--resolvers") {
        o.resolvers = static_cast<unsigned>(number(a, value()));
      } else if (a == "--allocations") {
        o.allocations = static_cast<unsigned>(number(a, value()));
        if (o.allocations < 1 || o.allocations > 64) usage("--allocations: 1..64");
      } else if (a == "--alloc-min") {
        o.min_alloc_bytes = umpager::parse_size(value(), "--alloc-min");
      } else if (a == "--alloc-max") {
        o.max_alloc_bytes = umpager::parse_size(value(), "--alloc-max");
      } else if (a == "--locked-pages") {
        o.locked_pages = static_cast<unsigned>(number(a, value()));
      } else if (a == "--watchdog") {
        o.watchdog_seconds = std::stod(value());
      } else if (a == "--inject-failures") {
        o.inject_failures = true;
      } else if (a == "--no-signals") {
        o.signals = false;
      } else if (a == "--no-concurrent-prefetch") {
        o.concurrent_prefetch = false;
      } else if (a == "--concurrent-kernels") {
        o.concurrent_kernels = true;
      } else if (a == "--no-residency") {
        o.residency = false;
      } else if (a == "--no-syscalls") {
        o.syscalls = false;
      } else if (a == "--verbose") {
        o.verbose = true;
      } else if (a == "--help" || a == "-h") {
        help();
      } else {
        usage("unknown option '" + a + "'");
      }
    } catch (const umpager::invalid_argument& e) {
      usage(e.what());
    } catch (const std::invalid_argument&) {
      usage(a + ": bad value");
    }
  }
  if (o.min_alloc_bytes > o.max_alloc_bytes) usage("--alloc-min is larger than --alloc-max");
  // An undeclared kernel's allocation may be touched by the CPU elsewhere only with 4 KiB
  // blocks (docs/api.md): a larger block copies neighbours from the device copy while the
  // kernel writes it, so any other block would report mismatches the contract allows.
  if (o.concurrent_kernels && o.block != 4096) {
    usage("--concurrent-kernels needs --block 4K: with larger or adaptive blocks, CPU faults beside an undeclared "
          "kernel copy pages it is writing (docs/stress.md)");
  }

  umpager::stress::stress_result r;
  try {
    r = umpager::stress::run_stress(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "umpager-stress: could not run: %s\n", e.what());
    return 1;
  }
  std::printf("%s %s\n", r.ok() ? "PASS" : "FAIL", r.summary(o).c_str());
  if (!r.first_mismatch.empty()) std::printf("first mismatch: %s\n", r.first_mismatch.c_str());
  if (!r.first_failure.empty()) std::printf("first failure: %s\n", r.first_failure.c_str());
  if (!r.ok()) std::printf("repro: %s\n", umpager::stress::repro_command(o).c_str());
  return r.ok() ? 0 : 1;
}
