// The C API: the same cycle as the C++ API, and every call with bad arguments.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <string>
#include <cstring>
#include <vector>

#include "umpager/umpager.h"

namespace {

umpager_config sim_config() {
  umpager_config cfg;
  EXPECT_EQ(umpager_config_from_env(&cfg), 0) << umpager_last_error();
  cfg.driver = UMPAGER_DRIVER_SIM;
  cfg.device_memory = std::size_t{64} << 20;
  return cfg;
}

TEST(c_api, map_file_reads_flushes_and_reports_errors) {
  umpager_config cfg = sim_config();
  umpager_runtime* rt = nullptr;
  ASSERT_EQ(umpager_runtime_create(&cfg, &rt), 0) << umpager_last_error();
  void* p = nullptr;
  size_t bytes = 0;
  EXPECT_EQ(umpager_map_file(rt, "/nonexistent/umpager-c-api", UMPAGER_FILE_READ_ONLY, 0, &p, &bytes), -ENOENT);
  EXPECT_NE(std::strstr(umpager_last_error(), "/nonexistent/umpager-c-api"), nullptr) << umpager_last_error();
  std::string path = ::testing::TempDir() + "umpager_c_api_XXXXXX";
  const int fd = ::mkstemp(path.data());
  ASSERT_GE(fd, 0);
  std::vector<unsigned char> data(3 * 4096 + 10);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<unsigned char>(i * 31);
  ASSERT_EQ(::pwrite(fd, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  ::close(fd);
  ASSERT_EQ(umpager_map_file(rt, path.c_str(), UMPAGER_FILE_READ_WRITE, 4096, &p, &bytes), 0) << umpager_last_error();
  EXPECT_EQ(bytes, 4u * 4096);
  auto* c = static_cast<unsigned char*>(p);
  EXPECT_EQ(std::memcmp(c, data.data(), data.size()), 0);
  c[4096] = 0xab;
  ASSERT_EQ(umpager_flush(rt, p, bytes), 0) << umpager_last_error();
  umpager_stats st{};
  ASSERT_EQ(umpager_get_stats(rt, &st), 0);
  EXPECT_EQ(st.bytes_to_storage, 4096u);
  EXPECT_EQ(st.bytes_from_storage, data.size());
  EXPECT_EQ(umpager_free(rt, p), 0);
  const int rd = ::open(path.c_str(), O_RDONLY);
  unsigned char got = 0;
  ASSERT_EQ(::pread(rd, &got, 1, 4096), 1);
  ::close(rd);
  EXPECT_EQ(got, 0xab);
  void* plain = nullptr;
  ASSERT_EQ(umpager_alloc(rt, 4096, 0, &plain), 0);
  EXPECT_EQ(umpager_flush(rt, plain, 4096), -EINVAL) << "flush of memory that is not a mapped file";
  EXPECT_EQ(umpager_free(rt, plain), 0);
  ::unlink(path.c_str());
  EXPECT_EQ(umpager_runtime_destroy(rt), 0);
}

// The descriptor form: a range of the file, only its bytes written back, the caller's
// descriptor closed at once; each kind of error its own return value.
TEST(c_api, map_file_fd_maps_a_range_and_reports_errors) {
  umpager_config cfg = sim_config();
  umpager_runtime* rt = nullptr;
  ASSERT_EQ(umpager_runtime_create(&cfg, &rt), 0) << umpager_last_error();
  std::string path = ::testing::TempDir() + "umpager_c_api_fd_XXXXXX";
  const int fd = ::mkstemp(path.data());
  ASSERT_GE(fd, 0);
  std::vector<unsigned char> data(4 * 4096);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<unsigned char>(i * 7 + 1);
  ASSERT_EQ(::pwrite(fd, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  void* p = &data;  // set to NULL on failure
  size_t bytes = 0;
  EXPECT_EQ(umpager_map_file_fd(rt, fd, UMPAGER_FILE_READ_ONLY, 100, 0, 0, &p, &bytes), -EINVAL);
  EXPECT_EQ(p, nullptr);
  EXPECT_NE(std::strstr(umpager_last_error(), ("fd " + std::to_string(fd)).c_str()), nullptr) << umpager_last_error();
  EXPECT_EQ(umpager_map_file_fd(rt, fd, UMPAGER_FILE_READ_ONLY, 0, 5 * 4096, 0, &p, &bytes), -EINVAL) << "past the end";
  EXPECT_EQ(umpager_map_file_fd(rt, fd, 7, 0, 0, 0, &p, &bytes), -EINVAL) << "bad mode";
  EXPECT_EQ(umpager_map_file_fd(rt, fd, UMPAGER_FILE_READ_ONLY, 0, 0, 0, nullptr, &bytes), -EINVAL);
  EXPECT_EQ(umpager_map_file_fd(rt, -1, UMPAGER_FILE_READ_ONLY, 0, 0, 0, &p, &bytes), -EBADF);
  const int rd = ::open(path.c_str(), O_RDONLY);
  EXPECT_EQ(umpager_map_file_fd(rt, rd, UMPAGER_FILE_READ_WRITE, 0, 0, 0, &p, &bytes), -EINVAL) << "O_RDONLY";
  EXPECT_NE(std::strstr(umpager_last_error(), "O_RDONLY"), nullptr) << umpager_last_error();
  ASSERT_EQ(umpager_map_file_fd(rt, fd, UMPAGER_FILE_READ_WRITE, 4096, 2 * 4096, 4096, &p, &bytes), 0)
      << umpager_last_error();
  ::close(fd);
  EXPECT_EQ(bytes, 2u * 4096);
  auto* c = static_cast<unsigned char*>(p);
  EXPECT_EQ(std::memcmp(c, data.data() + 4096, 2 * 4096), 0);
  std::memset(c, 0xcd, 2 * 4096);
  ASSERT_EQ(umpager_flush(rt, p, bytes), 0) << umpager_last_error();
  EXPECT_EQ(umpager_free(rt, p), 0);
  std::vector<unsigned char> now(data.size());
  ASSERT_EQ(::pread(rd, now.data(), now.size(), 0), static_cast<ssize_t>(now.size()));
  ::close(rd);
  EXPECT_EQ(std::memcmp(now.data(), data.data(), 4096), 0) << "the page before the range";
  EXPECT_EQ(std::memcmp(now.data() + 3 * 4096, data.data() + 3 * 4096, 4096), 0) << "the page after it";
  EXPECT_EQ(std::count(now.begin() + 4096, now.begin() + 3 * 4096, 0xcd), 2 * 4096);
  ::unlink(path.c_str());
  EXPECT_EQ(umpager_runtime_shutdown(rt), 0);
  EXPECT_EQ(umpager_map_file_fd(rt, 0, UMPAGER_FILE_READ_ONLY, 0, 0, 0, &p, &bytes), -ESHUTDOWN);
  EXPECT_EQ(umpager_runtime_destroy(rt), 0);
}

TEST(c_api, cycle) {
  umpager_config cfg = sim_config();
  umpager_runtime* rt = nullptr;
  ASSERT_EQ(umpager_runtime_create(&cfg, &rt), 0) << umpager_last_error();
  void* p = nullptr;
  ASSERT_EQ(umpager_alloc(rt, 1 << 20, 0, &p), 0) << umpager_last_error();
  std::memset(p, 7, 1 << 20);
  umpager_stream* s = nullptr;
  ASSERT_EQ(umpager_stream_create(rt, &s), 0);
  ASSERT_EQ(umpager_prefetch(rt, p, 1 << 20, UMPAGER_LOCATION_DEVICE, s), 0) << umpager_last_error();
  void* d = nullptr;
  ASSERT_EQ(umpager_device_pointer(rt, p, &d), 0);
  EXPECT_NE(d, nullptr);
  EXPECT_EQ(static_cast<unsigned char*>(p)[12345], 7);  // faults back
  umpager_stats st{};
  ASSERT_EQ(umpager_get_stats(rt, &st), 0);
  EXPECT_EQ(st.bytes_to_device, 1u << 20);
  EXPECT_GT(st.read_faults, 0u);
  EXPECT_EQ(umpager_synchronize(rt), 0);
  EXPECT_EQ(umpager_stream_synchronize(s), 0);
  void* native = &native;
  EXPECT_EQ(umpager_stream_native(s, &native), 0);
  EXPECT_EQ(native, nullptr) << "the simulated device has no native stream";
  EXPECT_EQ(umpager_stream_destroy(s), 0);
  EXPECT_EQ(umpager_free(rt, p), 0);
  EXPECT_EQ(umpager_runtime_destroy(rt), 0);
}

TEST(c_api, adaptive_and_fixed_blocks_per_allocation) {
  // Config fixed at 4K; UMPAGER_BLOCK_ADAPTIVE grows dense faults, 0 keeps the config's.
  umpager_config cfg = sim_config();
  cfg.block_size = 4096;
  umpager_runtime* rt = nullptr;
  ASSERT_EQ(umpager_runtime_create(&cfg, &rt), 0) << umpager_last_error();
  constexpr std::size_t kBytes = std::size_t{4} << 20;
  for (const std::size_t block : {static_cast<std::size_t>(UMPAGER_BLOCK_ADAPTIVE), std::size_t{0}}) {
    void* p = nullptr;
    ASSERT_EQ(umpager_alloc(rt, kBytes, block, &p), 0) << umpager_last_error();
    std::memset(p, 3, kBytes);
    ASSERT_EQ(umpager_prefetch(rt, p, kBytes, UMPAGER_LOCATION_DEVICE, nullptr), 0) << umpager_last_error();
    umpager_stats before{}, after{};
    ASSERT_EQ(umpager_get_stats(rt, &before), 0);
    unsigned sum = 0;
    for (std::size_t off = 0; off < kBytes; off += 4096) sum += static_cast<unsigned char*>(p)[off];
    EXPECT_EQ(sum, 3u * (kBytes / 4096));
    ASSERT_EQ(umpager_get_stats(rt, &after), 0);
    const std::uint64_t faults = after.read_faults - before.read_faults;
    if (block == 0) EXPECT_EQ(faults, kBytes / 4096) << "the config's fixed 4K block";
    else EXPECT_LT(faults, kBytes / 4096 / 8) << "adaptive: a sequential pass grows to whole chunks";
    EXPECT_EQ(umpager_free(rt, p), 0);
  }
  EXPECT_EQ(umpager_runtime_destroy(rt), 0);
}

TEST(c_api, bad_arguments_get_codes_and_messages) {
  umpager_config cfg = sim_config();
  umpager_runtime* rt = nullptr;
  ASSERT_EQ(umpager_runtime_create(&cfg, &rt), 0);
  void* p = nullptr;
  std::vector<char> foreign(8192);
  EXPECT_EQ(umpager_config_from_env(nullptr), -EINVAL);
  EXPECT_EQ(umpager_runtime_create(&cfg, nullptr), -EINVAL);
  umpager_config bad = cfg;
  bad.block_size = 12345;
  umpager_runtime* rt2 = reinterpret_cast<umpager_runtime*>(&bad);
  EXPECT_EQ(umpager_runtime_create(&bad, &rt2), -EINVAL);
  EXPECT_EQ(rt2, nullptr);
  EXPECT_EQ(umpager_alloc(nullptr, 4096, 0, &p), -EINVAL);
  EXPECT_NE(std::strstr(umpager_last_error(), "runtime handle"), nullptr) << umpager_last_error();
  EXPECT_EQ(umpager_alloc(rt, 0, 0, &p), -EINVAL);
  EXPECT_EQ(umpager_alloc(rt, 4096, 0, nullptr), -EINVAL);
  EXPECT_EQ(umpager_alloc(rt, std::size_t{1} << 62, 0, &p), -ENOMEM);
  EXPECT_EQ(umpager_alloc(rt, 4096, 5000, &p), -EINVAL);
  ASSERT_EQ(umpager_alloc(rt, 1 << 20, 0, &p), 0);
  EXPECT_EQ(umpager_free(rt, nullptr), -EINVAL);
  EXPECT_EQ(umpager_free(rt, foreign.data()), -EINVAL);
  EXPECT_EQ(umpager_free(rt, static_cast<char*>(p) + 4096), -EINVAL);
  void* d = nullptr;
  EXPECT_EQ(umpager_device_pointer(rt, foreign.data(), &d), -EINVAL);
  EXPECT_EQ(umpager_device_pointer(rt, p, nullptr), -EINVAL);
  EXPECT_EQ(umpager_prefetch(rt, static_cast<char*>(p) + 1, 4096, UMPAGER_LOCATION_DEVICE, nullptr), -EINVAL);
  EXPECT_EQ(umpager_prefetch(rt, p, 0, UMPAGER_LOCATION_DEVICE, nullptr), -EINVAL);
  EXPECT_EQ(umpager_prefetch(rt, p, 2 << 20, UMPAGER_LOCATION_DEVICE, nullptr), -EINVAL);
  EXPECT_EQ(umpager_prefetch(rt, p, 4096, 9, nullptr), -EINVAL);
  EXPECT_EQ(umpager_get_stats(rt, nullptr), -EINVAL);
  EXPECT_EQ(umpager_stream_create(rt, nullptr), -EINVAL);
  EXPECT_EQ(umpager_stream_synchronize(nullptr), -EINVAL);
  EXPECT_EQ(umpager_stream_native(nullptr, &d), -EINVAL);
  EXPECT_EQ(umpager_free(rt, p), 0);
  EXPECT_EQ(umpager_free(rt, p), -EINVAL) << "double free";
  EXPECT_EQ(umpager_prefetch(rt, p, 4096, UMPAGER_LOCATION_DEVICE, nullptr), -EINVAL) << "freed";

  umpager_stream* s = nullptr;
  ASSERT_EQ(umpager_stream_create(rt, &s), 0);
  ASSERT_EQ(umpager_runtime_shutdown(rt), 0);
  EXPECT_EQ(umpager_alloc(rt, 4096, 0, &p), -ESHUTDOWN);
  EXPECT_EQ(umpager_free(rt, p), -ESHUTDOWN);
  EXPECT_EQ(umpager_prefetch(rt, p, 4096, UMPAGER_LOCATION_DEVICE, nullptr), -ESHUTDOWN);
  EXPECT_EQ(umpager_synchronize(rt), -ESHUTDOWN);
  EXPECT_EQ(umpager_stream_synchronize(s), -EINVAL) << "streams end with their runtime";
  EXPECT_EQ(umpager_runtime_shutdown(rt), -ESHUTDOWN);
  EXPECT_EQ(umpager_stream_destroy(s), 0);
  EXPECT_EQ(umpager_runtime_destroy(rt), 0);
  EXPECT_EQ(umpager_runtime_destroy(nullptr), 0);
}

TEST(c_api, cuda_without_gpu_is_a_clear_error) {
  umpager_config cfg = sim_config();
  cfg.driver = UMPAGER_DRIVER_CUDA;
  umpager_runtime* rt = nullptr;
  const int rc = umpager_runtime_create(&cfg, &rt);
  if (rc == 0) {
    umpager_runtime_destroy(rt);
    GTEST_SKIP() << "a usable GPU is present";
  }
  EXPECT_EQ(rc, -EIO);
  EXPECT_NE(std::strstr(umpager_last_error(), "UMPAGER_DRIVER=cuda"), nullptr) << umpager_last_error();
}

}  // namespace
