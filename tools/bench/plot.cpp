// SVG line charts (see plot.hpp). Plain text output, no dependency.
#include "plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace umpager::bench {
namespace {

constexpr int kPanelW = 420, kPanelH = 260, kMarginL = 70, kMarginR = 20, kMarginT = 34, kMarginB = 44;
constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                   "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

std::string fmt(double v) {
  char buf[32];
  if (v != 0 && (std::fabs(v) >= 1e4 || std::fabs(v) < 1e-2)) {
    std::snprintf(buf, sizeof(buf), "%.1e", v);
  } else {
    std::snprintf(buf, sizeof(buf), "%.3g", v);
  }
  return buf;
}

void draw_panel(std::ostringstream& o, const panel& p, int x0, int y0, std::map<std::string, std::string>& color) {
  double xmin = 1e300, xmax = -1e300, ymax = 0;
  for (const series& s : p.lines) {
    for (auto [x, y] : s.points) {
      xmin = std::min(xmin, x);
      xmax = std::max(xmax, x);
      ymax = std::max(ymax, y);
    }
  }
  if (xmin > xmax) xmin = 0, xmax = 1;
  if (xmax == xmin) xmax = xmin + 1;
  if (ymax <= 0) ymax = 1;
  ymax *= 1.08;
  const int w = kPanelW - kMarginL - kMarginR, h = kPanelH - kMarginT - kMarginB;
  const auto px = [&](double x) { return x0 + kMarginL + (x - xmin) / (xmax - xmin) * w; };
  const auto py = [&](double y) { return y0 + kMarginT + h - y / ymax * h; };
  o << "<text x='" << x0 + kPanelW / 2 << "' y='" << y0 + 18 << "' text-anchor='middle' font-weight='bold'>"
    << escape(p.title) << "</text>\n";
  o << "<rect x='" << x0 + kMarginL << "' y='" << y0 + kMarginT << "' width='" << w << "' height='" << h
    << "' fill='none' stroke='#888'/>\n";
  for (int i = 0; i <= 4; ++i) {
    const double y = ymax * i / 4;
    o << "<line x1='" << x0 + kMarginL << "' x2='" << x0 + kMarginL + w << "' y1='" << py(y) << "' y2='" << py(y)
      << "' stroke='#eee'/>\n";
    o << "<text x='" << x0 + kMarginL - 4 << "' y='" << py(y) + 4 << "' text-anchor='end' font-size='10'>" << fmt(y)
      << "</text>\n";
  }
  std::vector<double> xs;
  for (const series& s : p.lines) {
    for (auto pt : s.points) xs.push_back(pt.first);
  }
  std::sort(xs.begin(), xs.end());
  xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
  for (double x : xs) {
    o << "<text x='" << px(x) << "' y='" << y0 + kMarginT + h + 14 << "' text-anchor='middle' font-size='10'>"
      << fmt(x) << "</text>\n";
  }
  o << "<text x='" << x0 + kMarginL + w / 2 << "' y='" << y0 + kPanelH - 8
    << "' text-anchor='middle' font-size='11'>data / device budget (%)</text>\n";
  o << "<text transform='translate(" << x0 + 14 << "," << y0 + kMarginT + h / 2
    << ") rotate(-90)' text-anchor='middle' font-size='11'>" << escape(p.y_label) << "</text>\n";
  for (const series& s : p.lines) {
    if (s.points.empty()) continue;
    auto [it, added] = color.try_emplace(s.name, kColors[color.size() % std::size(kColors)]);
    o << "<polyline fill='none' stroke='" << it->second << "' stroke-width='1.8'"
      << (s.dashed ? " stroke-dasharray='5,3'" : "") << " points='";
    for (auto [x, y] : s.points) o << px(x) << "," << py(y) << " ";
    o << "'/>\n";
    for (auto [x, y] : s.points) {
      o << "<circle cx='" << px(x) << "' cy='" << py(y) << "' r='2.5' fill='" << it->second << "'/>\n";
    }
  }
}

}  // namespace

void write_svg(const std::string& path, const std::string& title, const std::vector<panel>& panels, int columns) {
  columns = std::max(1, columns);
  const int rows = static_cast<int>((panels.size() + columns - 1) / columns);
  std::map<std::string, std::string> color;  // one color per series name across panels
  std::ostringstream body;
  for (std::size_t i = 0; i < panels.size(); ++i) {
    draw_panel(body, panels[i], static_cast<int>(i % columns) * kPanelW, 40 + static_cast<int>(i / columns) * kPanelH,
               color);
  }
  const int width = columns * kPanelW, legend_y = 40 + rows * kPanelH + 10;
  std::ostringstream legend;
  int lx = 20;
  for (const auto& [name, c] : color) {
    legend << "<line x1='" << lx << "' x2='" << lx + 24 << "' y1='" << legend_y << "' y2='" << legend_y
           << "' stroke='" << c << "' stroke-width='2'/>";
    legend << "<text x='" << lx + 30 << "' y='" << legend_y + 4 << "' font-size='12'>" << escape(name) << "</text>\n";
    lx += 40 + 8 * static_cast<int>(name.size());
  }
  std::ofstream f(path);
  if (!f) throw std::runtime_error("cannot write " + path);
  f << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << legend_y + 24
    << "' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' fill='white'/>\n"
    << "<text x='" << width / 2 << "' y='24' text-anchor='middle' font-size='15' font-weight='bold'>" << escape(title)
    << "</text>\n"
    << body.str() << legend.str() << "</svg>\n";
  if (!f.flush()) throw std::runtime_error("cannot write " + path);
}

}  // namespace umpager::bench
