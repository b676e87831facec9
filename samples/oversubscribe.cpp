// Oversubscription demo: data twice the size of device memory, processed by a
// device kernel piece by piece while the CPU reads the results through the same
// pointer. Each launch says what it touches (umpager::kernels::launch_n); umpager
// makes that resident, evicting device chunks to make room, and faults pages back
// when the CPU reads them. No prefetch by hand.
//
//   oversubscribe [--data 2G] [--device-memory 1G] [--piece 256M]
//
// Runs on a GPU when there is one, else on the simulated device. The kernel is
// written once (UMPAGER_HOST_DEVICE): in a CUDA build this file is compiled by nvcc.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "umpager/kernels/portable.hpp"
#include "umpager/runtime.hpp"

namespace {

/// The kernel: adds one to every word of a piece.
struct add_one {
  std::uint32_t* data;  // a device pointer
  UMPAGER_HOST_DEVICE void operator()(std::size_t i) const { data[i] += 1; }
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

constexpr const char* kUsage = "usage: oversubscribe [--data 2G] [--device-memory 1G] [--piece 256M]\n";

int usage(const char* msg) {
  std::fprintf(stderr, "oversubscribe: %s\n%s(see --help)\n", msg, kUsage);
  return 2;
}

int help() {
  std::printf(
      "oversubscribe: data larger than device memory, processed by a device kernel piece by\n"
      "piece (a declared launch that adds 1) in two passes, then read back and checked by the CPU through\n"
      "the same pointer. Runs on the GPU when there is one, else on the simulated device.\n\n%s\n"
      "  --data N           managed bytes, K/M/G suffix (2G)\n"
      "  --device-memory N  device budget, smaller than --data on purpose (1G)\n"
      "  --piece N          bytes per declared launch: a multiple of 4K, at most\n"
      "                     --device-memory, dividing --data (256M)\n"
      "  --help             this text\n\n"
      "environment: UMPAGER_* variables (docs/environment.md), except that --device-memory\n"
      "sets the budget and the block size is 2M.\n"
      "exit status: 0 every value right, 1 wrong values or a runtime error, 2 bad usage.\n",
      kUsage);
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  std::size_t data = std::size_t{2} << 30, device = std::size_t{1} << 30, piece = std::size_t{256} << 20;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") return help();
    if (i + 1 >= argc) return usage(("missing value for " + a).c_str());
    const std::string v = argv[++i];
    if (a == "--data") data = umpager::parse_size(v, "--data");
    else if (a == "--device-memory") device = umpager::parse_size(v, "--device-memory");
    else if (a == "--piece") piece = umpager::parse_size(v, "--piece");
    else return usage(("unknown option " + a).c_str());
  }
  if (piece == 0 || piece % 4096 != 0 || piece > device || data % piece != 0) {
    return usage("--piece must be a multiple of 4K, at most --device-memory, and divide --data");
  }

  umpager::config cfg = umpager::config::from_env();
  cfg.device_memory = device;  // the budget: smaller than the data on purpose
  cfg.block_size = std::size_t{2} << 20;
  umpager::runtime rt(cfg);
  std::printf("driver: %s (%s), device budget %zu MiB, data %zu MiB, tracking %s\n",
              rt.device_driver().info().name.c_str(), rt.device_driver().info().device_name.c_str(), device >> 20,
              data >> 20, umpager::to_string(rt.tracking()));

  umpager::buffer buf = rt.allocate(data);
  auto* host = buf.as<std::uint32_t>();
  auto* dev = static_cast<std::uint32_t*>(buf.device_data());  // the same bytes, as kernels see them
  const std::size_t words = data / sizeof(std::uint32_t);
  auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < words; ++i) host[i] = static_cast<std::uint32_t>(i);
  const double t_init = seconds_since(t0);

  umpager::stream s = rt.create_stream();
  constexpr int kPasses = 2;
  t0 = std::chrono::steady_clock::now();
  for (int pass = 0; pass < kPasses; ++pass) {
    for (std::size_t off = 0; off < data; off += piece) {
      const umpager::access touched[] = {{buf.as<char>() + off, piece, umpager::access_mode::read_write}};
      umpager::kernels::launch_n(rt, s, touched, piece / 4, add_one{dev + off / 4});
    }
  }
  s.synchronize();
  const double t_device = seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  std::size_t bad = 0;
  for (std::size_t i = 0; i < words; ++i) bad += host[i] != static_cast<std::uint32_t>(i + kPasses);
  const double t_read = seconds_since(t0);

  const umpager::stats st = rt.statistics();
  const double gib = static_cast<double>(data) / (1 << 30);
  std::printf("%-34s %8.3f s\n", "CPU writes (first touch)", t_init);
  std::printf("%-34s %8.3f s  %6.2f GiB/s  (%d passes)\n", "device passes (declared launches)", t_device,
              kPasses * gib / t_device, kPasses);
  std::printf("%-34s %8.3f s  %6.2f GiB/s\n", "CPU reads back (faults)", t_read, gib / t_read);
  std::printf("chunks evicted %llu, to device %.2f GiB, to host %.2f GiB, read faults %llu, device in use %llu MiB\n",
              static_cast<unsigned long long>(st.chunks_evicted), st.bytes_to_device / double(1 << 30),
              st.bytes_to_host / double(1 << 30), static_cast<unsigned long long>(st.read_faults),
              static_cast<unsigned long long>(st.device_bytes_in_use >> 20));
  if (bad != 0) {
    std::printf("FAILED: %zu words differ\n", bad);
    return 1;
  }
  std::printf("OK: every word checked\n");
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "oversubscribe: %s\n", e.what());
  return 1;
}
