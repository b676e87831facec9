// Conversions between umpager::config / umpager::stats and Python dicts.
#pragma once

#include "common.hpp"

namespace umpager::python {

/// UMPAGER_* variables, overridden by the keywords (field names of umpager::config).
config config_from(const py::kwargs& kw);
py::dict config_dict(const config& c);
py::dict stats_dict(const stats& s);

}  // namespace umpager::python
