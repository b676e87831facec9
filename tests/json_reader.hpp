// A small strict JSON reader for tests that check files the runtime writes
// (the UMPAGER_TRACE file): objects, arrays, strings (simple escapes), numbers,
// true/false/null. Throws std::runtime_error with the offset of the first error.
#pragma once

#include <cctype>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace umpager::testing {

struct json {
  enum class kind { null, boolean, number, string, array, object } type = kind::null;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<json> items;
  std::map<std::string, json> fields;

  [[nodiscard]] bool has(const std::string& k) const { return fields.count(k) != 0; }
  [[nodiscard]] const json& at(const std::string& k) const {
    auto it = fields.find(k);
    if (it == fields.end()) throw std::runtime_error("json: no field " + k);
    return it->second;
  }

  static json parse(const std::string& text) {
    std::size_t i = 0;
    json v = value(text, i);
    skip(text, i);
    if (i != text.size()) fail(i, "trailing characters");
    return v;
  }

 private:
  [[noreturn]] static void fail(std::size_t at, const char* what) {
    throw std::runtime_error("json: " + std::string(what) + " at offset " + std::to_string(at));
  }
  static void skip(const std::string& t, std::size_t& i) {
    while (i < t.size() && std::isspace(static_cast<unsigned char>(t[i]))) ++i;
  }
  static void expect(const std::string& t, std::size_t& i, char c) {
    skip(t, i);
    if (i >= t.size() || t[i] != c) fail(i, (std::string("expected '") + c + "'").c_str());
    ++i;
  }
  static std::string string_at(const std::string& t, std::size_t& i) {
    expect(t, i, '"');
    std::string out;
    while (i < t.size() && t[i] != '"') {
      if (static_cast<unsigned char>(t[i]) < 0x20) fail(i, "control character in string");
      if (t[i] == '\\') {
        if (++i >= t.size()) break;
        const char e = t[i];
        if (e == 'n') out += '\n';
        else if (e == 't') out += '\t';
        else if (e == '"' || e == '\\' || e == '/') out += e;
        else fail(i, "unsupported escape");
        ++i;
        continue;
      }
      out += t[i++];
    }
    if (i >= t.size()) fail(i, "unterminated string");
    ++i;
    return out;
  }
  static json value(const std::string& t, std::size_t& i) {
    skip(t, i);
    if (i >= t.size()) fail(i, "unexpected end");
    json v;
    const char c = t[i];
    if (c == '{') {
      v.type = kind::object;
      ++i;
      skip(t, i);
      if (i < t.size() && t[i] == '}') return ++i, v;
      for (;;) {
        std::string k = string_at(t, i);
        expect(t, i, ':');
        v.fields[k] = value(t, i);
        skip(t, i);
        if (i < t.size() && t[i] == ',') { ++i; continue; }
        expect(t, i, '}');
        return v;
      }
    }
    if (c == '[') {
      v.type = kind::array;
      ++i;
      skip(t, i);
      if (i < t.size() && t[i] == ']') return ++i, v;
      for (;;) {
        v.items.push_back(value(t, i));
        skip(t, i);
        if (i < t.size() && t[i] == ',') { ++i; continue; }
        expect(t, i, ']');
        return v;
      }
    }
    if (c == '"') {
      v.type = kind::string;
      v.str = string_at(t, i);
      return v;
    }
    for (const char* word : {"true", "false", "null"}) {
      if (t.compare(i, std::string(word).size(), word) == 0) {
        i += std::string(word).size();
        v.type = word[0] == 'n' ? kind::null : kind::boolean;
        v.b = word[0] == 't';
        return v;
      }
    }
    const char* start = t.c_str() + i;
    char* end = nullptr;
    if (c != '-' && !std::isdigit(static_cast<unsigned char>(c))) fail(i, "unexpected character");
    v.type = kind::number;
    v.num = std::strtod(start, &end);
    if (end == start) fail(i, "bad number");
    i += static_cast<std::size_t>(end - start);
    return v;
  }
};

}  // namespace umpager::testing
