#include "os/vma.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <string>

#include "os/fd.hpp"
#include "os/linux_uapi.hpp"

namespace umpager::os {
namespace {

struct file_id {
  std::uint64_t dev_major, dev_minor, inode;
};

/// Adds [s, e) clipped to [lo, hi), merged with the previous range when adjacent.
void add(std::vector<address_range>& out, std::uintptr_t s, std::uintptr_t e, std::uintptr_t lo, std::uintptr_t hi) {
  s = std::max(s, lo);
  e = std::min(e, hi);
  if (s >= e) return;
  if (!out.empty() && out.back().end == s) out.back().end = e;
  else out.push_back({s, e});
}

/// PROCMAP_QUERY walk; false when the kernel lacks it.
bool query_ranges(int maps, const file_id& id, std::uintptr_t base, std::uintptr_t lo, std::uintptr_t hi,
                  std::vector<address_range>& out) {
  for (std::uintptr_t a = lo; a < hi;) {
    procmap_query q{};
    q.size = sizeof q;
    q.query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA;
    q.query_addr = a;
    if (::ioctl(maps, PROCMAP_QUERY, &q) != 0) {
      if (errno == ENOENT) return true;  // no VMA at or after a
      return false;
    }
    if (q.vma_start >= hi) return true;
    if (q.inode == id.inode && q.dev_major == id.dev_major && q.dev_minor == id.dev_minor &&
        q.vma_offset == q.vma_start - base) {
      add(out, q.vma_start, q.vma_end, lo, hi);
    }
    a = q.vma_end;
  }
  return true;
}

/// The same from the text of /proc/self/maps.
bool parse_ranges(int maps, const file_id& id, std::uintptr_t base, std::uintptr_t lo, std::uintptr_t hi,
                  std::vector<address_range>& out) {
  std::string text;
  char buf[16384];
  for (off_t off = 0;;) {
    const ssize_t n = ::pread(maps, buf, sizeof buf, off);
    if (n < 0) return false;
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    off += n;
  }
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    std::uintptr_t s = 0, e = 0;
    unsigned long long offset = 0, inode = 0;
    unsigned maj = 0, min = 0;
    char perms[8];
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR " %7s %llx %x:%x %llu", &s, &e, perms, &offset, &maj, &min,
                    &inode) != 7) {
      continue;
    }
    if (e <= lo || s >= hi) continue;
    if (inode == id.inode && maj == id.dev_major && min == id.dev_minor && offset == s - base) add(out, s, e, lo, hi);
  }
  return true;
}

}  // namespace

std::vector<address_range> file_ranges(int fd, const void* base, std::size_t offset, std::size_t bytes) {
  const auto b = reinterpret_cast<std::uintptr_t>(base);
  const std::uintptr_t lo = b + offset;
  const std::uintptr_t hi = lo + bytes;
  std::vector<address_range> out;
  struct stat st {};
  unique_fd maps(::open("/proc/self/maps", O_RDONLY | O_CLOEXEC));
  if (::fstat(fd, &st) == 0 && maps) {
    const file_id id{major(st.st_dev), minor(st.st_dev), st.st_ino};
    if (query_ranges(maps.get(), id, b, lo, hi, out)) return out;
    out.clear();
    if (parse_ranges(maps.get(), id, b, lo, hi, out)) return out;
  }
  out.assign(1, address_range{lo, hi});
  return out;
}

}  // namespace umpager::os
