// File: base64.hpp
//
// RFC 4648 base64 with padding: the AdmissionReview response carries its JSON Patch in it,
// and kubeconfig files carry certificates in it. Decoding is strict (canonical padded text
// only), so every byte string has exactly one accepted encoding.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace avw::core {

std::string base64_encode(std::string_view data);
/// The encoding of `data` appended to `out` (the response writes the patch in place).
void append_base64(std::string& out, std::string_view data);
/// nullopt on anything but canonical padded base64 (whitespace and a NUL byte included).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace avw::core
