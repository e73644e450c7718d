// RFC 4648 base64: the test vectors, every byte and length, and strict decoding.
#include "avw/core/base64.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <string>

TEST_CASE("base64 matches the RFC 4648 test vectors", "[base64]") {
  const auto [data, encoded] = GENERATE(table<std::string, std::string>({
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
      {"\xfb\xff\xbf", "+/+/"},
      {std::string("\0\0\0\xff", 4), "AAAA/w=="},
  }));
  CHECK(avw::core::base64_encode(data) == encoded);
  CHECK(avw::core::base64_decode(encoded) == data);
}

TEST_CASE("base64 round trips every byte value and every length", "[base64]") {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  for (std::size_t length = 0; length <= all.size(); ++length) {
    const std::string data = all.substr(all.size() - length);
    const std::string encoded = avw::core::base64_encode(data);
    REQUIRE(encoded.size() == (length + 2) / 3 * 4);
    REQUIRE(avw::core::base64_decode(encoded) == data);
  }
}

TEST_CASE("base64 decoding rejects anything but canonical padded text", "[base64]") {
  const std::string text = GENERATE(as<std::string>{}, "Zg", "Zg=", "Zm9vY", "Z===", "====", "Zg==Zg==", "=Zg=",
                                    "Zm=v", "Zh==", "Zm9=", " Zg=", "Zg==\n", "Zm9v YmFy", "Zm9v-_8=", "Zm9vYmFy=", "Zg=A");
  INFO(text);
  CHECK_FALSE(avw::core::base64_decode(text).has_value());
}

TEST_CASE("base64 decoding rejects a NUL byte inside the text", "[base64]") {
  CHECK(avw::core::base64_decode("Zm9vAA==").has_value());
  CHECK_FALSE(avw::core::base64_decode(std::string("Zm9v\0A==", 8)).has_value());
}

