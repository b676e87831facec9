// runtime::map_file of an open descriptor, through the public API: a file the program
// made and sized itself, a range in the middle of a file (only its bytes read and
// written back), the caller's descriptor closed at once, and each bad input's error.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "runtime_fixture.hpp"
#include "storage_fixture.hpp"

namespace umpager::testing {
namespace {

template <class Factory>
class storage_fd_test : public ::testing::Test {};
TYPED_TEST_SUITE(storage_fd_test, driver_factories, factory_names);

/// A descriptor closed at the end.
struct fd_guard {
  int fd;
  explicit fd_guard(int f) : fd(f) {}
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
};

TYPED_TEST(storage_fd_test, MapsAFileTheProgramSizedWithFtruncate) {
  constexpr std::size_t kBytes = 256 * 1024;  // whole 64 KiB blocks: the allocation is the file
  std::string path = ::testing::TempDir() + "umpager_fd_XXXXXX";
  const int fd = ::mkstemp(path.data());
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, kBytes), 0);
  STORAGE_RUNTIME_OR_SKIP(rt, tracking_mode::automatic);
  buffer b = rt->map_file(fd, file_access::read_write);
  ASSERT_EQ(b.size(), kBytes) << "the size ftruncate gave is the mapping's";
  ::close(fd);  // the runtime has its own descriptor
  auto* w = b.as<std::uint32_t>();
  for (std::size_t i = 0; i < kBytes / 4; ++i) ASSERT_EQ(w[i], 0u) << "a fresh file reads as zeros";
  for (std::size_t i = 0; i < kBytes / 4; ++i) w[i] = word(i, 0x5eed);
  rt->flush(b.data(), b.size());
  std::size_t bad = 0;
  for (std::size_t i = 0; i < kBytes / 4; i += 97) bad += read_file_word(path, i) != word(i, 0x5eed);
  EXPECT_EQ(bad, 0u) << "flushed bytes are in the file";
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(static_cast<std::size_t>(st.st_size), kBytes) << "the file keeps its size";
  b.reset();
  ::unlink(path.c_str());
}

// [8 KiB, 24 KiB) of a 64 KiB file: reads give exactly those bytes, zeros past them in
// the allocation; writes everywhere in it (past the range too) change only the range.
TYPED_TEST(storage_fd_test, MiddleOfAFileReadsAndWritesBackOnlyItsRange) {
  constexpr std::size_t kFile = 64 * 1024, kOffset = 8 * 1024, kLength = 16 * 1024;
  for (const std::size_t block : {kPage, std::size_t{64} << 10}) {
    SCOPED_TRACE("block " + std::to_string(block));
    temp_file f(kFile, 0xa11);
    STORAGE_RUNTIME_OR_SKIP(rt, tracking_mode::automatic, io_engine_factory{}, block);
    fd_guard fd(::open(f.path().c_str(), O_RDWR));
    ASSERT_GE(fd.fd, 0);
    {
      buffer b = rt->map_file(fd.fd, file_access::read_write, kOffset, kLength);
      ASSERT_GE(b.size(), kLength);
      auto* w = b.as<std::uint32_t>();
      const std::size_t first = kOffset / 4;
      for (std::size_t i = 0; i < kLength / 4; ++i) ASSERT_EQ(w[i], word(first + i, 0xa11)) << "word " << i;
      for (std::size_t i = kLength / 4; i < b.size() / 4; ++i) ASSERT_EQ(w[i], 0u) << "past the range: zeros";
      for (std::size_t i = 0; i < b.size() / 4; ++i) w[i] = ~w[i];
      rt->flush(b.data(), b.size());
      for (std::size_t i = 0; i < kLength / 4; i += 31) EXPECT_EQ(f.read_word(first + i), ~word(first + i, 0xa11));
    }  // freed: written back again
    std::size_t outside = 0, inside = 0;
    for (std::size_t i = 0; i < kFile / 4; ++i) {
      const bool in = i >= kOffset / 4 && i < (kOffset + kLength) / 4;
      const std::uint32_t got = f.read_word(i);
      if (in) inside += got != ~word(i, 0xa11);
      else outside += got != word(i, 0xa11);
    }
    EXPECT_EQ(inside, 0u) << "the range holds the writes";
    EXPECT_EQ(outside, 0u) << "bytes before and after the range were written";
    EXPECT_EQ(rt->statistics().bytes_to_storage, kLength) << "nothing past the range went to the file";
  }
}

// A range that ends at the end of the file may end in a partial page: zeros past the
// file in memory, and a write-back that never extends the file.
TYPED_TEST(storage_fd_test, RangeEndingAtTheFilesEndMayEndInAPartialPage) {
  constexpr std::size_t kFile = 10 * kPage + 100, kOffset = 8 * kPage;
  temp_file f(kFile, 0xb22);
  STORAGE_RUNTIME_OR_SKIP(rt, tracking_mode::automatic);
  fd_guard fd(::open(f.path().c_str(), O_RDWR));
  {
    buffer b = rt->map_file(fd.fd, file_access::read_write, kOffset);  // length 0: to the end
    const auto* c = b.as<unsigned char>();
    auto* w = b.as<std::uint32_t>();
    EXPECT_EQ(w[0], word(kOffset / 4, 0xb22));
    EXPECT_EQ(w[(kFile - kOffset) / 4 - 1], word(kFile / 4 - 1, 0xb22)) << "the file's last word";
    for (std::size_t i = kFile - kOffset; i < b.size(); ++i) ASSERT_EQ(c[i], 0) << "byte " << i << " past the file";
    w[(kFile - kOffset) / 4 - 1] = 0x1a57;
    w[(kFile - kOffset) / 4 + 10] = 0xbad;  // past the end of the file: stays in memory
  }
  struct stat st {};
  ASSERT_EQ(::stat(f.path().c_str(), &st), 0);
  EXPECT_EQ(static_cast<std::size_t>(st.st_size), kFile) << "write-back extended the file";
  EXPECT_EQ(f.read_word(kFile / 4 - 1), 0x1a57u);
  EXPECT_EQ(f.read_word(kOffset / 4 - 1), word(kOffset / 4 - 1, 0xb22)) << "the word before the range";
}

// The runtime keeps its own descriptor: closing the caller's, and reusing its number
// for another file, changes nothing.
TYPED_TEST(storage_fd_test, ClosingTheCallersDescriptorKeepsTheMapping) {
  temp_file f(32 * kPage, 0xc33), other(32 * kPage, 0xd44);
  STORAGE_RUNTIME_OR_SKIP(rt, tracking_mode::automatic);
  const int fd = ::open(f.path().c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  buffer b = rt->map_file(fd, file_access::read_write);
  ::close(fd);
  fd_guard reused(::open(other.path().c_str(), O_RDWR));  // most likely the same number
  auto* w = b.as<std::uint32_t>();
  std::size_t bad = 0;
  for (std::size_t i = 0; i < 32 * kWordsPerPage; i += 101) bad += w[i] != word(i, 0xc33);
  EXPECT_EQ(bad, 0u);
  w[5 * kWordsPerPage] = 0x55;
  rt->flush(b.data(), b.size());
  EXPECT_EQ(f.read_word(5 * kWordsPerPage), 0x55u);
  EXPECT_EQ(other.read_word(5 * kWordsPerPage), word(5 * kWordsPerPage, 0xd44)) << "wrote the file now at that number";
}

// A range is truncated away when the file no longer reaches its end, even though the
// file is still longer than the range's length.
TYPED_TEST(storage_fd_test, TruncationBelowTheRangesEndFailsTheFlush) {
  temp_file f(32 * kPage, 0xf66);
  STORAGE_RUNTIME_OR_SKIP(rt, tracking_mode::automatic, io_engine_factory{}, kPage);
  fd_guard fd(::open(f.path().c_str(), O_RDWR));
  buffer b = rt->map_file(fd.fd, file_access::read_write, 8 * kPage, 8 * kPage);
  b.as<std::uint32_t>()[0] = 0x66;
  f.truncate(12 * kPage);
  try {
    rt->flush(b.data(), b.size());
    FAIL() << "flush of a range the file no longer holds succeeded";
  } catch (const runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  struct stat st {};
  ASSERT_EQ(::stat(f.path().c_str(), &st), 0);
  EXPECT_EQ(static_cast<std::size_t>(st.st_size), 12 * kPage) << "the failed flush grew the file";
  f.truncate(32 * kPage);  // so the free's write-back succeeds
}

struct bad_fd_case {
  const char* name;
  std::function<int(const temp_file&, const temp_file& empty)> open;  ///< a descriptor (closed after)
  file_access mode;
  std::uint64_t offset;
  std::size_t length;
  bool bad_fd;       ///< closed already; system_error(EBADF), else invalid_argument
  const char* says;  ///< in the message
};

TYPED_TEST(storage_fd_test, EachBadInputIsItsError) {
  constexpr std::size_t kFile = 16 * kPage;
  temp_file f(kFile, 0xe55), empty(0, 0);
  STORAGE_RUNTIME_OR_SKIP(rt, tracking_mode::automatic);
  auto rw = [](const temp_file& t, const temp_file&) { return ::open(t.path().c_str(), O_RDWR); };
  auto ro = [](const temp_file& t, const temp_file&) { return ::open(t.path().c_str(), O_RDONLY); };
  const auto ra = file_access::read_only, rwm = file_access::read_write;
  const std::vector<bad_fd_case> cases = {
      {"unaligned offset", rw, ra, 100, 0, false, "not a multiple of 4096"},
      {"offset at the end", rw, ra, kFile, 0, false, "at or past the end"},
      {"offset past the end", rw, ra, kFile + kPage, 0, false, "at or past the end"},
      {"length past the end", rw, ra, kPage, kFile, false, "runs past the end"},
      {"unaligned length inside", rw, ra, 0, kPage + 1, false, "not a multiple of 4096"},
      {"read_write on O_RDONLY", ro, rwm, 0, 0, false, "O_RDONLY"},
      {"O_WRONLY", [](const temp_file& t, const temp_file&) { return ::open(t.path().c_str(), O_WRONLY); }, ra, 0, 0,
       false, "write-only"},
      {"read_write with O_APPEND",
       [](const temp_file& t, const temp_file&) { return ::open(t.path().c_str(), O_RDWR | O_APPEND); }, rwm, 0, 0,
       false, "O_APPEND"},
      {"O_PATH", [](const temp_file& t, const temp_file&) { return ::open(t.path().c_str(), O_PATH); }, ra, 0, 0, false,
       "O_PATH"},
      {"a directory",
       [](const temp_file&, const temp_file&) { return ::open(::testing::TempDir().c_str(), O_RDONLY | O_DIRECTORY); },
       ra, 0, 0, false, "directory"},
      {"a pipe",
       [](const temp_file&, const temp_file&) {
         int p[2];
         if (::pipe(p) != 0) return -1;
         ::close(p[1]);
         return p[0];
       },
       ra, 0, 0, false, "not a regular file"},
      {"an empty file", [](const temp_file&, const temp_file& e) { return ::open(e.path().c_str(), O_RDWR); }, rwm, 0,
       0, false, "empty"},
      {"a closed descriptor",
       [](const temp_file& t, const temp_file&) {
         const int fd = ::open(t.path().c_str(), O_RDONLY);
         ::close(fd);
         return fd;
       },
       ra, 0, 0, true, "not an open file descriptor"},
  };
  for (const bad_fd_case& c : cases) {
    SCOPED_TRACE(c.name);
    const int given = c.open(f, empty);
    ASSERT_TRUE(c.bad_fd || given >= 0) << std::strerror(errno);
    const fd_guard fd(c.bad_fd ? -1 : given);  // a closed number is not ours to close again
    try {
      (void)rt->map_file(given, c.mode, c.offset, c.length);
      ADD_FAILURE() << "mapped";
    } catch (const system_error& e) {
      EXPECT_TRUE(c.bad_fd) << e.what();
      EXPECT_EQ(e.code(), EBADF) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.says), std::string::npos) << e.what();
    } catch (const invalid_argument& e) {
      EXPECT_FALSE(c.bad_fd) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.says), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("fd " + std::to_string(given)), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW((void)rt->map_file(-1, file_access::read_only), system_error);
  // The same descriptors where they fit: read_only on O_RDWR, a whole-page length inside.
  fd_guard fd(::open(f.path().c_str(), O_RDWR));
  buffer b = rt->map_file(fd.fd, file_access::read_only, 4 * kPage, 2 * kPage);
  EXPECT_EQ(b.as<std::uint32_t>()[0], word(4 * kWordsPerPage, 0xe55));
}

}  // namespace
}  // namespace umpager::testing
