// A small SVG line chart writer for umpager-bench oversub: one panel per
// (workload, quantity), x = ratio, one polyline per series (policy, MIN, UVM).
#pragma once

#include <string>
#include <vector>

namespace umpager::bench {

struct series {
  std::string name;
  std::vector<std::pair<double, double>> points;  ///< (x, y), x ascending
  bool dashed = false;
};

struct panel {
  std::string title;
  std::string y_label;
  std::vector<series> lines;
};

/// Writes the panels as a grid of `columns` to `path` (x axis: "data / device budget %").
/// Throws umpager::system_error-like runtime_error when the file cannot be written.
void write_svg(const std::string& path, const std::string& title, const std::vector<panel>& panels, int columns);

}  // namespace umpager::bench
