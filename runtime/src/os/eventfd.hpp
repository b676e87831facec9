// eventfd used to wake resolver threads for shutdown.
#pragma once

#include <sys/eventfd.h>

#include <cstdint>

#include "os/fd.hpp"
#include "umpager/error.hpp"

namespace umpager::os {

class event_fd {
 public:
  event_fd() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (!fd_) throw system_error(errno, "eventfd");
  }
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  void signal() const noexcept {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd_.get(), &one, sizeof(one));
  }

 private:
  unique_fd fd_;
};

}  // namespace umpager::os
