// Out-of-core stencil: a 3-point stencil, out[i] = in[i-1] + in[i] + in[i+1], over
// arrays that together are larger than device memory. The data goes through the
// device tile by tile; umpager evicts the tiles done to make room and faults pages
// back when the CPU checks the result.
//
//   stencil [--data 512M] [--device-memory 128M] [--tile 16M] [--passes 2]
//
// --data is both arrays together; each pass reads one and writes the other.
// Each tile is one launch that declares what it reads and writes: umpager makes
// exactly that resident (evicting older tiles), keeps it pinned until the kernel
// has run, and afterwards knows the written range is newest on the device.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

#include "umpager/kernels/portable.hpp"
#include "umpager/runtime.hpp"

namespace {

constexpr std::size_t kPage = 4096;  // tiles are whole pages

/// One tile of the stencil: elements [first, first + count) of `out` (device pointers).
struct stencil_tile {
  const std::uint32_t* in;
  std::uint32_t* out;
  std::size_t n, first;
  UMPAGER_HOST_DEVICE void operator()(std::size_t k) const {
    const std::size_t i = first + k;
    std::uint32_t v = in[i];
    if (i > 0) v += in[i - 1];
    if (i + 1 < n) v += in[i + 1];
    out[i] = v;
  }
};

/// The value element i has after `passes` passes when it started as i (CPU reference).
std::uint32_t expected(std::size_t i, std::size_t n, int passes) {
  if (passes == 0) return static_cast<std::uint32_t>(i);
  std::uint32_t v = expected(i, n, passes - 1);
  if (i > 0) v += expected(i - 1, n, passes - 1);
  if (i + 1 < n) v += expected(i + 1, n, passes - 1);
  return v;
}

}  // namespace

int main(int argc, char** argv) try {
  std::size_t data = std::size_t{512} << 20, device = std::size_t{128} << 20, tile = std::size_t{16} << 20;
  int passes = 2;
  const char* usage = "usage: stencil [--data 512M] [--device-memory 128M] [--tile 16M] [--passes 2]";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--data") data = umpager::parse_size(argv[i + 1], "--data");
    else if (a == "--device-memory") device = umpager::parse_size(argv[i + 1], "--device-memory");
    else if (a == "--tile") tile = umpager::parse_size(argv[i + 1], "--tile");
    else if (a == "--passes") passes = std::stoi(argv[i + 1]);
    else throw umpager::invalid_argument("unknown option " + a + "; " + usage);
  }
  if (argc % 2 == 0) throw umpager::invalid_argument(std::string("an option has no value; ") + usage);
  if (tile == 0 || tile % kPage != 0 || (data / 2) % tile != 0 || passes < 1) {
    throw umpager::invalid_argument(std::string("--tile must be a multiple of 4K dividing --data / 2; ") + usage);
  }

  umpager::config cfg = umpager::config::from_env();
  cfg.device_memory = device;  // smaller than the data, on purpose
  umpager::runtime rt(cfg);
  const std::size_t bytes = data / 2, n = bytes / sizeof(std::uint32_t), per_tile = tile / sizeof(std::uint32_t);
  std::printf("stencil: %zu MiB of data through %zu MiB of %s device memory, %zu MiB tiles, %d passes\n", data >> 20,
              device >> 20, rt.device_driver().info().name.c_str(), tile >> 20, passes);

  std::size_t wrong = 0;
  {
    umpager::buffer a = rt.allocate(bytes), b = rt.allocate(bytes);
    umpager::stream s = rt.create_stream();
    auto* host_in = a.as<std::uint32_t>();
    for (std::size_t i = 0; i < n; ++i) host_in[i] = static_cast<std::uint32_t>(i);
    umpager::buffer* in = &a;
    umpager::buffer* out = &b;
    for (int p = 0; p < passes; ++p) {
      for (std::size_t first = 0; first < n; first += per_tile) {
        // Reads the tile's input with one element of halo each side; writes the tile.
        const std::size_t lo = first == 0 ? 0 : first - 1, hi = std::min(n, first + per_tile + 1);
        const umpager::access set[] = {
            {in->as<std::uint32_t>() + lo, (hi - lo) * sizeof(std::uint32_t), umpager::access_mode::read},
            {out->as<std::uint32_t>() + first, tile, umpager::access_mode::write}};
        umpager::kernels::launch_n(rt, s, set, per_tile,
                                   stencil_tile{static_cast<const std::uint32_t*>(in->device_data()),
                                                static_cast<std::uint32_t*>(out->device_data()), n, first});
      }
      std::swap(in, out);
    }
    s.synchronize();
    // The CPU checks every element through the same pointer: pages fault home.
    const auto* result = in->as<std::uint32_t>();
    for (std::size_t i = 0; i < n; ++i) wrong += result[i] != expected(i, n, passes);
    const umpager::stats st = rt.statistics();
    std::printf("evicted %llu chunks, %.1f MiB to device, %.1f MiB to host, %llu read faults\n",
                static_cast<unsigned long long>(st.chunks_evicted), st.bytes_to_device / 1048576.0,
                st.bytes_to_host / 1048576.0, static_cast<unsigned long long>(st.read_faults));
  }
  if (wrong != 0) {
    std::fprintf(stderr, "stencil: %zu elements wrong\n", wrong);
    return 1;
  }
  std::printf("OK\n");
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "stencil: %s\n", e.what());
  return 1;
}
