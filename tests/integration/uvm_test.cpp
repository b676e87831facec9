// The porting layer (umpager/uvm.h) on the default runtime: a ported UVM cycle, and
// each mistake with the code its CUDA counterpart documents. ctest runs each case in
// its own process, so each gets a fresh default runtime on the simulated device.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "umpager/default_runtime.hpp"
#include "umpager/kernels.hpp"
#include "umpager/uvm.h"

namespace {

constexpr std::size_t kWords = 256 * 1024;  // 1 MiB

class uvm : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ::setenv("UMPAGER_DRIVER", "sim", 1);
    ::setenv("UMPAGER_DEVICE_MEMORY", "64M", 1);
  }
};

std::string message() { return umpagerGetLastErrorMessage(); }

TEST_F(uvm, ported_cycle_runs_a_kernel_on_managed_memory) {
  std::uint32_t* a = nullptr;
  ASSERT_EQ(umpagerMallocManaged(&a, kWords * sizeof(std::uint32_t)), umpagerSuccess) << message();
  for (std::size_t i = 0; i < kWords; ++i) a[i] = static_cast<std::uint32_t>(i);
  umpagerStream_t s = nullptr;
  ASSERT_EQ(umpagerStreamCreate(&s), umpagerSuccess);
  ASSERT_EQ(umpagerMemPrefetchAsync(a, kWords * sizeof(std::uint32_t), 0, s), umpagerSuccess) << message();
  void* d = nullptr;
  ASSERT_EQ(umpagerHostGetDevicePointer(&d, a, 0), umpagerSuccess);
  umpager::kernels::add(umpager::default_runtime().device_driver(), umpager::to_stream_view(s).handle(),
                        static_cast<std::uint32_t*>(d), kWords, 5);
  ASSERT_EQ(umpagerMemPrefetchAsync(a, kWords * sizeof(std::uint32_t), umpagerCpuDeviceId, s), umpagerSuccess);
  ASSERT_EQ(umpagerStreamSynchronize(s), umpagerSuccess);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < kWords; ++i) bad += a[i] != i + 5;
  EXPECT_EQ(bad, 0u);
  int count = 0;
  EXPECT_EQ(umpagerGetDeviceCount(&count), umpagerSuccess);
  EXPECT_EQ(count, 1);
  EXPECT_EQ(umpagerDeviceSynchronize(), umpagerSuccess);
  EXPECT_EQ(umpagerStreamDestroy(s), umpagerSuccess);
  EXPECT_EQ(umpagerFree(a), umpagerSuccess);
  EXPECT_EQ(umpagerFree(nullptr), umpagerSuccess) << "cudaFree(0) is a no-op";
  EXPECT_EQ(umpagerGetLastError(), umpagerSuccess) << message();
}

TEST_F(uvm, first_calls_from_many_threads_share_one_runtime) {
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  std::vector<umpagerError_t> results(kThreads, umpagerErrorUnknown);
  std::vector<umpager::runtime*> runtimes(kThreads, nullptr);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      char* p = nullptr;
      umpagerError_t e = umpagerMallocManaged(&p, 256 * 1024);
      if (e == umpagerSuccess) {
        std::memset(p, t, 256 * 1024);
        e = umpagerMemPrefetchAsync(p, 256 * 1024, 0);
        if (e == umpagerSuccess) e = umpagerMemPrefetchAsync(p, 256 * 1024, umpagerCpuDeviceId);
        if (e == umpagerSuccess && p[1000] != t) e = umpagerErrorUnknown;
        if (e == umpagerSuccess) e = umpagerFree(p);
      }
      results[t] = e;
      runtimes[t] = &umpager::default_runtime();
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(results[t], umpagerSuccess) << "thread " << t;
    EXPECT_EQ(runtimes[t], runtimes[0]) << "one default runtime";
  }
  EXPECT_EQ(umpager::default_runtime().statistics().managed_bytes, 0u) << "every allocation freed";
}

TEST_F(uvm, prefetch_rounds_an_unaligned_range_out_to_pages) {
  char* p = nullptr;
  ASSERT_EQ(umpagerMallocManaged(&p, 1 << 20), umpagerSuccess);
  std::memset(p, 1, 1 << 20);
  // [100, 5100) touches pages 0 and 1: two pages go up, no more.
  ASSERT_EQ(umpagerMemPrefetchAsync(p + 100, 5000, 0), umpagerSuccess) << message();
  EXPECT_EQ(umpager::default_runtime().statistics().bytes_to_device, 8192u);
  EXPECT_EQ(umpagerFree(p), umpagerSuccess);
}

// The umpager additions for files: a range of a descriptor the program sized, used and
// freed like managed memory (the free writes the range back); bad input is InvalidValue.
TEST_F(uvm, map_file_fd_gives_managed_memory_over_a_range) {
  std::string path = ::testing::TempDir() + "umpager_uvm_XXXXXX";
  const int fd = ::mkstemp(path.data());
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 1 << 20), 0);
  void* p = nullptr;
  std::size_t size = 0;
  ASSERT_EQ(umpagerMapFileFd(&p, &size, fd, 64 << 10, 64 << 10, umpagerMapFileReadWrite), umpagerSuccess) << message();
  EXPECT_EQ(size, std::size_t{64} << 10);
  auto* a = static_cast<std::uint32_t*>(p);
  a[7] = 0x77;
  ASSERT_EQ(umpagerMemPrefetchAsync(a, 64 << 10, 0), umpagerSuccess) << message();
  ASSERT_EQ(umpagerDeviceSynchronize(), umpagerSuccess);
  EXPECT_EQ(umpagerFree(a), umpagerSuccess) << message();
  std::uint32_t got = 0;
  ASSERT_EQ(::pread(fd, &got, sizeof got, (64 << 10) + 7 * 4), static_cast<ssize_t>(sizeof got));
  EXPECT_EQ(got, 0x77u);
  ASSERT_EQ(::pread(fd, &got, sizeof got, 7 * 4), static_cast<ssize_t>(sizeof got));
  EXPECT_EQ(got, 0u) << "outside the range";
  EXPECT_EQ(umpagerMapFileFd(&p, &size, fd, 100, 0), umpagerErrorInvalidValue);
  EXPECT_NE(message().find("multiple of 4096"), std::string::npos) << message();
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(umpagerMapFileFd(&p, &size, -1, 0, 0), umpagerErrorInvalidValue) << "not open";
  EXPECT_EQ(umpagerMapFileFd(&p, &size, fd, 0, 0, 7), umpagerErrorInvalidValue) << "flags";
  EXPECT_EQ(umpagerMapFile(&p, nullptr, (path + ".missing").c_str()), umpagerErrorInvalidValue);
  ASSERT_EQ(umpagerMapFile(&p, nullptr, path.c_str()), umpagerSuccess) << message();
  EXPECT_EQ(static_cast<const std::uint32_t*>(p)[(64 << 10) / 4 + 7], 0x77u);
  EXPECT_EQ(umpagerFree(p), umpagerSuccess);
  ::close(fd);
  ::unlink(path.c_str());
  (void)umpagerGetLastError();  // the errors above, read
}

TEST_F(uvm, bad_allocation_and_free_get_cuda_codes) {
  void* p = nullptr;
  EXPECT_EQ(umpagerMallocManaged(nullptr, 4096, umpagerMemAttachGlobal), umpagerErrorInvalidValue);
  EXPECT_EQ(umpagerMallocManaged(&p, 0, umpagerMemAttachGlobal), umpagerErrorInvalidValue);
  EXPECT_NE(message().find("size is zero"), std::string::npos) << message();
  EXPECT_EQ(umpagerMallocManaged(&p, 4096, 0), umpagerErrorInvalidValue);
  EXPECT_EQ(umpagerMallocManaged(&p, 4096, umpagerMemAttachSingle), umpagerErrorInvalidValue);
  ASSERT_EQ(umpagerMallocManaged(&p, 4096, umpagerMemAttachHost), umpagerSuccess);
  int foreign = 0;
  EXPECT_EQ(umpagerFree(&foreign), umpagerErrorInvalidValue);
  EXPECT_EQ(umpagerFree(static_cast<char*>(p) + 8), umpagerErrorInvalidValue);
  EXPECT_EQ(umpagerFree(p), umpagerSuccess);
  EXPECT_EQ(umpagerFree(p), umpagerErrorInvalidValue) << "freed twice";
  EXPECT_NE(message().find("freed"), std::string::npos) << message();
}

TEST_F(uvm, bad_prefetch_gets_cuda_codes) {
  constexpr std::size_t n = 1 << 20;
  char* p = nullptr;
  ASSERT_EQ(umpagerMallocManaged(&p, n), umpagerSuccess);
  EXPECT_EQ(umpagerMemPrefetchAsync(nullptr, 4096, 0), umpagerErrorInvalidValue);
  EXPECT_EQ(umpagerMemPrefetchAsync(p, 0, 0), umpagerErrorInvalidValue);
  EXPECT_EQ(umpagerMemPrefetchAsync(p, n + 1, 0), umpagerErrorInvalidValue);
  EXPECT_NE(message().find("past the end"), std::string::npos) << message();
  EXPECT_EQ(umpagerMemPrefetchAsync(p + n - 1, 2, 0), umpagerErrorInvalidValue);
  EXPECT_EQ(umpagerMemPrefetchAsync(p, n, 1), umpagerErrorInvalidDevice) << "one device";
  EXPECT_EQ(umpagerMemPrefetchAsync(p, n, umpagerInvalidDeviceId), umpagerErrorInvalidDevice);
  int not_a_stream = 0;
  EXPECT_EQ(umpagerMemPrefetchAsync(p, n, 0, reinterpret_cast<umpagerStream_t>(&not_a_stream)),
            umpagerErrorInvalidResourceHandle);
  umpagerStream_t s = nullptr;
  ASSERT_EQ(umpagerStreamCreate(&s), umpagerSuccess);
  ASSERT_EQ(umpagerStreamDestroy(s), umpagerSuccess);
  EXPECT_EQ(umpagerMemPrefetchAsync(p, n, 0, s), umpagerErrorInvalidResourceHandle) << "destroyed stream";
  EXPECT_EQ(umpagerStreamDestroy(s), umpagerErrorInvalidResourceHandle);
  EXPECT_EQ(umpagerStreamSynchronize(s), umpagerErrorInvalidResourceHandle);
  EXPECT_EQ(umpagerStreamCreate(nullptr), umpagerErrorInvalidValue);
  ASSERT_EQ(umpagerFree(p), umpagerSuccess);
  EXPECT_EQ(umpagerMemPrefetchAsync(p, n, 0), umpagerErrorInvalidValue) << "freed pointer";
  int foreign[1024];
  EXPECT_EQ(umpagerMemPrefetchAsync(foreign, sizeof(foreign), 0), umpagerErrorInvalidValue);
  void* d = nullptr;
  EXPECT_EQ(umpagerHostGetDevicePointer(&d, foreign, 0), umpagerErrorInvalidValue);
  EXPECT_EQ(umpagerHostGetDevicePointer(nullptr, p, 0), umpagerErrorInvalidValue);
  EXPECT_EQ(umpagerGetDeviceCount(nullptr), umpagerErrorInvalidValue);
}

TEST_F(uvm, last_error_is_kept_until_read_like_cuda) {
  EXPECT_EQ(umpagerGetLastError(), umpagerSuccess);
  EXPECT_EQ(umpagerFree(reinterpret_cast<void*>(0x1000)), umpagerErrorInvalidValue);
  void* p = nullptr;
  ASSERT_EQ(umpagerMallocManaged(&p, 4096), umpagerSuccess) << "a success leaves the last error alone";
  EXPECT_EQ(umpagerPeekAtLastError(), umpagerErrorInvalidValue);
  EXPECT_EQ(umpagerGetLastError(), umpagerErrorInvalidValue);
  EXPECT_EQ(umpagerGetLastError(), umpagerSuccess) << "read once, reset";
  EXPECT_STREQ(umpagerGetErrorString(umpagerErrorInvalidValue), "invalid argument");
  EXPECT_STREQ(umpagerGetErrorString(umpagerErrorInvalidResourceHandle), "invalid resource handle");
  EXPECT_STREQ(umpagerGetErrorName(umpagerErrorInvalidDevice), "umpagerErrorInvalidDevice");
  EXPECT_STREQ(umpagerGetErrorString(static_cast<umpagerError_t>(1000)), "unrecognized error code");
  EXPECT_EQ(umpagerFree(p), umpagerSuccess);
}

TEST_F(uvm, error_values_equal_cuda_ones) {
  // The documented values of cudaError_t and the cudaMemAttach* / device-id constants.
  EXPECT_EQ(umpagerErrorInvalidValue, 1);
  EXPECT_EQ(umpagerErrorMemoryAllocation, 2);
  EXPECT_EQ(umpagerErrorInitializationError, 3);
  EXPECT_EQ(umpagerErrorCudartUnloading, 4);
  EXPECT_EQ(umpagerErrorInvalidDevice, 101);
  EXPECT_EQ(umpagerErrorInvalidResourceHandle, 400);
  EXPECT_EQ(umpagerErrorNotSupported, 801);
  EXPECT_EQ(umpagerErrorUnknown, 999);
  EXPECT_EQ(umpagerMemAttachGlobal, 1);
  EXPECT_EQ(umpagerMemAttachHost, 2);
  EXPECT_EQ(umpagerMemAttachSingle, 4);
  EXPECT_EQ(umpagerCpuDeviceId, -1);
}

TEST_F(uvm, advise_attach_and_range_attribute_check_arguments) {
  constexpr std::size_t n = 1 << 20;
  char* p = nullptr;
  ASSERT_EQ(umpagerMallocManaged(&p, n), umpagerSuccess);
  umpagerStream_t s = nullptr;
  ASSERT_EQ(umpagerStreamCreate(&s), umpagerSuccess);
  int value = 0;
  int bogus_stream = 0;
  EXPECT_EQ(umpagerMemAdvise(nullptr, n, umpagerMemAdviseSetReadMostly, 0), umpagerErrorInvalidValue);
  EXPECT_EQ(umpagerMemAdvise(p, n + 1, umpagerMemAdviseSetReadMostly, 0), umpagerErrorInvalidValue);
  EXPECT_EQ(umpagerMemAdvise(p, n, static_cast<umpagerMemoryAdvise>(7), 0), umpagerErrorInvalidValue);
  EXPECT_EQ(umpagerMemAdvise(p, n, umpagerMemAdviseSetPreferredLocation, 7), umpagerErrorInvalidDevice);
  EXPECT_EQ(umpagerStreamAttachMemAsync(reinterpret_cast<umpagerStream_t>(&bogus_stream), p),
            umpagerErrorInvalidResourceHandle);
  EXPECT_EQ(umpagerStreamAttachMemAsync(s, p + 4096, 4096), umpagerErrorInvalidValue) << "part of an allocation";
  EXPECT_EQ(umpagerStreamAttachMemAsync(s, p, 0, 0x8), umpagerErrorInvalidValue);
  EXPECT_EQ(umpagerStreamAttachMemAsync(nullptr, p, 0, umpagerMemAttachSingle), umpagerErrorInvalidValue);
  EXPECT_EQ(umpagerMemRangeGetAttribute(nullptr, 4, umpagerMemRangeAttributeLastPrefetchLocation, p, n),
            umpagerErrorInvalidValue);
  EXPECT_EQ(umpagerMemRangeGetAttribute(&value, 2, umpagerMemRangeAttributeLastPrefetchLocation, p, n),
            umpagerErrorInvalidValue);
  EXPECT_EQ(umpagerMemRangeGetAttribute(&value, 4, static_cast<umpagerMemRangeAttribute>(0), p, n),
            umpagerErrorInvalidValue);
  EXPECT_EQ(umpagerMemRangeGetAttribute(&value, 4, umpagerMemRangeAttributeReadMostly, p, n + 4096),
            umpagerErrorInvalidValue);
  EXPECT_EQ(umpagerStreamDestroy(s), umpagerSuccess);
  EXPECT_EQ(umpagerFree(p), umpagerSuccess);
}

int attribute(umpagerMemRangeAttribute a, const void* p, std::size_t n) {
  int v = 12345;
  const umpagerError_t e = umpagerMemRangeGetAttribute(&v, sizeof(v), a, p, n);
  EXPECT_EQ(e, umpagerSuccess) << message();
  return v;
}

TEST_F(uvm, advice_and_prefetches_show_in_range_attributes) {
  constexpr std::size_t n = 4 << 20;  // two chunks
  char* p = nullptr;
  ASSERT_EQ(umpagerMallocManaged(&p, n), umpagerSuccess);
  std::memset(p, 1, n);
  EXPECT_EQ(attribute(umpagerMemRangeAttributeLastPrefetchLocation, p, n), umpagerInvalidDeviceId) << "none yet";
  ASSERT_EQ(umpagerMemPrefetchAsync(p, n, 0), umpagerSuccess) << message();
  EXPECT_EQ(attribute(umpagerMemRangeAttributeLastPrefetchLocation, p, n), 0);
  ASSERT_EQ(umpagerMemPrefetchAsync(p, n, umpagerCpuDeviceId), umpagerSuccess);
  EXPECT_EQ(attribute(umpagerMemRangeAttributeLastPrefetchLocation, p + 100, 10), umpagerCpuDeviceId);

  EXPECT_EQ(attribute(umpagerMemRangeAttributeReadMostly, p, n), 0);
  ASSERT_EQ(umpagerMemAdvise(p, n, umpagerMemAdviseSetReadMostly, 0), umpagerSuccess) << message();
  EXPECT_EQ(attribute(umpagerMemRangeAttributeReadMostly, p + 5000, 3), 1) << "an unaligned range inside";
  ASSERT_EQ(umpagerMemAdvise(p, n, umpagerMemAdviseUnsetReadMostly, 0), umpagerSuccess);
  EXPECT_EQ(attribute(umpagerMemRangeAttributeReadMostly, p, n), 0);

  EXPECT_EQ(attribute(umpagerMemRangeAttributePreferredLocation, p, n), umpagerInvalidDeviceId);
  ASSERT_EQ(umpagerMemAdvise(p, n, umpagerMemAdviseSetPreferredLocation, umpagerCpuDeviceId), umpagerSuccess);
  EXPECT_EQ(attribute(umpagerMemRangeAttributePreferredLocation, p, n), umpagerCpuDeviceId);
  ASSERT_EQ(umpagerMemAdvise(p, n, umpagerMemAdviseSetPreferredLocation, 0), umpagerSuccess);
  EXPECT_EQ(attribute(umpagerMemRangeAttributePreferredLocation, p, n), 0);
  ASSERT_EQ(umpagerMemAdvise(p, n, umpagerMemAdviseUnsetPreferredLocation, 0), umpagerSuccess);
  EXPECT_EQ(attribute(umpagerMemRangeAttributePreferredLocation, p, n), umpagerInvalidDeviceId);

  // Accessed-by: the devices that reach the range where it is, listed as CUDA lists them.
  int devices[2] = {7, 7};
  ASSERT_EQ(umpagerMemRangeGetAttribute(devices, sizeof(devices), umpagerMemRangeAttributeAccessedBy, p, n),
            umpagerSuccess);
  EXPECT_EQ(devices[0], umpagerInvalidDeviceId);
  ASSERT_EQ(umpagerMemAdvise(p, n, umpagerMemAdviseSetAccessedBy, 0), umpagerSuccess) << message();
  ASSERT_EQ(umpagerMemRangeGetAttribute(devices, sizeof(devices), umpagerMemRangeAttributeAccessedBy, p, n),
            umpagerSuccess);
  EXPECT_EQ(devices[0], 0);
  EXPECT_EQ(devices[1], umpagerInvalidDeviceId);
  ASSERT_EQ(umpagerMemAdvise(p, n, umpagerMemAdviseUnsetAccessedBy, 0), umpagerSuccess) << message();
  ASSERT_EQ(umpagerMemRangeGetAttribute(devices, sizeof(devices), umpagerMemRangeAttributeAccessedBy, p, n),
            umpagerSuccess);
  EXPECT_EQ(devices[0], umpagerInvalidDeviceId);
  EXPECT_EQ(devices[1], umpagerInvalidDeviceId);
  EXPECT_EQ(umpagerFree(p), umpagerSuccess);
}

TEST_F(uvm, attach_calls_reach_the_runtime) {
  char* p = nullptr;
  ASSERT_EQ(umpagerMallocManaged(&p, 1 << 20, umpagerMemAttachHost), umpagerSuccess) << message();
  umpagerStream_t s = nullptr;
  ASSERT_EQ(umpagerStreamCreate(&s), umpagerSuccess);
  EXPECT_EQ(umpagerStreamAttachMemAsync(s, p), umpagerSuccess) << message();
  EXPECT_EQ(umpagerStreamAttachMemAsync(s, p, 1 << 20, umpagerMemAttachGlobal), umpagerSuccess) << "the whole length";
  EXPECT_EQ(umpagerStreamAttachMemAsync(nullptr, p, 0, umpagerMemAttachHost), umpagerSuccess);
  EXPECT_EQ(umpagerStreamSynchronize(s), umpagerSuccess);
  EXPECT_EQ(umpagerStreamDestroy(s), umpagerSuccess);
  EXPECT_EQ(umpagerFree(p), umpagerSuccess);
}

TEST_F(uvm, bad_variable_is_an_initialization_error_naming_it) {
  EXPECT_EXIT(
      {
        ::setenv("UMPAGER_BLOCK_SIZE", "3", 1);
        void* p = nullptr;
        const umpagerError_t e = umpagerMallocManaged(&p, 4096);
        std::fprintf(stderr, "%s\n", umpagerGetLastErrorMessage());
        std::_Exit(e == umpagerErrorInitializationError ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "UMPAGER_BLOCK_SIZE");
}

void free_after_shutdown() {
  // Runs after the default runtime's own exit handler (registered later, runs first).
  void* p = nullptr;
  const bool ok = umpagerMallocManaged(&p, 4096) == umpagerErrorCudartUnloading &&
                  umpagerFree(reinterpret_cast<void*>(0x1000)) == umpagerErrorCudartUnloading;
  std::fprintf(stderr, ok ? "unloading reported\n" : "wrong code after exit\n");
  std::_Exit(ok ? 0 : 1);
}

TEST_F(uvm, calls_after_exit_report_unloading_not_crash) {
  EXPECT_EXIT(
      {
        std::atexit(free_after_shutdown);
        void* p = nullptr;
        if (umpagerMallocManaged(&p, 1 << 20) != umpagerSuccess) std::_Exit(2);
        std::memset(p, 1, 1 << 20);
        std::exit(3);  // p still allocated: the exit handler frees it with the runtime
      },
      ::testing::ExitedWithCode(0), "unloading reported");
}

}  // namespace
