// What the storage tests share: files of known words under the test temp dir, and a
// runtime on a typed suite's driver with a tracking mode (skipped where unsupported).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime_fixture.hpp"

namespace umpager::testing {

inline std::uint32_t word(std::size_t i, std::uint32_t seed) { return static_cast<std::uint32_t>(i * 2654435761u) ^ seed; }

/// Word `i` of the file at `path` now, read with pread (0xdeadbeef where it cannot be).
inline std::uint32_t read_file_word(const std::string& path, std::size_t i) {
  std::uint32_t v = 0;
  const int fd = ::open(path.c_str(), O_RDONLY);
  const ssize_t n = ::pread(fd, &v, sizeof v, static_cast<off_t>(i * 4));
  ::close(fd);
  return n == sizeof v ? v : 0xdeadbeef;
}

/// A file under the test temp dir, removed at the end.
class temp_file {
 public:
  /// `bytes` of word(i, seed) (the last word cut short if bytes is not a multiple of 4).
  temp_file(std::size_t bytes, std::uint32_t seed) : path_(::testing::TempDir() + "umpager_storage_XXXXXX") {
    const int fd = ::mkstemp(path_.data());
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    std::vector<std::uint32_t> w((bytes + 3) / 4);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = word(i, seed);
    const bool ok = bytes == 0 || ::pwrite(fd, w.data(), bytes, 0) == static_cast<ssize_t>(bytes);
    ::close(fd);
    if (!ok) throw std::runtime_error("pwrite failed");
  }
  ~temp_file() { ::unlink(path_.c_str()); }
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }
  /// The file's word `i` now, read with pread.
  [[nodiscard]] std::uint32_t read_word(std::size_t i) const { return read_file_word(path_, i); }
  void write_word(std::size_t i, std::uint32_t v) const {
    const int fd = ::open(path_.c_str(), O_WRONLY);
    ASSERT_EQ(::pwrite(fd, &v, sizeof v, static_cast<off_t>(i * 4)), static_cast<ssize_t>(sizeof v));
    ::close(fd);
  }
  void truncate(std::size_t bytes) const { ASSERT_EQ(::truncate(path_.c_str(), static_cast<off_t>(bytes)), 0); }

 private:
  std::string path_;
};

/// A runtime with `tracking` on the factory's driver (and `io`'s engines if given), or
/// null with `why` (driver unavailable, tracking mode unsupported by this kernel).
template <class Factory>
inline std::unique_ptr<runtime> storage_runtime(std::string* why, tracking_mode tracking, io_engine_factory io = {},
                                         std::size_t block = 64 * 1024) {
  auto d = Factory::make(why);
  if (!d) return nullptr;
  config cfg = make_config(block, tracking);
  try {
    return io ? std::make_unique<runtime>(cfg, std::move(d), std::move(io)) : std::make_unique<runtime>(cfg, std::move(d));
  } catch (const unsupported& e) {
    *why = e.what();
    return nullptr;
  }
}

#define STORAGE_RUNTIME_OR_SKIP(rt, ...)                              \
  std::string rt##_why;                                               \
  auto rt = storage_runtime<TypeParam>(&rt##_why, __VA_ARGS__);       \
  if (!rt) GTEST_SKIP() << rt##_why

}  // namespace umpager::testing
