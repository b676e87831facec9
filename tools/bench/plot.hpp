// A bar chart as a standalone SVG file: umpager-bench --plot, no plotting package needed.
#pragma once

#include <string>
#include <vector>

namespace umpager::bench {

struct bar {
  std::string label;
  double value;  ///< bars with value <= 0 (not measured) are left out
};

/// Writes a horizontal bar chart of `bars` to `path`, one bar per row with its value;
/// throws std::runtime_error naming the path when it cannot be written.
void write_bar_chart(const std::string& path, const std::string& title, const std::string& unit,
                     const std::vector<bar>& bars);

}  // namespace umpager::bench
