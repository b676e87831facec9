#include "storage/storage_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "umpager/error.hpp"

namespace umpager::detail {
namespace {

/// The size of the regular file open at `fd`; invalid_argument naming `name` otherwise.
std::uint64_t regular_file_size(int fd, const std::string& name) {
  struct stat st {};
  UMPAGER_SYSCALL(::fstat(fd, &st), "map_file: fstat of " + name);
  if (S_ISDIR(st.st_mode)) throw invalid_argument("map_file: " + name + ": is a directory, not a file");
  if (!S_ISREG(st.st_mode)) throw invalid_argument("map_file: " + name + ": not a regular file");
  return static_cast<std::uint64_t>(st.st_size);
}

/// Reads and whole-page writes bypass the page cache where allowed; the partial last
/// page is written buffered (O_DIRECT would write it whole, extending the file). A
/// filesystem without O_DIRECT (tmpfs) refuses it: buffered, and dropped after (said
/// once here). `path` reopens the file (for a caller's descriptor, its /proc/self/fd
/// link: fcntl would turn O_DIRECT on for the caller too).
void open_direct(storage_file& f, const std::string& path, bool keep_cache) {
  f.keep_cache = keep_cache;
  if (!keep_cache) {
    f.direct.reset(::open(path.c_str(), (f.write_back ? O_RDWR : O_RDONLY) | O_DIRECT | O_CLOEXEC));
    if (!f.direct && errno == EINVAL) {
      std::fprintf(stderr, "umpager: map_file %s: this filesystem refuses O_DIRECT; the file's pages go through the "
                           "page cache and are dropped from it after each transfer\n", f.path.c_str());
    }
  }
  f.read_fd.store(f.direct ? f.direct.get() : f.fd);
  f.direct_writes.store(f.write_back && f.direct);
}

}  // namespace

std::unique_ptr<storage_file> open_storage_file(const std::string& path, bool writable, bool keep_cache) {
  UMPAGER_EXPECTS(!path.empty(), "map_file: empty path");
  auto f = std::make_unique<storage_file>();
  f->path = path;
  f->write_back = writable;
  f->owned.reset(::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC));
  f->fd = f->owned.get();
  if (!f->owned) {
    const int e = errno;
    if (e == ENOENT) throw system_error(e, "map_file: " + path);
    if (e == EISDIR) throw invalid_argument("map_file: " + path + ": is a directory, not a file");
    if (e == EACCES || e == EPERM || e == EROFS) {
      throw system_error(e, "map_file: " + path + ": no permission to open it " +
                                (writable ? "for reading and writing (read_only needs only read permission)"
                                          : "for reading"));
    }
    throw system_error(e, "map_file: open " + path);
  }
  f->size = regular_file_size(f->fd, path);
  UMPAGER_EXPECTS(f->size != 0, "map_file: " + path + ": file is empty");
  open_direct(*f, path, keep_cache);
  return f;
}

std::unique_ptr<storage_file> open_storage_fd(int fd, bool writable, std::uint64_t offset, std::size_t length,
                                              bool keep_cache) {
  const std::string name = "fd " + std::to_string(fd);
  const int flags = fd < 0 ? -1 : ::fcntl(fd, F_GETFL);
  if (flags < 0) throw system_error(EBADF, "map_file: " + name + " is not an open file descriptor");
  auto f = std::make_unique<storage_file>();
  // The file's path, where /proc tells it, makes later messages (a failed read, a
  // truncation) say which file; the descriptor alone is what the caller knows.
  char target[4096];
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
  f->path = n > 0 ? name + " (" + std::string(target, static_cast<std::size_t>(n)) + ")" : name;
  const std::string what = "map_file: " + f->path;
  UMPAGER_EXPECTS((flags & O_PATH) == 0, what + ": opened with O_PATH, which cannot read");
  const int acc = flags & O_ACCMODE;
  UMPAGER_EXPECTS(acc != O_WRONLY, what + ": opened write-only (O_WRONLY); map_file reads the file: open it O_RDONLY "
                                          "(read_only) or O_RDWR (read_write)");
  if (writable) {
    UMPAGER_EXPECTS(acc == O_RDWR, what + ": opened read-only (O_RDONLY); read_write needs O_RDWR, or map read_only");
    // pwrite on an O_APPEND descriptor appends, whatever its offset: written pages
    // would land at the end of the file.
    UMPAGER_EXPECTS((flags & O_APPEND) == 0, what + ": opened with O_APPEND, where writes go to the end of the file; "
                                                    "read_write needs a descriptor without it");
  }
  const std::uint64_t file_size = regular_file_size(fd, f->path);
  UMPAGER_EXPECTS(offset % 4096 == 0, what + ": offset " + std::to_string(offset) + " is not a multiple of 4096");
  UMPAGER_EXPECTS(file_size != 0, what + ": file is empty (size it first, with ftruncate)");
  UMPAGER_EXPECTS(offset < file_size, what + ": offset " + std::to_string(offset) + " is at or past the end of the file (" +
                                          std::to_string(file_size) + " bytes)");
  if (length == 0) length = static_cast<std::size_t>(file_size - offset);
  UMPAGER_EXPECTS(length <= file_size - offset, what + ": offset " + std::to_string(offset) + " + length " +
                                                    std::to_string(length) + " runs past the end of the file (" +
                                                    std::to_string(file_size) + " bytes)");
  // A partial last page is allowed only at the end of the file: a whole-page read
  // would otherwise take bytes of the rest of the file into the allocation.
  UMPAGER_EXPECTS(length % 4096 == 0 || offset + length == file_size,
                  what + ": length " + std::to_string(length) +
                      " is not a multiple of 4096 and does not reach the end of the file");
  // Our own descriptor, sharing the caller's open file description: the caller may
  // close theirs. Reads and writes give their offsets, so the shared position is untouched.
  f->owned.reset(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!f->owned) throw system_error(errno, what + ": dup");
  f->fd = f->owned.get();
  f->base = offset;
  f->size = length;
  f->write_back = writable;
  open_direct(*f, "/proc/self/fd/" + std::to_string(f->fd), keep_cache);
  return f;
}

void storage_file::drop_cached(std::uint64_t lo, std::uint64_t hi, bool written) const noexcept {
  if (keep_cache || !fd_buffered || hi <= lo) return;
  const auto off = static_cast<off_t>(lo), len = static_cast<off_t>(hi - lo);
  // Dirty pages are not dropped: write them back first, and wait for it.
  if (written) {
    (void)::sync_file_range(fd, off, len, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
  }
  (void)::posix_fadvise(fd, off, len, POSIX_FADV_DONTNEED);
}

void storage_file::drop_cached(umpager::span<const io_request> reqs, bool written) const noexcept {
  if (keep_cache || !fd_buffered) return;
  std::uint64_t lo = ~std::uint64_t{0}, hi = 0;
  for (const io_request& r : reqs) {
    if (r.fd != fd || r.bytes == 0) continue;
    lo = std::min(lo, r.offset);
    hi = std::max(hi, r.offset + r.bytes);
  }
  drop_cached(lo, hi, written);
}

void write_storage(storage_file& f, io_engine& engine, std::vector<io_request>& reqs) {
  engine.run(reqs);
  std::vector<io_request> again;
  for (io_request& r : reqs) {
    if (r.result != -EINVAL || r.fd == f.fd) continue;
    f.direct_writes.store(false, std::memory_order_relaxed);
    again.push_back(r);
    again.back().fd = f.fd;
    again.back().result = 0;
  }
  if (!again.empty()) {
    engine.run(again);
    for (io_request& r : reqs) {
      if (r.result != -EINVAL || r.fd == f.fd) continue;
      const auto it = std::find_if(again.begin(), again.end(), [&](const io_request& a) { return a.offset == r.offset; });
      r.fd = f.fd;
      r.result = it->result;
    }
  }
  f.drop_cached(reqs, true);
}

std::string storage_read_error(const storage_file& f, std::uint64_t offset, std::size_t bytes, long result) {
  struct stat st {};
  const bool shorter = ::fstat(f.fd, &st) == 0 && static_cast<std::uint64_t>(st.st_size) < offset + bytes;
  if (shorter) {
    return f.path + " was truncated while mapped (now " + std::to_string(st.st_size) + " bytes, " +
           std::to_string(offset + bytes) + " needed)";
  }
  // A read never runs out of space: ENOSPC/ENOMEM are host memory (the memfd a read is
  // spliced into, its tmpfs or memory cgroup limit) refusing the page.
  const char* side = result == -ENOSPC || result == -ENOMEM ? " (host memory could not take the page)" : "";
  if (result < 0) {
    return "read of " + f.path + " at " + std::to_string(offset) + " failed: " + std::strerror(static_cast<int>(-result)) +
           side;
  }
  return "short read of " + f.path + " at " + std::to_string(offset) + ": " + std::to_string(result) + " of " +
         std::to_string(bytes) + " bytes";
}

}  // namespace umpager::detail
