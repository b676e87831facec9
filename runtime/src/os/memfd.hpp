// Sealed, fixed-size memfd: the host copy of a region.
#pragma once

#include <cstddef>

#include "os/fd.hpp"

namespace umpager::os {

/// Creates a close-on-exec memfd of `bytes`, sealed against shrinking and growing.
unique_fd make_memfd(const char* name, std::size_t bytes);

}  // namespace umpager::os
