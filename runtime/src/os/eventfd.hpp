// eventfd used to wake resolver threads: for shutdown (a level that stays set) and,
// in semaphore mode, one wake-up per queued read-ahead item.
#pragma once

#include <sys/eventfd.h>

#include <cstdint>

#include "os/fd.hpp"
#include "umpager/error.hpp"

namespace umpager::os {

class event_fd {
 public:
  explicit event_fd(bool semaphore = false)
      : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | (semaphore ? EFD_SEMAPHORE : 0))) {
    if (!fd_) throw system_error(errno, "eventfd");
  }
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  void signal() const noexcept {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd_.get(), &one, sizeof(one));
  }
  /// Takes one count (semaphore mode); false when there was none (another thread took it).
  bool consume() const noexcept {
    std::uint64_t v = 0;
    return ::read(fd_.get(), &v, sizeof(v)) == static_cast<ssize_t>(sizeof(v));
  }

 private:
  unique_fd fd_;
};

}  // namespace umpager::os
