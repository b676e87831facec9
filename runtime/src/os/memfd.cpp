#include "os/memfd.hpp"

#include <fcntl.h>
#include <sys/mman.h>

#include "umpager/error.hpp"

namespace umpager::os {

unique_fd make_memfd(const char* name, std::size_t bytes) {
  unique_fd fd(::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) throw system_error(errno, "memfd_create");
  UMPAGER_SYSCALL(::ftruncate(fd.get(), static_cast<off_t>(bytes)), "ftruncate memfd");
  // A shrink would turn the user view into SIGBUS; a grow is never needed.
  UMPAGER_SYSCALL(::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
                  "seal memfd");
  return fd;
}

}  // namespace umpager::os
