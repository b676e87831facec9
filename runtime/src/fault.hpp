// One fault message, reduced to what the resolver needs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace umpager::detail {

struct fault {
  std::size_t page;  ///< page index in the region
  bool write;        ///< the access was a write
  bool wp;           ///< a write-protect fault (sync tracking), not a missing page
  std::uint32_t tid; ///< the faulting thread (UFFD_FEATURE_THREAD_ID), for the last-resort SIGBUS
};

}  // namespace umpager::detail
