// File: json_pointer.hpp
//
// RFC 6901 JSON Pointers, as the JSON Patch paths the decision writes need them:
//
//   std::string path = "/metadata/annotations/";
//   core::append_json_pointer_token(path, "vpa.k8s.io/updated");  // ".../vpa.k8s.io~1updated"
#pragma once

#include <string>
#include <string_view>

namespace avw::core {

/// RFC 6901 escaping of one reference token (`~` -> `~0`, `/` -> `~1`), appended to `out`.
void append_json_pointer_token(std::string& out, std::string_view token);

}  // namespace avw::core
