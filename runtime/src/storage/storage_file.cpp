#include "storage/storage_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "umpager/error.hpp"

namespace umpager::detail {

std::unique_ptr<storage_file> open_storage_file(const std::string& path, bool writable) {
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
  // Reads bypass the page cache where allowed (a filesystem without O_DIRECT, such as
  // tmpfs, refuses it: buffered reads then). Writes stay buffered: a partial last page
  // written with O_DIRECT would extend the file.
  f->direct.reset(::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC));
  f->read_fd.store(f->direct ? f->direct.get() : f->fd);
  return f;
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
