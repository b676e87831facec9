#include "storage/storage_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "umpager/error.hpp"

namespace umpager::detail {

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
  struct stat st {};
  UMPAGER_SYSCALL(::fstat(f->fd, &st), "map_file: fstat");
  if (S_ISDIR(st.st_mode)) throw invalid_argument("map_file: " + path + ": is a directory, not a file");
  if (!S_ISREG(st.st_mode)) throw invalid_argument("map_file: " + path + ": not a regular file");
  if (st.st_size == 0) throw invalid_argument("map_file: " + path + ": file is empty");
  f->size = static_cast<std::uint64_t>(st.st_size);
  // Reads and whole-page writes bypass the page cache where allowed; the partial last
  // page is written buffered (O_DIRECT would write it whole, extending the file). A
  // filesystem without O_DIRECT (tmpfs) refuses it: buffered, and dropped after.
  f->keep_cache = keep_cache;
  if (!keep_cache) {
    f->direct.reset(::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_DIRECT | O_CLOEXEC));
    if (!f->direct && errno == EINVAL) {
      std::fprintf(stderr, "umpager: map_file %s: this filesystem refuses O_DIRECT; the file's pages go through the "
                           "page cache and are dropped from it after each transfer\n", path.c_str());
    }
  }
  f->read_fd.store(f->direct ? f->direct.get() : f->fd);
  f->direct_writes.store(writable && f->direct);
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
