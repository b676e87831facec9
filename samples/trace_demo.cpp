// Trace demo: runs a small oversubscribed workload with UMPAGER_TRACE on and says
// how to look at the result. The trace shows each CPU fault on the faulting
// thread's track (how long it waited), the copies on each copy lane, evictions,
// the declared launches on their stream, and a counter of device memory in use.
//
//   trace_demo [--trace umpager-trace.json] [--bytes 32M]
//
// UMPAGER_TRACE, when set, wins over --trace.
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "umpager/kernels/portable.hpp"
#include "umpager/runtime.hpp"

namespace {

struct add_one {
  std::uint32_t* data;
  UMPAGER_HOST_DEVICE void operator()(std::size_t i) const { data[i] += 1; }
};

}  // namespace

/// Fills `bytes` on the CPU, adds 1 on the device half by half, each half a
/// declared launch (the second evicts the first), reads it back from two threads;
/// returns the wrong words.
std::size_t run(umpager::runtime& rt, std::size_t bytes) {
  umpager::buffer buf = rt.allocate(bytes);
  auto* host = buf.as<std::uint32_t>();
  auto* dev = static_cast<std::uint32_t*>(buf.device_data());
  const std::size_t n = bytes / sizeof(std::uint32_t), half = n / 2;
  umpager::stream s = rt.create_stream();
  for (std::size_t i = 0; i < n; ++i) host[i] = static_cast<std::uint32_t>(i);
  for (std::size_t first : {std::size_t{0}, half}) {
    const umpager::access set{host + first, half * sizeof(std::uint32_t), umpager::access_mode::read_write};
    umpager::kernels::launch_n(rt, s, std::span<const umpager::access>(&set, 1), half, add_one{dev + first});
  }
  s.synchronize();
  // Two CPU threads read it back: their faults show on two tracks.
  std::vector<std::size_t> bad(2);
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      for (std::size_t i = t * half; i < (t + 1) * half; ++i) bad[t] += host[i] != static_cast<std::uint32_t>(i + 1);
    });
  }
  for (auto& r : readers) r.join();
  return bad[0] + bad[1];
}

int main(int argc, char** argv) try {
  std::string path = "umpager-trace.json";
  std::size_t bytes = std::size_t{32} << 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--trace") path = argv[i + 1];
    else if (a == "--bytes") bytes = umpager::parse_size(argv[i + 1], "--bytes");
    else throw umpager::invalid_argument("unknown option " + a + "; usage: trace_demo [--trace file.json] [--bytes 32M]");
  }
  if (argc % 2 == 0) throw umpager::invalid_argument("an option has no value; usage: trace_demo [--trace file.json] [--bytes 32M]");

  umpager::config cfg = umpager::config::from_env();
  if (cfg.trace_file.empty()) cfg.trace_file = path;  // opened now: a bad path fails here
  cfg.device_memory = bytes / 2;                      // half the data fits: evictions show
  umpager::runtime rt(cfg);
  const std::size_t wrong = run(rt, bytes);
  rt.shutdown();  // the trace is written here

  if (wrong != 0) {
    std::fprintf(stderr, "trace_demo: %zu words wrong\n", wrong);
    return 1;
  }
  std::printf("wrote %s\nopen it at https://ui.perfetto.dev (\"Open trace file\") or in chrome://tracing (\"Load\")\nOK\n",
              cfg.trace_file.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "trace_demo: %s\n", e.what());
  return 1;
}
