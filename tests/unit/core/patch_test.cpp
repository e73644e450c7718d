// The JSON Patch text the response carries.
#include "avw/core/patch.hpp"

#include <catch2/catch.hpp>

#include <optional>

TEST_CASE("patch_to_json writes add operations as a compact array", "[patch]") {
  CHECK(avw::core::patch_to_json({}) == "[]");
  CHECK(avw::core::patch_to_json({{"/metadata/annotations", std::nullopt},
                                  {"/spec/containers/0/resources/requests/cpu", "250m"}}) ==
        R"([{"op":"add","path":"/metadata/annotations","value":{}},)"
        R"({"op":"add","path":"/spec/containers/0/resources/requests/cpu","value":"250m"}])");
  CHECK(avw::core::patch_to_json({{"/a", "say \"hi\"\n"}}) == R"([{"op":"add","path":"/a","value":"say \"hi\"\n"}])");
}
