// RFC 6901 reference tokens, checked against a JSON Pointer reader.
#include "avw/core/json_pointer.hpp"

#include <catch2/catch.hpp>

#include <string>

#include "support/json_patch.hpp"

TEST_CASE("JSON Pointer tokens escape tilde and slash", "[patch]") {
  const auto [token, expected] = GENERATE(table<std::string, std::string>({
      {"plain", "plain"},
      {"", ""},
      {"airflow-vpa-webhook.io/vpa", "airflow-vpa-webhook.io~1vpa"},
      {"a~b", "a~0b"},
      {"~1", "~01"},
      {"/~", "~1~0"},
      {"~/~/", "~0~1~0~1"},
  }));
  std::string out = "/metadata/annotations/";
  avw::core::append_json_pointer_token(out, token);
  CHECK(out == "/metadata/annotations/" + expected);
  // The escaped token names exactly the original key.
  const std::string doc = "{" + avw::test::json_string(token) + ":1}";
  CHECK(avw::test::json_at(doc, "/" + expected) == "1");
}

// --- base64 ---
