// UMPAGER_STATS=1: the text printed to stderr when a runtime shuts down.
#pragma once

#include <string>

#include "umpager/stats.hpp"

namespace umpager::detail {

/// A few aligned lines: faults by kind, fault wait p50/p99, bytes each way,
/// read-ahead, evictions, poisoned pages, resolver busy time.
[[nodiscard]] std::string stats_summary(const stats& s, const std::string& driver_name, unsigned resolvers);

}  // namespace umpager::detail
