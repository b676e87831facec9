// The UMPAGER_* variables as one table: config::from_env applies it, and the tests
// walk it (every variable must survive the C API's config round trip).
#pragma once

#include <span>

#include "umpager/config.hpp"

namespace umpager::detail {

struct env_variable {
  const char* name;
  const char* sample;  ///< a valid value that differs from the default (for tests)
  void (*apply)(config& c, const char* value);  ///< parses `value` into `c`; invalid_argument naming the variable
};

[[nodiscard]] std::span<const env_variable> env_variables() noexcept;

}  // namespace umpager::detail
