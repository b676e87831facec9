#include "sim/sim_segv.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>

namespace umpager::sim::detail {
namespace {

struct watched {
  std::atomic<std::uintptr_t> base{0};
  std::atomic<std::size_t> bytes{0};
};
constexpr std::size_t kSlots = 4096;
watched g_ranges[kSlots];
struct sigaction g_previous {};
std::once_flag g_installed;

/// Appends `text` to `out` (async-signal-safe, bounded).
void put(char* out, std::size_t& n, std::size_t cap, const char* text) {
  while (*text != '\0' && n + 1 < cap) out[n++] = *text++;
}
void put_number(char* out, std::size_t& n, std::size_t cap, std::uintptr_t v, bool hex) {
  char digits[24];
  std::size_t d = 0;
  const unsigned radix = hex ? 16 : 10;
  do {
    digits[d++] = "0123456789abcdef"[v % radix];
    v /= radix;
  } while (v != 0 && d < sizeof digits);
  if (hex) put(out, n, cap, "0x");
  while (d > 0 && n + 1 < cap) out[n++] = digits[--d];
}

void on_segv(int sig, siginfo_t* info, void* context) {
  const auto a = reinterpret_cast<std::uintptr_t>(info->si_addr);
  for (const watched& w : g_ranges) {
    const std::uintptr_t base = w.base.load(std::memory_order_acquire);
    const std::size_t bytes = w.bytes.load(std::memory_order_acquire);
    if (base == 0 || a < base || a - base >= bytes) continue;
    char msg[640];
    std::size_t n = 0;
    put(msg, n, sizeof msg, "umpager (simulated device): a kernel touched device address ");
    put_number(msg, n, sizeof msg, a, true);
    put(msg, n, sizeof msg, ", offset ");
    put_number(msg, n, sizeof msg, a - base, false);
    put(msg, n, sizeof msg, " of an allocation's device range (");
    put_number(msg, n, sizeof msg, base, true);
    put(msg, n, sizeof msg, ", ");
    put_number(msg, n, sizeof msg, bytes >> 20, false);
    put(msg, n, sizeof msg,
        " MiB; the same offset from the allocation's host pointer), where no chunk is resident. A kernel "
        "reaches only what is resident: declare the range it uses (runtime::launch with an access set, "
        "runtime::declare, or launch_n), or prefetch it to the device on the kernel's stream before an "
        "undeclared runtime::launch (docs/api.md).\n");
    (void)!::write(STDERR_FILENO, msg, n);
    break;
  }
  // On to what was there before: a handler of the program's or a sanitizer's, or the
  // default action, for which the faulting access runs again once this returns.
  if ((g_previous.sa_flags & SA_SIGINFO) != 0 && g_previous.sa_sigaction != nullptr) {
    g_previous.sa_sigaction(sig, info, context);
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
  } else {
    ::signal(sig, SIG_DFL);
  }
}

void install() noexcept {
  struct sigaction sa {};
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  (void)::sigaction(SIGSEGV, &sa, &g_previous);
}

}  // namespace

void watch_range(void* base, std::size_t bytes) noexcept {
  std::call_once(g_installed, install);
  for (watched& w : g_ranges) {
    std::uintptr_t expected = 0;
    if (w.base.load(std::memory_order_relaxed) != 0) continue;
    w.bytes.store(0, std::memory_order_relaxed);
    if (w.base.compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(base), std::memory_order_acq_rel)) {
      w.bytes.store(bytes, std::memory_order_release);
      return;
    }
  }
}

void unwatch_range(void* base) noexcept {
  for (watched& w : g_ranges) {
    if (w.base.load(std::memory_order_acquire) != reinterpret_cast<std::uintptr_t>(base)) continue;
    w.bytes.store(0, std::memory_order_release);
    w.base.store(0, std::memory_order_release);
    return;
  }
}

}  // namespace umpager::sim::detail
