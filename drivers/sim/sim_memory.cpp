#include "sim/sim_memory.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "umpager/error.hpp"

namespace umpager::sim::detail {
namespace {

std::string describe(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

std::uintptr_t address(const void* p) noexcept { return reinterpret_cast<std::uintptr_t>(p); }

}  // namespace

device_memory::device_memory(std::size_t memory_bytes, std::size_t chunk_bytes)
    : chunk_bytes_(chunk_bytes) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  UMPAGER_EXPECTS(chunk_bytes >= page && (chunk_bytes & (chunk_bytes - 1)) == 0,
                  "sim: chunk_bytes must be a power of two of at least one page, got " +
                      std::to_string(chunk_bytes));
  const std::size_t count = memory_bytes / chunk_bytes;
  UMPAGER_EXPECTS(count >= 1, "sim: memory_bytes (" + std::to_string(memory_bytes) +
                                  ") is smaller than one chunk (" + std::to_string(chunk_bytes) + ")");
  UMPAGER_EXPECTS(count < no_slot, "sim: memory_bytes is too large");
  // Address space only: a slot's pages are allocated by its first create_chunk.
  parking_ = os::mapping::reserve(count * chunk_bytes, chunk_bytes);
  slots_.resize(count);
  free_.reserve(count);  // never reallocates later, so free_slot cannot throw
  for (std::size_t i = count; i-- > 0;) free_.push_back(static_cast<std::uint32_t>(i));
}

void* device_memory::reserve(std::size_t bytes) {
  UMPAGER_EXPECTS(bytes > 0 && bytes % chunk_bytes_ == 0,
                  "reserve: bytes (" + std::to_string(bytes) + ") must be a non-zero multiple of chunk_bytes (" +
                      std::to_string(chunk_bytes_) + ")");
  UMPAGER_EXPECTS(bytes <= (std::size_t{1} << 47), "reserve: " + std::to_string(bytes) +
                                                       " bytes exceed the address space");
  auto range = os::mapping::reserve(bytes, chunk_bytes_);
  void* base = range.data();
  std::lock_guard lk(mutex_);
  reservations_.emplace(address(base), reservation{std::move(range), std::vector<va_chunk>(bytes / chunk_bytes_)});
  return base;
}

void device_memory::release(void* base, std::size_t /*bytes*/) noexcept {
  std::unique_lock lk(mutex_);
  auto it = reservations_.end();
  for (;;) {  // wait out mmaps in flight inside the range before unmapping it
    it = reservations_.find(address(base));
    if (it == reservations_.end()) return;
    bool busy = false;
    for (const va_chunk& e : it->second.chunks) busy = busy || e.busy;
    if (!busy) break;
    settled_.wait(lk);
  }
  for (va_chunk& e : it->second.chunks) {
    if (e.slot == no_slot) continue;
    slot& s = slots_[e.slot];
    // The munmap below would free the chunk's pages with the range: park them
    // (a chunk outlives its mappings, as with cuMemRelease), or drop them if refused.
    if (::mprotect(s.mapped_at, chunk_bytes_, PROT_NONE) != 0 || !move(s.mapped_at, park(e.slot)))
      s.allocated = false;
    s.mapped_at = nullptr;
    if (s.destroyed) free_slot(e.slot);
  }
  auto node = reservations_.extract(it);
  lk.unlock();
  // `node` goes out of scope here: one munmap drops the reservation and its chunk mappings.
}

chunk_handle device_memory::create_chunk() {
  std::unique_lock lk(mutex_);
  if (free_.empty())
    throw out_of_memory("sim: device out of memory: all " + std::to_string(slots_.size()) + " chunks of " +
                        std::to_string(chunk_bytes_) + " bytes (memory_bytes = " +
                        std::to_string(memory_bytes()) + ") are in use");
  const std::uint32_t index = free_.back();
  free_.pop_back();
  slot& s = slots_[index];
  s.in_use = true;
  const chunk_handle h{(std::uint64_t{s.generation} << 32) | index};
  if (s.allocated) return h;
  lk.unlock();
  // Allocate the slot's pages once, outside the lock, so no later copy or kernel
  // page-faults on the device memory. Anonymous memory, not shmem: a machine
  // with transparent huge pages backs a chunk with one 2 MiB page, so the first
  // touch of a chunk costs one page-table fill, not 512 (docs/architecture.md).
  std::byte* at = park(index);
  int err = 0;
  if (::mmap(at, chunk_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1,
             0) == MAP_FAILED) {
    err = errno;
  } else {
    (void)::madvise(at, chunk_bytes_, MADV_HUGEPAGE);  // advice: EINVAL without THP support is fine
    // Device memory is the device's: a forked child neither shares nor copies it.
    if (::madvise(at, chunk_bytes_, MADV_DONTFORK) != 0 || ::madvise(at, chunk_bytes_, MADV_POPULATE_WRITE) != 0 ||
        ::mprotect(at, chunk_bytes_, PROT_NONE) != 0) {
      err = errno;
    }
  }
  if (err != 0) guard(at);  // give the pages back; the slot stays unallocated
  lk.lock();
  if (err == 0) {
    s.allocated = true;
    return h;
  }
  s.in_use = false;
  free_.push_back(index);
  if (err == ENOSPC || err == ENOMEM)
    throw out_of_memory("sim: cannot allocate the pages of a device chunk: " + std::string(std::strerror(err)));
  throw system_error(err, "sim: allocate device chunk");
}

void device_memory::destroy_chunk(chunk_handle chunk) noexcept {
  std::lock_guard lk(mutex_);
  slot* s = lookup(chunk);
  if (s == nullptr) return;
  ++s->generation;
  if (s->mapped_at != nullptr)
    s->destroyed = true;  // like cuMemRelease: the memory lives until it is unmapped
  else
    free_slot(static_cast<std::uint32_t>(chunk.id));
}

void device_memory::map_chunk(void* va, chunk_handle chunk) {
  UMPAGER_EXPECTS(va != nullptr, "map_chunk: null va");
  UMPAGER_EXPECTS(address(va) % chunk_bytes_ == 0, "map_chunk: va " + describe(va) + " is not chunk-aligned");
  std::unique_lock lk(mutex_);
  va_chunk* e = settled_entry(lk, va);
  UMPAGER_EXPECTS(e != nullptr, "map_chunk: va " + describe(va) + " is not inside a reserved device range");
  UMPAGER_EXPECTS(e->slot == no_slot, "map_chunk: va " + describe(va) + " is already mapped");
  slot* s = lookup(chunk);
  UMPAGER_EXPECTS(s != nullptr, "map_chunk: invalid or destroyed chunk handle " + std::to_string(chunk.id));
  UMPAGER_EXPECTS(s->mapped_at == nullptr, "map_chunk: chunk is already mapped at " + describe(s->mapped_at));
  const auto index = static_cast<std::uint32_t>(chunk.id);
  // Claim both sides, then move the pages outside the lock: the system calls
  // must not stall every copy_async check and every other map.
  e->slot = index;
  e->busy = true;
  s->mapped_at = va;
  lk.unlock();
  bool ok = move(park(index), va);
  int err = errno;
  bool lost = false;
  if (ok && ::mprotect(va, chunk_bytes_, PROT_READ | PROT_WRITE) != 0) {
    err = errno;
    ok = false;
    lost = !move(va, park(index));  // if refused, its pages go with the guard below
  }
  if (!ok) guard(va);  // a failed move may have left a hole
  lk.lock();
  e->busy = false;
  settled_.notify_all();
  if (ok) return;
  if (lost) s->allocated = false;
  e->slot = no_slot;
  s->mapped_at = nullptr;
  if (s->destroyed) free_slot(index);
  throw system_error(err, "map_chunk: moving the chunk to " + describe(va));
}

void device_memory::unmap_chunk(void* va) noexcept {
  if (va == nullptr || address(va) % chunk_bytes_ != 0) return;
  std::unique_lock lk(mutex_);
  va_chunk* e = settled_entry(lk, va);
  if (e == nullptr || e->slot == no_slot) return;
  e->busy = true;
  const std::uint32_t index = e->slot;
  lk.unlock();
  // Inaccessible first: from here a device access is a SIGSEGV, never a read of
  // pages on their way out. Then the pages go back to their parking place; if
  // the kernel refuses, they are dropped (the slot is populated again on reuse).
  bool unmapped = ::mprotect(va, chunk_bytes_, PROT_NONE) == 0;
  const bool kept = unmapped && move(va, park(index));
  // The guard replaces what the move left (or the pages, if it failed) with memory
  // like the reservation's, which the kernel merges into one VMA with its neighbours.
  if (unmapped) unmapped = guard(va) != nullptr || kept;
  lk.lock();
  e->busy = false;
  settled_.notify_all();
  if (!unmapped) return;  // still mapped (no memory to split the VMA): keep the books true
  e->slot = no_slot;
  slot& s = slots_[index];
  s.mapped_at = nullptr;
  if (!kept) s.allocated = false;
  if (s.destroyed) free_slot(index);
}

bool device_memory::holds(const void* p, std::size_t bytes) const {
  std::lock_guard lk(mutex_);
  return mapped(p, bytes);
}

void device_memory::check_copy(umpager::span<const copy_op> ops, copy_direction dir) const {
  std::lock_guard lk(mutex_);
  for (const copy_op& o : ops) {
    if (o.bytes == 0) continue;
    UMPAGER_EXPECTS(o.dst != nullptr && o.src != nullptr, "copy_async: null pointer in a copy op");
    if (dir != copy_direction::device_to_host)
      UMPAGER_EXPECTS(mapped(o.dst, o.bytes), "copy_async: device destination " + describe(o.dst) + " (+" +
                                                  std::to_string(o.bytes) + " bytes) is not mapped device memory");
    if (dir != copy_direction::host_to_device)
      UMPAGER_EXPECTS(mapped(o.src, o.bytes), "copy_async: device source " + describe(o.src) + " (+" +
                                                  std::to_string(o.bytes) + " bytes) is not mapped device memory");
  }
}

device_memory::va_chunk* device_memory::settled_entry(std::unique_lock<std::mutex>& lk, const void* va) {
  for (;;) {
    const reservation* r = find(va);
    if (r == nullptr) return nullptr;
    // const_cast: find() is shared with the const check_copy path; we hold the lock.
    auto& e = const_cast<va_chunk&>(r->chunks[(address(va) - address(r->range.data())) / chunk_bytes_]);
    if (!e.busy) return &e;
    settled_.wait(lk);  // `r` may be released meanwhile: look it up again
  }
}

const device_memory::reservation* device_memory::find(const void* p) const noexcept {
  auto it = reservations_.upper_bound(address(p));
  if (it == reservations_.begin()) return nullptr;
  --it;
  if (address(p) - it->first >= it->second.range.size()) return nullptr;
  return &it->second;
}

bool device_memory::mapped(const void* p, std::size_t bytes) const noexcept {
  const reservation* r = find(p);
  if (r == nullptr) return false;
  const std::uintptr_t off = address(p) - address(r->range.data());
  if (bytes > r->range.size() - off) return false;
  for (std::size_t i = off / chunk_bytes_; i <= (off + bytes - 1) / chunk_bytes_; ++i)
    if (r->chunks[i].slot == no_slot || r->chunks[i].busy) return false;
  return true;
}

device_memory::slot* device_memory::lookup(chunk_handle chunk) noexcept {
  if (!chunk.valid()) return nullptr;
  const auto index = static_cast<std::uint32_t>(chunk.id);
  if (index >= slots_.size()) return nullptr;
  slot& s = slots_[index];
  if (!s.in_use || s.destroyed || s.generation != static_cast<std::uint32_t>(chunk.id >> 32)) return nullptr;
  return &s;
}

void device_memory::free_slot(std::uint32_t index) noexcept {
  slots_[index].in_use = false;
  slots_[index].destroyed = false;
  free_.push_back(index);
}

std::byte* device_memory::park(std::uint32_t index) const noexcept {
  return parking_.data() + std::size_t{index} * chunk_bytes_;
}

bool device_memory::move(void* from, void* to) noexcept {
  // DONTUNMAP leaves `from` mapped (PROT_NONE, empty), so no other mmap in the
  // process can take the hole before it is used again; with huge pages the
  // kernel moves page-table entries per 2 MiB, the pages themselves never.
  return ::mremap(from, chunk_bytes_, chunk_bytes_, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, to) != MAP_FAILED;
}

void* device_memory::guard(void* va) noexcept {
  // Inaccessible anonymous memory, like the reservation itself: a device access
  // here is a SIGSEGV, the simulator's illegal-address error.
  void* p = ::mmap(va, chunk_bytes_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

}  // namespace umpager::sim::detail
