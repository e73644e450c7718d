// Sample AdmissionReview bodies shared by the codec's tests: the captured reviews
// (tests/fixtures/admission), minimal reviews around a request, and fixtures changed by one
// JSON Patch operation.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "avw/core/admission.hpp"
#include "support/fixtures.hpp"
#include "support/json_patch.hpp"

namespace avw::test::review_samples {

inline std::string fixture(std::string_view name) {
  return read_fixture("admission/" + std::string(name) + ".json");
}

// A minimal valid review around a request object.
inline std::string review_with_request(std::string_view request) {
  return R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":)" + std::string(request) + "}";
}

// One JSON Patch operation on a fixture body.
inline std::string patched(const std::string& body, std::string_view op, std::string_view path,
                           std::optional<std::string_view> value = std::nullopt) {
  std::string patch = R"([{"op":")" + std::string(op) + R"(","path":)" + json_string(path);
  if (value) patch += R"(,"value":)" + std::string(*value);
  patch += "}]";
  return apply_json_patch(body, patch);
}

// The DecodeError message for `body`, or "(decoded)". Any other exception escapes and fails
// the test: the codec promises DecodeError and nothing else.
inline std::string decode_error(std::string_view body) {
  try {
    const core::ParsedReview review(body);
  } catch (const core::DecodeError& e) {
    return e.what();
  }
  return "(decoded)";
}

// The server's bodies: appended as they arrive, decoded where they lie.
inline core::ReviewBuffer buffered(std::string_view body, std::size_t piece) {
  core::ReviewBuffer b;
  for (std::size_t at = 0; at < body.size(); at += piece) {
    const std::string_view part = body.substr(at, piece);
    b.append(part.data(), part.size());
  }
  return b;
}

}  // namespace avw::test::review_samples
