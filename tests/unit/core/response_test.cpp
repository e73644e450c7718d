// The AdmissionReview response: what it echoes, the patch as base64 JSON that applies to the
// pod, warnings and audit annotations, escaped.
#include "avw/core/response.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <string>

#include "avw/core/base64.hpp"
#include "avw/core/decision.hpp"
#include "avw/core/patch.hpp"
#include "review_samples.hpp"
#include "support/json_patch.hpp"

namespace {

using avw::core::AdmissionRequest;
using avw::core::Decision;
using avw::core::Outcome;
using avw::core::ParsedReview;
using avw::test::apply_json_patch;
using avw::test::json_at;
using avw::test::json_has;
using avw::test::review_samples::fixture;
using avw::test::review_samples::review_with_request;

}  // namespace

TEST_CASE("a response without a patch echoes the review and allows the pod", "[response]") {
  const ParsedReview review(fixture("kpo-pod"));
  const Decision decision;  // Skipped: allowed, no patch
  CHECK(encode_response(review.request(), decision) ==
        R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":)"
        R"({"uid":"71855644-6b31-452d-82c9-d8999240b18e","allowed":true}})");
}

TEST_CASE("a patched decision sends its patch as base64 JSON that applies to the pod", "[response]") {
  const std::string body = fixture("kpo-pod");
  const ParsedReview review(body);
  Decision decision;
  decision.outcome = Outcome::Patched;
  decision.patch = {
      {"/metadata/annotations", std::nullopt},
      {"/metadata/annotations/airflow-vpa-webhook.io~1vpa", "etl-daily-load"},
      {"/spec/containers/0/resources/requests/cpu", "250m"},
  };
  const std::string response = encode_response(review.request(), decision);

  CHECK(json_at(response, "/apiVersion") == "admission.k8s.io/v1");
  CHECK(json_at(response, "/kind") == "AdmissionReview");
  CHECK(json_at(response, "/response/uid") == "71855644-6b31-452d-82c9-d8999240b18e");
  CHECK(json_at(response, "/response/allowed") == "true");
  CHECK(json_at(response, "/response/patchType") == "JSONPatch");
  CHECK_FALSE(json_has(response, "/response/auditAnnotations"));
  CHECK_FALSE(json_has(response, "/response/warnings"));

  const std::optional<std::string> patch = avw::core::base64_decode(json_at(response, "/response/patch"));
  REQUIRE(patch);
  CHECK(*patch == avw::core::patch_to_json(decision.patch));
  const std::string pod = apply_json_patch(json_at(body, "/request/object"), *patch);
  CHECK(json_at(pod, "/metadata/annotations/airflow-vpa-webhook.io~1vpa") == "etl-daily-load");
  CHECK(json_at(pod, "/spec/containers/0/resources/requests/cpu") == "250m");
  CHECK(json_at(pod, "/spec/containers/0/resources/requests/memory") == "1Gi");
}

TEST_CASE("an audited decision reports its patch but never sends it", "[response]") {
  const ParsedReview review(fixture("dryrun"));
  Decision decision;
  decision.outcome = Outcome::Audited;
  decision.patch = {{"/spec/containers/0/resources/requests/cpu", "250m"}};
  decision.audit_annotations = {{"patch", R"([{"op":"add"}])"}, {"summary", "base: cpu request 500m -> 250m"}};
  decision.warnings = {"airflow-vpa-webhook: would set base cpu request 500m -> 250m", "second"};
  const std::string response = encode_response(review.request(), decision);

  CHECK_FALSE(json_has(response, "/response/patch"));
  CHECK_FALSE(json_has(response, "/response/patchType"));
  CHECK(json_at(response, "/response/allowed") == "true");
  CHECK(json_at(response, "/response/auditAnnotations") ==
        R"({"patch":"[{\"op\":\"add\"}]","summary":"base: cpu request 500m -> 250m"})");
  CHECK(json_at(response, "/response/warnings") ==
        R"(["airflow-vpa-webhook: would set base cpu request 500m -> 250m","second"])");
}

TEST_CASE("a patched decision with an empty patch sends no patch", "[response]") {
  const ParsedReview review(fixture("kpo-pod"));
  Decision decision;
  decision.outcome = Outcome::Patched;
  const std::string response = encode_response(review.request(), decision);
  CHECK_FALSE(json_has(response, "/response/patch"));
  CHECK_FALSE(json_has(response, "/response/patchType"));
}

TEST_CASE("a denial is encoded as allowed false", "[response]") {
  const ParsedReview review(fixture("kpo-pod"));
  Decision decision;
  decision.allowed = false;
  CHECK(json_at(encode_response(review.request(), decision), "/response/allowed") == "false");
}

TEST_CASE("response strings are escaped and read back unchanged", "[response]") {
  const ParsedReview review(review_with_request(R"({"uid":"u\"1\\\u0001","operation":"CREATE"})"));
  Decision decision;
  const std::string text = std::string("quote \" backslash \\ newline \n tab \t nul ") + '\0' + "\xc3\xa9";
  decision.warnings = {text};
  decision.audit_annotations = {{"key \"/\\", text}};
  const std::string response = encode_response(review.request(), decision);
  CHECK(response.find('\n') == std::string::npos);
  CHECK(json_at(response, "/response/uid") == "u\"1\\\x01");
  CHECK(json_at(response, "/response/warnings/0") == text);
  CHECK(json_at(response, "/response/auditAnnotations/key \"~1\\") == text);
}

TEST_CASE("a default request still gets a well-formed v1 response", "[response]") {
  const AdmissionRequest request;
  const Decision decision;
  CHECK(encode_response(request, decision) ==
        R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"","allowed":true}})");
}

// --- JSON Patch text and JSON Pointer tokens ---
