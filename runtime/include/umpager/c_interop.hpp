// The C API's handles seen from C++: a C program keeps its kernels in a C++ (or
// CUDA) file, which reaches the runtime and the streams the C calls created.
// samples/vector_add.c with samples/vector_add_kernel.cpp shows the pattern.
#pragma once

#include "umpager/runtime.hpp"
#include "umpager/stream.hpp"
#include "umpager/umpager.h"

namespace umpager {

/// The runtime behind `rt`. Throws invalid_argument for a null or invalid handle,
/// closed_error once umpager_runtime_shutdown was called.
[[nodiscard]] runtime& from_c(umpager_runtime* rt);
/// The stream behind `s` (from umpager_stream_create). Throws like the above.
[[nodiscard]] stream_view from_c(umpager_stream* s);

}  // namespace umpager
