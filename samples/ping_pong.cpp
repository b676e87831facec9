// CPU/device ping-pong: one allocation passed back and forth. Each round the
// device adds 1 to every word (after a prefetch), then the CPU checks every word
// through the same pointer (its pages fault back from the device) and adds 1 too.
//
//   ping_pong [--bytes 64M] [--rounds 8]
//
// Runs on a GPU when there is one, else on the simulated device (UMPAGER_DRIVER).
#include <cstdint>
#include <cstdio>
#include <string>

#include "umpager/kernels.hpp"
#include "umpager/runtime.hpp"

int main(int argc, char** argv) try {
  std::size_t bytes = std::size_t{64} << 20;
  int rounds = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--bytes") bytes = umpager::parse_size(argv[i + 1], "--bytes");
    else if (a == "--rounds") rounds = std::stoi(argv[i + 1]);
    else throw umpager::invalid_argument("unknown option " + a + "; usage: ping_pong [--bytes 64M] [--rounds 8]");
  }
  if (argc % 2 == 0) throw umpager::invalid_argument("an option has no value; usage: ping_pong [--bytes 64M] [--rounds 8]");

  umpager::runtime rt;  // configured by UMPAGER_* variables
  umpager::buffer buf = rt.allocate(bytes);
  auto* host = buf.as<std::uint32_t>();                          // the CPU's pointer
  auto* dev = static_cast<std::uint32_t*>(buf.device_data());    // the same data, for kernels
  const std::size_t n = bytes / sizeof(std::uint32_t);
  umpager::stream s = rt.create_stream();

  for (std::size_t i = 0; i < n; ++i) host[i] = static_cast<std::uint32_t>(i);
  std::uint32_t expect = 0;  // what has been added to every word so far
  for (int r = 0; r < rounds; ++r) {
    // Ping: make it resident on the device, then run the kernel there.
    rt.prefetch(buf.data(), bytes, umpager::location::device, s);
    umpager::kernels::add(rt.device_driver(), s.handle(), dev, n, 1);
    s.synchronize();
    ++expect;
    // Pong: the CPU reads (pages fault home) and writes every word.
    for (std::size_t i = 0; i < n; ++i) {
      if (host[i] != static_cast<std::uint32_t>(i + expect)) {
        std::fprintf(stderr, "ping_pong: round %d: word %zu is %u, expected %zu\n", r, i, host[i], i + expect);
        return 1;
      }
      host[i] += 1;
    }
    ++expect;
  }

  const umpager::stats st = rt.statistics();
  std::printf("%d rounds over %zu MiB on %s: read faults %llu, write faults %llu, fault wait p50 %.1f us p99 %.1f us\n",
              rounds, bytes >> 20, rt.device_driver().info().name.c_str(),
              static_cast<unsigned long long>(st.read_faults), static_cast<unsigned long long>(st.write_faults),
              st.fault_wait_p50_ns / 1e3, st.fault_wait_p99_ns / 1e3);
  std::printf("to device %.1f MiB, to host %.1f MiB\nOK\n", st.bytes_to_device / 1048576.0,
              st.bytes_to_host / 1048576.0);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "ping_pong: %s\n", e.what());
  return 1;
}
