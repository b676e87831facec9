// Catches SIGBUS/SIGSEGV raised by one touch of memory, in-process, so a test can
// assert which page failed (si_addr) and go on.
#pragma once

#include <setjmp.h>
#include <signal.h>

#include <cstdint>

namespace umpager::testing {

struct touch_result {
  int signal = 0;           ///< 0 when the touch succeeded
  void* fault_addr = nullptr;
  std::uint32_t value = 0;  ///< what a successful read returned
};

namespace detail {
inline thread_local sigjmp_buf* jump_target = nullptr;
inline thread_local touch_result* current = nullptr;

inline void on_signal(int sig, siginfo_t* info, void*) {
  if (jump_target == nullptr) {
    ::signal(sig, SIG_DFL);
    ::raise(sig);
    return;
  }
  current->signal = sig;
  current->fault_addr = info->si_addr;
  siglongjmp(*jump_target, 1);
}
}  // namespace detail

/// Reads one word; a SIGBUS or SIGSEGV is reported instead of killing the process.
inline touch_result guarded_read(const volatile std::uint32_t* p) {
  touch_result r;
  struct sigaction sa {}, old_bus{}, old_segv{};
  sa.sa_sigaction = detail::on_signal;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGBUS, &sa, &old_bus);
  ::sigaction(SIGSEGV, &sa, &old_segv);
  sigjmp_buf env;
  detail::current = &r;
  detail::jump_target = &env;
  if (sigsetjmp(env, 1) == 0) r.value = *p;
  detail::jump_target = nullptr;
  ::sigaction(SIGBUS, &old_bus, nullptr);
  ::sigaction(SIGSEGV, &old_segv, nullptr);
  return r;
}

}  // namespace umpager::testing
