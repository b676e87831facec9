// What a kernel touches (launch declarations) and the CUDA-shaped hints: stream
// attachment and memory advice.
#pragma once

#include <cstddef>

namespace umpager {

enum class access_mode { read, write, read_write };

/// How a declared range is reached by the kernel. `resident`: made resident on the
/// device first (raw device pointers work). `reachable`: reached where it is, through
/// an accessor (device_span.hpp): chunks resident on the device in device memory, the
/// others in host memory, zero-copy; nothing is evicted for it, so a set larger than
/// the device budget runs (docs/api.md "Reaching memory that is not resident").
enum class access_kind { resident, reachable };

/// One range a kernel reads and/or writes: host (user-view) pointers into an allocation.
struct access {
  const void* ptr;
  std::size_t bytes;
  access_mode mode;
  access_kind kind = access_kind::resident;
};

/// cudaMemAttachGlobal / cudaMemAttachHost / cudaMemAttachSingle (see runtime::attach).
enum class attach_to { global, host, single };

/// cudaMemAdvise's advice (see runtime::advise).
enum class advice {
  set_read_mostly,
  unset_read_mostly,
  set_preferred_location,
  unset_preferred_location,
  set_accessed_by,
  unset_accessed_by
};

}  // namespace umpager
