// File: json_writer.hpp
//
// Compact JSON written by hand, a string at a time: the AdmissionReview response, the JSON
// Patch, the AirflowTask status patches and the JSON log lines are all appended to a
// std::string with this one escaping routine, so none of them needs a DOM to write.
//
//   out += R"({"uid":)";
//   core::append_json_string(out, uid);   // "\"...\"", escaped
#pragma once

#include <string>
#include <string_view>

namespace avw::core {

/// `text` as a JSON string literal (quotes included, `"` `\\` and control characters escaped),
/// appended to `out`. Bytes of 0x80 and above (UTF-8) are copied as they are.
void append_json_string(std::string& out, std::string_view text);

}  // namespace avw::core
