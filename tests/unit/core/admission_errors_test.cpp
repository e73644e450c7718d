// Refused AdmissionReview bodies: each is a DecodeError with a clear message, never a crash,
// whatever the bytes (not JSON, too deep, invalid UTF-8, lone surrogates, odd values anywhere).
#include "avw/core/admission.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "review_samples.hpp"
#include "support/json_patch.hpp"

namespace {

using avw::core::AdmissionRequest;
using avw::core::DecodeError;
using avw::core::ParsedReview;
using avw::core::PodContainer;
using avw::test::review_samples::decode_error;
using avw::test::review_samples::fixture;
using avw::test::review_samples::review_with_request;
using avw::test::review_samples::patched;
using Catch::Matchers::Contains;

}  // namespace

TEST_CASE("a body that starts with a byte order mark is refused as not JSON", "[admission]") {
  // As Go's encoding/json refuses it (the API server never sends one); RapidJSON would skip it.
  const std::string body = "\xEF\xBB\xBF" + fixture("kpo-pod");
  CHECK_THROWS_WITH(ParsedReview(body), Catch::StartsWith("AdmissionReview is not valid JSON"));
  CHECK_THROWS_WITH(ParsedReview(std::string_view("\xEF" "666")), Catch::StartsWith("AdmissionReview is not valid JSON"));
}

TEST_CASE("a number past 64 bits is refused with the parser's reason", "[admission]") {
  // RapidJSON read such integers as doubles; simdjson, which decodes the reviews, refuses
  // them. The API server never sends one: every number in a Pod is a typed Go integer.
  CHECK_THROWS_WITH(ParsedReview(review_with_request(R"({"uid":"u","operation":"CREATE","n":18446744073709551616})")),
                    "AdmissionReview is not valid JSON: Problem while parsing a number");
}

// --- decoding details ---

// --- malformed reviews ---

TEST_CASE("a malformed AdmissionReview is a DecodeError with a clear message", "[admission]") {
  const std::string nul_body = review_with_request(R"({"uid":"u","operation":"CREATE"})") + std::string(1, '\0') + "x";
  const auto [body, expected] = GENERATE_COPY(table<std::string, std::string>({
      {"", "AdmissionReview is not valid JSON: The document is empty. (at byte 0)"},
      {"not json", "AdmissionReview is not valid JSON: Invalid value. (at byte 1)"},
      {R"({"apiVersion":)", "AdmissionReview is not valid JSON"},
      {"{} {}", "AdmissionReview is not valid JSON: The document root must not be followed by other values."},
      {nul_body, "unexpected NUL byte"},
      {"{\"apiVersion\":\"\xff\"}", "AdmissionReview is not valid JSON: invalid UTF-8 (at byte 15)"},
      {"[]", "AdmissionReview must be a JSON object, got an array"},
      {R"("review")", "AdmissionReview must be a JSON object, got a string"},
      {"null", "AdmissionReview must be a JSON object, got null"},
      {R"({"kind":"AdmissionReview","request":{}})",
       "AdmissionReview has no apiVersion: only admission.k8s.io/v1 is served"},
      {R"({"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}})",
       R"(unsupported AdmissionReview apiVersion "admission.k8s.io/v1beta1": only admission.k8s.io/v1 is served)"},
      {R"({"apiVersion":"v1\n\"x","kind":"AdmissionReview"})",
       R"(unsupported AdmissionReview apiVersion "v1\x0a\"x": only admission.k8s.io/v1 is served)"},
      {R"({"apiVersion":1,"kind":"AdmissionReview"})", "AdmissionReview apiVersion must be a string, got a number"},
      {R"({"apiVersion":"admission.k8s.io/v1","request":{}})", "AdmissionReview has no kind"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"Pod"})", R"(unsupported kind "Pod": expected AdmissionReview)"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":["AdmissionReview"]})",
       "AdmissionReview kind must be a string, got an array"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})", "AdmissionReview has no request"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u","allowed":true}})",
       "AdmissionReview has no request"},
      {review_with_request("null"), "AdmissionReview has no request"},
      {review_with_request("[]"), "request must be an object, got an array"},
      {review_with_request(R"({"operation":"CREATE"})"), "request.uid is missing"},
      {review_with_request(R"({"uid":"","operation":"CREATE"})"), "request.uid is empty"},
      {review_with_request(R"({"uid":7,"operation":"CREATE"})"), "request.uid must be a string, got a number"},
      {review_with_request(R"({"uid":{},"operation":"CREATE"})"), "request.uid must be a string, got an object"},
      {review_with_request(R"({"uid":"u"})"), "request.operation is missing"},
      {review_with_request(R"({"uid":"u","operation":true})"), "request.operation must be a string, got a boolean"},
      {review_with_request(R"({"uid":"u","operation":"CREATE","dryRun":"true"})"),
       "request.dryRun must be a boolean, got a string"},
      {review_with_request(R"({"uid":"u","operation":"CREATE","kind":"Pod"})"),
       "request.kind must be an object, got a string"},
      {review_with_request(R"({"uid":"u","operation":"CREATE","kind":{"kind":1}})"),
       "request.kind.kind must be a string, got a number"},
      {review_with_request(R"({"uid":"u","operation":"CREATE","kind":{"group":[]}})"),
       "request.kind.group must be a string, got an array"},
      {review_with_request(R"({"uid":"u","operation":"CREATE","resource":"pods"})"),
       "request.resource must be an object, got a string"},
      {review_with_request(R"({"uid":"u","operation":"CREATE","resource":{"resource":false}})"),
       "request.resource.resource must be a string, got a boolean"},
      {review_with_request(R"({"uid":"u","operation":"CREATE","subResource":1})"),
       "request.subResource must be a string, got a number"},
      {review_with_request(R"({"uid":"u","operation":"CREATE","name":{}})"),
       "request.name must be a string, got an object"},
      {review_with_request(R"({"uid":"u","operation":"CREATE","namespace":[]})"),
       "request.namespace must be a string, got an array"},
  }));
  INFO(body);
  CHECK_THAT(decode_error(body), Contains(expected));
}

TEST_CASE("a truncated review is rejected at every length without a crash", "[admission]") {
  const std::string body = fixture("kpo-pod");
  const std::size_t end = body.find_last_of('}') + 1;
  std::vector<std::size_t> wrong;
  for (std::size_t length = 0; length < body.size(); ++length) {
    const std::string message = decode_error(std::string_view(body).substr(0, length));
    // Only trailing whitespace may be cut off; any shorter prefix is not JSON.
    const bool ok = length < end ? message.rfind("AdmissionReview is not valid JSON: ", 0) == 0
                                 : message == "(decoded)";
    if (!ok) wrong.push_back(length);
  }
  CHECK(wrong.empty());
}

TEST_CASE("deep nesting is rejected without a crash", "[admission]") {
  const auto nested = [](std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  SECTION("10000 levels as the body") {
    CHECK(decode_error(nested(10000)) == "AdmissionReview is nested deeper than 256 levels");
  }
  SECTION("10000 levels of objects inside the request") {
    std::string deep;
    for (int i = 0; i < 10000; ++i) deep += R"({"a":)";
    deep += "1" + std::string(10000, '}');
    CHECK(decode_error(review_with_request(R"({"uid":"u","operation":"CREATE","x":)" + deep + "}")) ==
          "AdmissionReview is nested deeper than 256 levels");
  }
  SECTION("an unterminated 100000-level body") {
    CHECK_THAT(decode_error(std::string(100000, '[')), Contains("nested deeper than 256 levels"));
  }
  SECTION("exactly 256 levels are accepted") {
    // The root object and the request are two levels.
    const std::string body = review_with_request(R"({"uid":"u","operation":"CREATE","x":)" + nested(254) + "}");
    CHECK(decode_error(body) == "(decoded)");
    const std::string deeper = review_with_request(R"({"uid":"u","operation":"CREATE","x":)" + nested(255) + "}");
    CHECK(decode_error(deeper) == "AdmissionReview is nested deeper than 256 levels");
  }
}

TEST_CASE("odd values anywhere in a real review never crash the decoder", "[admission]") {
  // Every value of a real review is replaced in turn by values of every JSON type (and
  // removed): each body must either decode consistently or fail with a DecodeError.
  const std::string body = fixture("kpo-pod");
  const std::vector<std::string> odd_values = {"null", "true", "0", "-1.5e300", R"("")", R"("x")",
                                               "[]", "{}", "[{}]", R"({"name":1})", R"(["a",{"b":[null]}])"};
  std::size_t decoded = 0;
  std::size_t rejected = 0;
  std::vector<std::string> inconsistent;
  const auto check = [&](const std::string& changed, const std::string& what) {
    std::optional<ParsedReview> review;
    try {
      review.emplace(changed);
    } catch (const DecodeError&) {
      ++rejected;
      return;
    }
    ++decoded;
    const AdmissionRequest& r = review->request();
    bool consistent = !r.uid.empty() && r.review_api_version == "admission.k8s.io/v1";
    if (r.has_pod) {
      for (const PodContainer& c : r.pod.containers) consistent = consistent && !c.name.empty();
    } else {
      consistent = consistent && r.pod.containers.empty() && r.pod.labels.empty();
    }
    if (!consistent) inconsistent.push_back(what);
  };
  for (const std::string& pointer : avw::test::json_pointers(body)) {
    for (const std::string& value : odd_values) check(patched(body, "replace", pointer, value), pointer + " = " + value);
    check(patched(body, "remove", pointer), "remove " + pointer);
  }
  CHECK(inconsistent.empty());
  CHECK(decoded > 0);
  CHECK(rejected > 0);
}

// --- encoding ---
TEST_CASE("a lone low surrogate escape is a decode error", "[admission]") {
  const std::string body =
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-\udc00","operation":"CREATE"}})";
  CHECK_THROWS_WITH(avw::core::ParsedReview(body), Catch::Contains("unpaired UTF-16 surrogate escape"));
  // A proper pair is fine.
  const std::string paired =
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-\ud83d\ude00","operation":"CREATE"}})";
  CHECK_NOTHROW(avw::core::ParsedReview(paired));
}

TEST_CASE("a lone surrogate escape is found wherever it is in a string or key", "[admission]") {
  // U+D7FF (ED 9F BF) is the last character before the surrogates: its 0xED lead is fine.
  const std::string text = GENERATE(R"(\udc00)", R"(x\udfff)", R"(\udc00x)", "\xed\x9f\xbf" R"(\udc00)",
                                    "\xed\x9f\xbf\xed\x9f\xbf" R"(z\udc01)", R"(a long value before the escape \udfff)");
  const std::string as_value = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":")" +
                               text + R"(","operation":"CREATE"}})";
  CHECK_THROWS_WITH(avw::core::ParsedReview(as_value), Catch::Contains("unpaired UTF-16 surrogate escape"));
  const std::string as_key = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{")" + text +
                             R"(":1,"uid":"u","operation":"CREATE"}})";
  CHECK_THROWS_WITH(avw::core::ParsedReview(as_key), Catch::Contains("unpaired UTF-16 surrogate escape"));
  const std::string fine = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":")"
                           "\xed\x9f\xbf-\xed\x9f\xbf" R"(","operation":"CREATE"}})";
  CHECK_NOTHROW(avw::core::ParsedReview(fine));
  // An escaped backslash, then text that reads like the escape.
  const std::string backslash = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"\\udc00","operation":"CREATE"}})";
  CHECK(avw::core::ParsedReview(backslash).request().uid == "\\udc00");
}

TEST_CASE("UTF-8 is checked as the Unicode standard defines it, anywhere in the body", "[admission][utf8]") {
  // The uid carries the bytes under test.
  auto review = [](std::string_view uid_bytes) {
    return review_with_request(R"({"uid":")" + std::string(uid_bytes) + R"(","operation":"CREATE"})");
  };
  const std::size_t uid_at = review("").find(R"(","operation")");

  const auto valid = GENERATE(as<std::string>{}, "plain", "caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x98\x80",
                              "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf", "\xc2\x80", "a long run of ascii to skip");
  INFO(valid);
  CHECK(avw::core::ParsedReview(review(valid)).request().uid == valid);

  const auto [invalid, offset] = GENERATE(table<std::string, std::size_t>({
      {"\xc0\x80", 0},              // overlong NUL
      {"\xc1\xbf", 0},              // overlong
      {"\xe0\x9f\xbf", 0},          // overlong 3-byte
      {"\xf0\x8f\xbf\xbf", 0},      // overlong 4-byte
      {"\xed\xa0\x80", 0},          // an encoded surrogate
      {"\xf4\x90\x80\x80", 0},      // above U+10FFFF
      {"\xf5\x80\x80\x80", 0},      // no such lead byte
      {"\x80", 0},                  // a lone continuation byte
      {"ab\xc3", 2},                // cut short before the closing quote
      {"abcdefgh\xe6\x97", 8},      // after an eight-byte ASCII run
      {"\xe6\x97\x41", 0},          // a continuation byte missing
      {std::string(40, 'a') + "\x80", 40},        // after a 32-byte ASCII run
      {std::string(31, 'b') + "\xc3x" + std::string(40, 'c'), 31},  // ending a 32-byte block
      {std::string(70, 'd') + "\xf0\x9f\x98", 70},  // cut short, after two blocks
  }));
  INFO(invalid);
  CHECK_THROWS_WITH(avw::core::ParsedReview(review(invalid)),
                    "AdmissionReview is not valid JSON: invalid UTF-8 (at byte " + std::to_string(uid_at + offset) +
                        ")");
}

TEST_CASE("a refused body is read no further than its last byte", "[admission][utf8]") {
  // An exact-size heap copy (no NUL after it), so AddressSanitizer sees a read past its end;
  // 32 and 64 bytes end where the UTF-8 check's 32-byte steps do.
  for (const std::size_t size : {std::size_t{8}, std::size_t{32}, std::size_t{64}, std::size_t{65}}) {
    const std::vector<char> body(size, 'x');
    CHECK_THROWS_WITH(ParsedReview(std::string_view(body.data(), body.size())),
                      "AdmissionReview is not valid JSON: Invalid value. (at byte 0)");
  }
}

TEST_CASE("a truncated multi-byte character at the very end of the body is refused", "[admission][utf8]") {
  CHECK_THROWS_WITH(avw::core::ParsedReview(std::string("{}\xf0\x9f\x98")),
                    "AdmissionReview is not valid JSON: invalid UTF-8 (at byte 2)");
}
