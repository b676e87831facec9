// The machine's own limits on the bytes a scan touches, each measured on its
// own fresh memfd with the os/ layer only (no umpager runtime): see docs/bench.md.
#pragma once

#include <cstddef>
#include <optional>

#include "touch.hpp"

namespace umpager::bench {

/// (a) Seconds of one memcpy of `bytes` between two populated, already touched buffers.
[[nodiscard]] double memcpy_seconds(std::size_t bytes);

/// Microseconds the CPU's first read of a page costs through a view it has not touched
/// before, the page already in memory and its PTE populated: on bare metal a TLB fill
/// (well under 1 µs); on a shadow-paging VM (this project's CI) a fill of the
/// hypervisor's tables, ~10 µs. Every page the runtime copies through its alias view
/// for the first time pays it once, and every page re-mapped after a zap pays it again.
[[nodiscard]] double first_touch_us(std::size_t bytes);

struct continue_result {
  double continue_seconds = 0;  ///< (b) UFFDIO_CONTINUE of every block, no faults
  touch_result populated;       ///< (c) the touch pass over the view (b) mapped: no faults
};
/// (b) and (c) on one memfd: populate, register MINOR, CONTINUE every block, then touch.
[[nodiscard]] continue_result continue_then_touch(const touch_plan& plan, access a);

/// (d) The touch pass over a MINOR-registered view with every page absent, served by
/// a minimal resolver (poll, read one message, CONTINUE the faulting block); with
/// `spin` the resolver busy-polls the non-blocking userfaultfd instead of sleeping
/// in poll (a CPU burnt for the lowest latency a resolver can have).
[[nodiscard]] touch_result bare_resolver_pass(const touch_plan& plan, access a, bool spin = false);

/// (e) The write pass over a populated view armed with WP_ASYNC write protection:
/// the kernel's own cost of tracking writes.
[[nodiscard]] touch_result wp_async_floor_pass(const touch_plan& plan);

}  // namespace umpager::bench
