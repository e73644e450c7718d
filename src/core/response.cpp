#include "avw/core/response.hpp"

#include <cstddef>
#include <string_view>

#include "avw/core/base64.hpp"
#include "avw/core/decision.hpp"
#include "avw/core/json_writer.hpp"
#include "avw/core/patch.hpp"

namespace avw::core {

std::string encode_response(const AdmissionRequest& request, const Decision& decision) {
  // Only a parsed request has the echoed fields; a default one (a caller answering without a
  // review) still gets a response the API server accepts.
  const std::string_view api_version =
      request.review_api_version.empty() ? kAdmissionReviewApiVersion : request.review_api_version;
  const std::string_view kind = request.review_kind.empty() ? kAdmissionReviewKind : request.review_kind;
  const bool with_patch = decision.sends_patch() && !decision.patch.empty();
  const std::string patch = with_patch ? patch_to_json(decision.patch) : std::string();

  std::size_t size = 128 + request.uid.size() + (patch.size() + 2) / 3 * 4;
  for (const auto& [key, value] : decision.audit_annotations) size += key.size() + value.size() + 8;
  for (const std::string& warning : decision.warnings) size += warning.size() + 4;
  std::string out;
  out.reserve(size);
  out += R"({"apiVersion":)";
  append_json_string(out, api_version);
  out += R"(,"kind":)";
  append_json_string(out, kind);
  out += R"(,"response":{"uid":)";
  append_json_string(out, request.uid);
  out += decision.allowed ? R"(,"allowed":true)" : R"(,"allowed":false)";
  if (with_patch) {
    // base64 needs no JSON escaping: it is appended between the quotes as it is encoded.
    out += R"(,"patchType":"JSONPatch","patch":")";
    append_base64(out, patch);
    out += '"';
  }
  if (!decision.audit_annotations.empty()) {
    out += R"(,"auditAnnotations":{)";
    bool first = true;
    for (const auto& [key, value] : decision.audit_annotations) {
      if (!first) out += ',';
      first = false;
      append_json_string(out, key);
      out += ':';
      append_json_string(out, value);
    }
    out += '}';
  }
  if (!decision.warnings.empty()) {
    out += R"(,"warnings":[)";
    for (std::size_t i = 0; i < decision.warnings.size(); ++i) {
      if (i != 0) out += ',';
      append_json_string(out, decision.warnings[i]);
    }
    out += ']';
  }
  out += "}}";
  return out;
}

}  // namespace avw::core
