// Structured log fields in the logfmt form the JSON log format understands
// (see include/avw/cli/logging.hpp): ` key=value`, quoted with JSON escapes when needed.
#pragma once

#include <string>
#include <string_view>

#include "avw/core/json_writer.hpp"

namespace avw::server {

inline void append_field(std::string& out, std::string_view key, std::string_view value) {
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
  core::append_json_string(out, value);
}

}  // namespace avw::server
