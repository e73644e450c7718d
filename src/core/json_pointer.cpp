#include "avw/core/json_pointer.hpp"

namespace avw::core {

void append_json_pointer_token(std::string& out, std::string_view token) {
  out.reserve(out.size() + token.size());
  for (const char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
}

}  // namespace avw::core
