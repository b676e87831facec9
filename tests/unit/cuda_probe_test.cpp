// The CUDA driver without a GPU (probe and factory fail cleanly, nothing links
// libcuda), the portable kernels on the simulated device, and — where a GPU is
// present (tools/gpu-check) — the same kernels and chunk pool on the CUDA driver.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/sim_driver.hpp"
#include "umpager/driver.hpp"
#include "umpager/error.hpp"
#include "umpager/kernels.hpp"
#ifdef UMPAGER_HAVE_CUDA
#include "cuda/cuda_driver.hpp"
#endif

namespace {

using umpager::copy_direction;
using umpager::copy_op;

/// Two chunks mapped at a fresh reservation: the kernels span a chunk boundary.
/// Checks add and fill_index through host->device and device->host copies.
void roundtrip_kernels(umpager::driver& d) {
  const std::size_t chunk = d.info().chunk_bytes;
  const std::size_t bytes = 2 * chunk;
  const std::size_t n = bytes / sizeof(std::uint32_t);
  void* va = d.reserve(bytes);
  ASSERT_NE(va, nullptr);
  const umpager::chunk_handle c0 = d.create_chunk();
  const umpager::chunk_handle c1 = d.create_chunk();
  d.map_chunk(va, c0);
  d.map_chunk(static_cast<char*>(va) + chunk, c1);
  auto* dev = static_cast<std::uint32_t*>(va);

  // Page-aligned, as cudaHostRegister prefers (the runtime's alias view is).
  std::unique_ptr<std::uint32_t[], decltype(&std::free)> storage(
      static_cast<std::uint32_t*>(std::aligned_alloc(4096, bytes)), &std::free);
  ASSERT_NE(storage, nullptr);
  std::uint32_t* host = storage.get();
  for (std::size_t i = 0; i < n; ++i) host[i] = static_cast<std::uint32_t>(i * 3);
  d.register_host(host, bytes);
  const umpager::stream_handle s = d.create_stream();

  auto* h = reinterpret_cast<char*>(host);
  auto* v = static_cast<char*>(va);
  const copy_op up[] = {{v, h, chunk}, {v + chunk, h + chunk, chunk}};  // a batch of two
  const copy_op down[] = {{h, v, bytes}};

  d.copy_async(up, copy_direction::host_to_device, s);
  umpager::kernels::add(d, s, dev, n, 7);
  d.copy_async(down, copy_direction::device_to_host, s);
  d.synchronize(s);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) bad += host[i] != static_cast<std::uint32_t>(i * 3 + 7);
  EXPECT_EQ(bad, 0u) << "after add";

  umpager::kernels::fill_index(d, s, dev, n, 100);
  umpager::kernels::add(d, s, dev + n / 2, n / 2, 1);  // second half only
  d.copy_async(down, copy_direction::device_to_host, s);
  d.synchronize(s);
  bad = 0;
  for (std::size_t i = 0; i < n; ++i)
    bad += host[i] != static_cast<std::uint32_t>(i + 100 + (i >= n / 2 ? 1 : 0));
  EXPECT_EQ(bad, 0u) << "after fill_index + add";

  umpager::kernels::add(d, s, dev, 0, 1);  // n == 0: nothing
  EXPECT_THROW(umpager::kernels::add(d, s, nullptr, 1, 1), umpager::invalid_argument);

  d.destroy_stream(s);
  d.unregister_host(host, bytes);
  d.unmap_chunk(va);
  d.unmap_chunk(static_cast<char*>(va) + chunk);
  d.destroy_chunk(c0);
  d.destroy_chunk(c1);
  d.release(va, bytes);
}

TEST(Kernels, RunOnSimulatedDevice) {
  umpager::sim::sim_config cfg;
  cfg.memory_bytes = std::size_t{64} << 20;
  auto d = umpager::sim::make_driver(cfg);
  EXPECT_TRUE(umpager::kernels::supports("sim"));
  EXPECT_FALSE(umpager::kernels::supports("tpu"));
  roundtrip_kernels(*d);
}

#ifdef UMPAGER_HAVE_CUDA

TEST(CudaProbe, NeverCrashesAndExplains) {
  const umpager::cuda::probe_result p = umpager::cuda::probe();
  std::cout << "cuda probe: " << (p.usable ? "usable" : p.reason) << "\n";
  if (p.usable) {
    EXPECT_TRUE(p.reason.empty()) << p.reason;
    GTEST_SKIP() << "a usable GPU is present: nothing more to check without one";
  }
  EXPECT_FALSE(p.reason.empty());
  // Asking twice gives the same answer (nothing sticky in between).
  EXPECT_EQ(umpager::cuda::probe().reason, p.reason);
}

TEST(CudaProbe, FactoryThrowsDriverErrorWithoutGpu) {
  const umpager::cuda::probe_result p = umpager::cuda::probe();
  if (p.usable) GTEST_SKIP() << "a usable GPU is present";
  try {
    (void)umpager::cuda::make_driver({});
    FAIL() << "make_driver succeeded without a usable GPU";
  } catch (const umpager::driver_error& e) {
    EXPECT_EQ(std::string(e.what()), p.reason);
  }
}

TEST(CudaProbe, FactoryRejectsNegativeDevice) {
  umpager::cuda::cuda_config cfg;
  cfg.device = -1;
  EXPECT_THROW((void)umpager::cuda::make_driver(cfg), umpager::invalid_argument);
}

TEST(CudaDriver, KernelsAndChunkPool) {
  const umpager::cuda::probe_result p = umpager::cuda::probe();
  if (!p.usable) GTEST_SKIP() << p.reason;
  umpager::cuda::cuda_config cfg;
  cfg.memory_bytes = std::size_t{64} << 20;
  auto d = umpager::cuda::make_driver(cfg);
  const umpager::driver_info& info = d->info();
  std::cout << "device: " << info.device_name << ", chunk " << info.chunk_bytes << " B, budget "
            << info.memory_bytes << " B, local cpus \"" << info.local_cpus << "\"\n";
  EXPECT_EQ(info.name, "cuda");
  EXPECT_GE(info.chunk_bytes, std::size_t{2} << 20);
  EXPECT_EQ(info.memory_bytes % info.chunk_bytes, 0u);
  EXPECT_TRUE(umpager::kernels::supports("cuda"));
  roundtrip_kernels(*d);

  // The budget is enforced in chunks; a destroyed chunk goes back to the pool.
  std::vector<umpager::chunk_handle> chunks;
  for (std::size_t i = 0; i < info.memory_bytes / info.chunk_bytes; ++i) chunks.push_back(d->create_chunk());
  EXPECT_THROW((void)d->create_chunk(), umpager::out_of_memory);
  d->destroy_chunk(chunks.back());
  chunks.back() = d->create_chunk();
  for (const auto& c : chunks) d->destroy_chunk(c);

  // A host function that throws surfaces at synchronize.
  const umpager::stream_handle s = d->create_stream();
  EXPECT_NE(d->native_stream(s), nullptr);
  d->launch(s, [] { throw std::runtime_error("boom"); });
  EXPECT_THROW(d->synchronize(s), umpager::driver_error);
  d->synchronize(s);  // reported once
  const umpager::event_handle e = d->create_event();
  d->record(e, s);
  d->synchronize(e);
  EXPECT_TRUE(d->query(e));
  d->destroy_event(e);
  d->destroy_stream(s);
}

#endif  // UMPAGER_HAVE_CUDA

}  // namespace
