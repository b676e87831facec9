/// @file default_runtime.hpp
/// @brief The process-wide default runtime behind the porting layer (umpager/uvm.h)
/// and umpager::allocator's default.
#pragma once

#include "umpager/runtime.hpp"
#include "umpager/uvm.h"

namespace umpager {

/// The default runtime: created on the first call (from any thread, once) with
/// config::from_env(), shut down when the process exits. Throws what runtime's
/// constructor throws (the next call tries again), and closed_error once the process
/// is exiting. Programs that want a runtime of their own construct umpager::runtime.
[[nodiscard]] runtime& default_runtime();

/// The stream of the default runtime behind a porting-layer stream (0: the default
/// stream), e.g. to run umpager::kernels on it. Throws invalid_argument for a stream
/// umpagerStreamCreate did not return or that was destroyed.
[[nodiscard]] stream_view to_stream_view(umpagerStream_t s);

}  // namespace umpager
