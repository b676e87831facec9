// The C API's config struct <-> umpager::config; every field both ways (config_test
// walks every UMPAGER_* variable through umpager_config_from_env and back).
#pragma once

#include "umpager/config.hpp"
#include "umpager/umpager.h"

namespace umpager::detail {

/// What umpager_runtime_create builds from `c`; invalid_argument for a bad enum or cpuset.
config from_c(const umpager_config& c);
/// What umpager_config_from_env returns; invalid_argument if the cpuset does not fit.
umpager_config to_c(const config& c);

}  // namespace umpager::detail
