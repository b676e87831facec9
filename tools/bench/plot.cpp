#include "plot.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace umpager::bench {
namespace {

std::string escaped(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

}  // namespace

void write_bar_chart(const std::string& path, const std::string& title, const std::string& unit,
                     const std::vector<bar>& bars) {
  std::vector<bar> shown;
  std::copy_if(bars.begin(), bars.end(), std::back_inserter(shown), [](const bar& b) { return b.value > 0; });
  double top = 0;
  for (const bar& b : shown) top = std::max(top, b.value);
  constexpr int kLabel = 170, kWidth = 460, kRow = 26, kHead = 40;
  const int height = kHead + kRow * static_cast<int>(shown.size()) + 16;
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(kLabel + kWidth + 90) +
                    "\" height=\"" + std::to_string(height) + "\" font-family=\"sans-serif\" font-size=\"13\">\n" +
                    "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"10\" y=\"22\" font-size=\"14\">" +
                    escaped(title) + " (" + escaped(unit) + ")</text>\n";
  for (std::size_t i = 0; i < shown.size(); ++i) {
    const int y = kHead + kRow * static_cast<int>(i);
    const int w = top > 0 ? static_cast<int>(shown[i].value / top * kWidth) : 0;
    char value[32];
    std::snprintf(value, sizeof(value), "%.2f", shown[i].value);
    svg += "<text x=\"" + std::to_string(kLabel - 8) + "\" y=\"" + std::to_string(y + 15) +
           "\" text-anchor=\"end\">" + escaped(shown[i].label) + "</text>\n<rect x=\"" + std::to_string(kLabel) +
           "\" y=\"" + std::to_string(y + 2) + "\" width=\"" + std::to_string(std::max(w, 1)) +
           "\" height=\"18\" fill=\"" + (i == 0 ? "#d95f02" : "#1b9e77") + "\"/>\n<text x=\"" +
           std::to_string(kLabel + std::max(w, 1) + 6) + "\" y=\"" + std::to_string(y + 15) + "\">" + value +
           "</text>\n";
  }
  svg += "</svg>\n";
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw std::runtime_error("--plot: cannot write " + path + ": " + std::strerror(errno));
  const bool ok = std::fwrite(svg.data(), 1, svg.size(), f) == svg.size();
  if (std::fclose(f) != 0 || !ok) throw std::runtime_error("--plot: cannot write " + path);
}

}  // namespace umpager::bench
