// Structured log fields in the logfmt form the JSON log format understands
// (see include/avw/cli/logging.hpp): ` key=value`, quoted with JSON escapes when needed.
#pragma once

#include <string>
#include <string_view>

namespace avw::server {

inline void append_field(std::string& out, std::string_view key, std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += ' ';
  out += key;
  out += '=';
  bool bare = !value.empty();
  for (const char c : value) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       std::string_view("_.:/@+,-").find(c) != std::string_view::npos;
    if (!plain) {
      bare = false;
      break;
    }
  }
  if (bare) {
    out += value;
    return;
  }
  out += '"';
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += ch;
    }
  }
  out += '"';
}

}  // namespace avw::server
