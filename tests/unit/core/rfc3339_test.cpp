// RFC 3339 timestamps as the API server writes them.
#include "avw/core/rfc3339.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

using avw::core::parse_rfc3339;

TEST_CASE("RFC 3339 timestamps convert to seconds since the epoch", "[objects][time]") {
  auto [text, seconds] = GENERATE(table<std::string, std::int64_t>({
      {"1970-01-01T00:00:00Z", 0},
      {"1969-12-31T23:59:59Z", -1},
      {"2026-11-23T17:09:07Z", 1795453747},
      {"2026-11-23T17:09:07.123456789Z", 1795453747},
      {"2026-11-23T17:09:07+02:00", 1795446547},
      {"2026-11-23T17:09:07-05:30", 1795473547},
      {"2026-11-23t17:09:07z", 1795453747},
      {"2024-02-29T23:59:59Z", 1709251199},
      {"2000-03-01T00:00:00Z", 951868800},
      {"0000-03-01T00:00:00Z", -62162035200},
  }));
  INFO("timestamp: " << text);
  CHECK(parse_rfc3339(text) == seconds);
}

TEST_CASE("malformed timestamps are rejected", "[objects][time]") {
  auto text = GENERATE(as<std::string>{}, "", "2026", "2026-11-23", "2026-11-23T17:09:07",
                       "2026-11-23 17:09:07Z", "2026-11-23T17:09Z", "2026-11-23T17:09:07.Z",
                       "2026-11-23T17:09:07+0200", "2026-11-23T17:09:07+2:00", "2026-11-23T17:09:07ZZ",
                       "2026-11-23T17:09:07Z ", " 2026-11-23T17:09:07Z", "2026-13-01T00:00:00Z",
                       "2026-00-01T00:00:00Z", "2026-11-00T00:00:00Z", "2026-11-31T00:00:00Z",
                       "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-11-23T24:00:00Z",
                       "2026-11-23T23:60:00Z", "2026-11-23T23:59:60Z", "2026-11-23T17:09:07+24:00",
                       "2026-11-23T17:09:07+01:60", "+2026-11-23T17:09:07Z", "2026-1a-23T17:09:07Z",
                       "20261123T170907Z");
  INFO("timestamp: " << text);
  CHECK_FALSE(parse_rfc3339(text));
}


TEST_CASE("times format as the API server writes them and read back unchanged", "[objects][time]") {
  const auto [seconds, text] = GENERATE(table<std::int64_t, std::string>({
      {0, "1970-01-01T00:00:00Z"},
      {1795367347, "2026-11-22T17:09:07Z"},
      {951782400, "2000-02-29T00:00:00Z"},
      {-1, "1969-12-31T23:59:59Z"},
  }));
  CHECK(avw::core::format_rfc3339(seconds) == text);
  CHECK(parse_rfc3339(text) == seconds);
}
