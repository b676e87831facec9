// A clear word before the crash: a kernel on the simulated device that touches a
// reserved device range where no chunk is mapped (a range neither declared nor
// prefetched) gets SIGSEGV, as an illegal address on a GPU. The handler installed
// here says which range, which offset and what to do, then hands the signal on to
// the disposition it replaced, so the process ends as it would have.
#pragma once

#include <cstddef>

namespace umpager::sim::detail {

/// Starts naming faults inside [base, base + bytes) (installs the handler on first use).
/// Ranges past a fixed table's size are not named; nothing else changes for them.
void watch_range(void* base, std::size_t bytes) noexcept;
/// Stops naming faults in the range `base` started.
void unwatch_range(void* base) noexcept;

}  // namespace umpager::sim::detail
