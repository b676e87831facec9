#include "storage/spill_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "umpager/error.hpp"

namespace umpager::detail {
namespace {
constexpr std::uint64_t kAlign = std::uint64_t{2} << 20;
}

spill_file::spill_file(const std::string& dir) : dir_(dir) {
  if (dir_.empty()) {
    const char* t = std::getenv("TMPDIR");
    dir_ = t != nullptr && *t != '\0' ? t : "/var/tmp";
  }
  const std::string var = "UMPAGER_SPILL_DIR=" + dir_;
  struct stat st {};
  if (::stat(dir_.c_str(), &st) != 0) throw system_error(errno, var + ": the spill directory cannot be used");
  if (!S_ISDIR(st.st_mode)) throw invalid_argument(var + ": not a directory");
  const int base = O_TMPFILE | O_RDWR | O_CLOEXEC;
  fd_.reset(::open(dir_.c_str(), base | O_DIRECT, 0600));
  direct_ = static_cast<bool>(fd_);
  if (!fd_ && errno == EINVAL) {
    fd_.reset(::open(dir_.c_str(), base, 0600));
    if (fd_) {
      std::fprintf(stderr, "umpager: spill file in %s: this filesystem refuses O_DIRECT; spilled pages go through "
                           "the page cache\n", dir_.c_str());
    }
  }
  if (!fd_) {
    const int e = errno;
    if (e == EACCES || e == EPERM || e == EROFS) throw system_error(e, var + ": the spill directory is not writable");
    if (e == EOPNOTSUPP || e == EISDIR) throw unsupported(var + ": this filesystem has no O_TMPFILE; choose another");
    throw system_error(e, var + ": cannot create the spill file");
  }
}

std::uint64_t spill_file::reserve(std::uint64_t bytes) noexcept {
  return next_.fetch_add((bytes + kAlign - 1) / kAlign * kAlign, std::memory_order_relaxed);
}

void spill_file::release(std::uint64_t base, std::uint64_t bytes) const noexcept {
  (void)::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(base),
                    static_cast<off_t>(bytes));
}

}  // namespace umpager::detail
