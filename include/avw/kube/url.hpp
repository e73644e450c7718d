// File: url.hpp
//
// Percent-encoding of a query value or a path segment for API requests: everything but RFC
// 3986's unreserved characters, so continue tokens (opaque), label selectors (`!`, `,`, `=`)
// and names reach the API server as they were.
#pragma once

#include <string>
#include <string_view>

namespace avw::kube {

inline std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    }
  }
  return out;
}

}  // namespace avw::kube
