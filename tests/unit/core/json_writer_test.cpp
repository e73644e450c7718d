// append_json_string, against a byte-at-a-time reference.
#include "avw/core/json_writer.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <string>
#include <string_view>

TEST_CASE("JSON strings escape every byte that needs it, wherever it falls in a word", "[json]") {
  // The escaper tests eight bytes at a time; this reference goes one at a time.
  auto reference = [](std::string_view text) {
    std::string out = "\"";
    for (const char ch : text) {
      const auto c = static_cast<unsigned char>(ch);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += ch;
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '\t') {
        out += "\\t";
      } else if (c < 0x20) {
        static constexpr char kHex[] = "0123456789abcdef";
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
      } else {
        out += ch;
      }
    }
    return out + '"';
  };
  for (int byte = 0; byte < 256; ++byte) {
    for (std::size_t length = 1; length <= 19; ++length) {
      for (std::size_t at = 0; at < length; ++at) {
        std::string text(length, 'a');
        text[at] = static_cast<char>(byte);
        if (at + 1 < length) text[length - 1] = '\x1f';  // a second one behind it
        std::string out = "x";
        avw::core::append_json_string(out, text);
        if (out != "x" + reference(text)) FAIL("byte " << byte << " at " << at << " of " << length << ": " << out);
      }
    }
  }
  std::string out;
  avw::core::append_json_string(out, "");
  CHECK(out == "\"\"");
}

