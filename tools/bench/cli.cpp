// Shared option parsing and JSON helpers (cli.hpp).
#include "cli.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <exception>

#include "umpager/config.hpp"
#include "umpager/error.hpp"

namespace umpager::bench::cli {

void usage_error(const std::string& msg, const char* command) {
  std::fprintf(stderr, "umpager-bench: %s\n(umpager-bench %s --help lists the options)\n", msg.c_str(), command);
  std::exit(2);
}

std::size_t parse_size(const std::string& text, const char* what, const char* command) {
  try {
    return umpager::parse_size(text, what);
  } catch (const umpager::invalid_argument& e) {
    usage_error(e.what(), command);
  }
}

unsigned long long parse_count(const std::string& text, const char* what, const char* command) {
  std::size_t pos = 0;
  unsigned long long n = 0;
  try {
    n = std::stoull(text, &pos, 10);
  } catch (const std::exception&) {
    pos = 0;
  }
  if (text.empty() || pos != text.size() || !std::isdigit(static_cast<unsigned char>(text[0]))) {
    usage_error(std::string(what) + ": '" + text + "' is not a non-negative integer", command);
  }
  return n;
}

std::vector<option> read_options(std::span<char*> args, std::span<const std::string_view> flags,
                                 std::span<const std::string_view> valued, const char* command) {
  const auto in = [](std::span<const std::string_view> names, const std::string& k) {
    return std::find(names.begin(), names.end(), k) != names.end();
  };
  std::vector<option> out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    option o{args[i], ""};
    bool has_value = false;
    if (auto eq = o.key.find('='); o.key.rfind("--", 0) == 0 && eq != std::string::npos) {
      o.value = o.key.substr(eq + 1);
      o.key.resize(eq);
      has_value = true;
    }
    if (o.key == "-h") o.key = "--help";
    if (o.key == "--help" || in(flags, o.key)) {
      if (has_value) usage_error(o.key + " takes no value", command);
    } else if (!in(valued, o.key)) {
      usage_error("unknown option '" + o.key + "'", command);
    } else if (!has_value) {
      if (i + 1 >= args.size()) usage_error(o.key + " needs a value", command);
      o.value = args[++i];
    }
    out.push_back(std::move(o));
  }
  return out;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[16];
      std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string json_number(std::optional<double> v) {
  if (!v || !std::isfinite(*v)) return "null";
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.6g", *v);
  return buf;
}

}  // namespace umpager::bench::cli
