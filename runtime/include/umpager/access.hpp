// What a kernel touches (launch declarations) and the CUDA-shaped hints: stream
// attachment and memory advice.
#pragma once

#include <cstddef>

namespace umpager {

enum class access_mode { read, write, read_write };

/// One range a kernel reads and/or writes: host (user-view) pointers into an allocation.
struct access {
  const void* ptr;
  std::size_t bytes;
  access_mode mode;
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
