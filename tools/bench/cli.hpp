// Option parsing and output helpers shared by umpager-bench's commands.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <span>
#include <vector>
#include <string>
#include <string_view>
#include <utility>

namespace umpager::bench::cli {

/// Prints "umpager-bench: msg" and where the options are listed, then exits 2.
[[noreturn]] void usage_error(const std::string& msg, const char* command);

/// umpager::parse_size (the spellings UMPAGER_* accepts); a bad value is a usage error.
std::size_t parse_size(const std::string& text, const char* what, const char* command);

/// A decimal non-negative integer; anything else is a usage error.
unsigned long long parse_count(const std::string& text, const char* what, const char* command);

template <class E>
E parse_enum(const std::string& text, const char* what, std::initializer_list<std::pair<std::string_view, E>> choices,
             const char* command) {
  std::string names;
  for (auto& [name, value] : choices) {
    if (text == name) return value;
    names += (names.empty() ? "" : " | ") + std::string(name);
  }
  usage_error(std::string(what) + ": '" + text + "' is not one of " + names, command);
}

/// One command-line option: "--key value", "--key=value", or a flag "--key" (value empty).
struct option {
  std::string key, value;
};

/// Splits `args` into options: `flags` take no value, `valued` need one; "--help"
/// and "-h" come back as "--help". An unknown option, a flag given a value or a
/// missing value is a usage error of `command`.
std::vector<option> read_options(std::span<char*> args, std::span<const std::string_view> flags,
                                 std::span<const std::string_view> valued, const char* command);

/// A JSON string literal.
std::string json_string(const std::string& s);

/// A JSON number ("%.6g"), or null when absent or not finite.
std::string json_number(std::optional<double> v);

}  // namespace umpager::bench::cli
