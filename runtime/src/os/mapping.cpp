#include "os/mapping.hpp"

#include <sys/mman.h>

#include <cstdint>

#include "umpager/error.hpp"

namespace umpager::os {

mapping& mapping::operator=(mapping&& o) noexcept {
  if (this != &o) {
    reset();
    addr_ = std::exchange(o.addr_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

void mapping::reset() noexcept {
  if (addr_ != nullptr) ::munmap(addr_, bytes_);
  addr_ = nullptr;
  bytes_ = 0;
}

mapping mapping::reserve(std::size_t bytes, std::size_t align) {
  // Over-reserve, then trim both ends so the kept range is aligned.
  const std::size_t span = bytes + align;
  void* p = ::mmap(nullptr, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw system_error(errno, "reserve address space");
  auto base = reinterpret_cast<std::uintptr_t>(p);
  auto aligned = (base + align - 1) & ~(std::uintptr_t{align} - 1);
  if (aligned > base) ::munmap(p, aligned - base);
  const auto end = aligned + bytes;
  if (base + span > end) ::munmap(reinterpret_cast<void*>(end), base + span - end);
  return mapping(reinterpret_cast<void*>(aligned), bytes);
}

mapping mapping::map_shared(int fd, std::size_t bytes, void* addr, bool populate) {
  int flags = MAP_SHARED | (addr != nullptr ? MAP_FIXED : 0) | (populate ? MAP_POPULATE : 0);
  void* p = ::mmap(addr, bytes, PROT_READ | PROT_WRITE, flags, fd, 0);
  if (p == MAP_FAILED) throw system_error(errno, "map shared memory");
  return mapping(p, bytes);
}

}  // namespace umpager::os
