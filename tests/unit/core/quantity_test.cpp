// Expected values come from apimachinery's own pkg/api/resource/quantity_test.go where it has the
// case (TestQuantityParse, TestQuantityString, TestQuantityParseEmit, TestNewSet, TestMilliNewSet),
// and otherwise were computed with exact rational arithmetic (Python's fractions).
#include <catch2/catch.hpp>

#include <algorithm>
#include <limits>
#include <string>
#include <string_view>

#include "avw/core/quantity.hpp"
#include "avw/core/resources.hpp"

using avw::core::Int128;
using avw::core::kNanosPerMilli;
using avw::core::kNanosPerUnit;
using avw::core::Quantity;
using avw::core::Resource;
using Format = Quantity::Format;

namespace {

constexpr Int128 kMax = std::numeric_limits<Int128>::max();
constexpr Int128 kMin = std::numeric_limits<Int128>::min();

// Decimal text of an Int128, written independently of Quantity's own formatter.
std::string nanos_text(Int128 v) {
  std::string out;
  const bool negative = v < 0;
  do {
    const int digit = static_cast<int>(v % 10);
    out += static_cast<char>('0' + (negative ? -digit : digit));
    v /= 10;
  } while (v != 0);
  if (negative) out += '-';
  std::reverse(out.begin(), out.end());
  return out;
}

std::string_view format_name(Format f) {
  switch (f) {
    case Format::DecimalSI: return "DecimalSI";
    case Format::BinarySI: return "BinarySI";
    case Format::DecimalExponent: return "DecimalExponent";
  }
  return "?";
}

Quantity parsed(std::string_view text) {
  std::string error;
  const auto q = Quantity::parse(text, &error);
  INFO("parsing \"" << std::string(text) << "\": " << error);
  REQUIRE(q.has_value());
  return *q;
}

struct ParseCase {
  std::string_view text;
  std::string_view nanos;
  Format format;
};

struct TextCase {
  std::string_view text;
  std::string_view canonical;
};

struct ScaleCase {
  std::string_view value, numerator, denominator;
  Resource resource;
  std::string_view expected;
};

}  // namespace

TEST_CASE("quantities parse to exact nano values and keep apimachinery's format", "[quantity]") {
  const auto row = GENERATE(values<ParseCase>({
      {"0", "0", Format::DecimalSI},
      {"0Ki", "0", Format::BinarySI},
      {"0.1", "100000000", Format::DecimalSI},
      {"250m", "250000000", Format::DecimalSI},
      {"100000000n", "100000000", Format::DecimalSI},
      {"-1", "-1000000000", Format::DecimalSI},
      {"+1", "1000000000", Format::DecimalSI},
      {"007", "7000000000", Format::DecimalSI},
      {"1k", "1000000000000", Format::DecimalSI},
      {"1Ki", "1024000000000", Format::BinarySI},
      {"1.5Gi", "1610612736000000000", Format::BinarySI},
      {"0.05Gi", "53687091200000000", Format::BinarySI},
      {"100.035Ki", "102435840000000", Format::BinarySI},  // fractional in units, still BinarySI
      {"1e3", "1000000000000", Format::DecimalExponent},
      {"1E-3", "1000000", Format::DecimalExponent},
      {"12e+6", "12000000000000000", Format::DecimalExponent},
      {"1.3E+6", "1300000000000000", Format::DecimalExponent},
      {"0.5e-2", "5000000", Format::DecimalExponent},
      {"0e99", "0", Format::DecimalExponent},
      {"12E", "12000000000000000000000000000", Format::DecimalSI},
      // apimachinery's "things written by trolls": accepted, and exact.
      {".001", "1000000", Format::DecimalSI},
      {"1.", "1000000000", Format::DecimalSI},
      {"1.G", "1000000000000000000", Format::DecimalSI},
      {".0001k", "100000000", Format::DecimalSI},
      // Finer than 1n rounds up (away from zero, as ParseQuantity rounds the magnitude).
      {"0.0000000001", "1", Format::DecimalSI},
      {"1.0000000001", "1000000001", Format::DecimalSI},
      {"-0.0000000001", "-1", Format::DecimalSI},
      {"3.001n", "4", Format::DecimalSI},
      {"0.9n", "1", Format::DecimalSI},
      {"1.1E-9", "2", Format::DecimalExponent},
      {"0.00000012345", "124", Format::DecimalSI},
      {"1e-100", "1", Format::DecimalExponent},
      // A binary quantity below one unit is demoted to DecimalSI when parsed.
      {"0.000000000001Ki", "2", Format::DecimalSI},
      // Any number of digits stays exact, including carries out of the discarded digits.
      {"1.00000000000000000000000000000000000000001", "1000000001", Format::DecimalSI},
      {"0.99999999999999999999999999999999999999999Ki", "1024000000000", Format::BinarySI},
      {"0000000000000000000000000000000000000000001", "1000000000", Format::DecimalSI},
      // The Int128 limits, exactly; apimachinery would cap 8Ei at 2^63-1 bytes, we keep it exact.
      {"8Ei", "9223372036854775808000000000", Format::BinarySI},
      {"170141183460469231731687303715.884105727", "170141183460469231731687303715884105727",
       Format::DecimalSI},
      {"-170141183460469231731687303715.884105727", "-170141183460469231731687303715884105727",
       Format::DecimalSI},
  }));
  CAPTURE(row.text);
  const Quantity q = parsed(row.text);
  CHECK(nanos_text(q.nanos()) == row.nanos);
  CHECK(format_name(q.format()) == format_name(row.format));
}

TEST_CASE("junk and out-of-range quantities are rejected with a one-line reason", "[quantity]") {
  const auto text = GENERATE(values<std::string_view>({
      "", " ", "1 Gi", " 1", "1 ", "1\n", std::string_view("1\0", 2), "1gi", "1KB", "1Mii", "1.5.3",
      "--1", "+-1", "1e", "e3", ".", "-", "+", "Gi", "1i", ".5i", "-3.01i", "-3.01e-", "1e+", "1ee3",
      "1e3i", "1E3.5", "1k3", "0x10", "1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", "1Ki ", "１",
      // Out of range: beyond Int128 nanos (about 1.7e29 units), or an exponent beyond int32.
      "1e40", "-1e40", "99999999999999999999999999999999E", "200000000000000000000000000000",
      "170141183460469231731687303715.884105728", "170141183460469231731687303715.8841057271",
      "1e2147483648", "1e99999999999999999999",
  }));
  CAPTURE(text);
  std::string error;
  CHECK_FALSE(Quantity::parse(text, &error).has_value());
  CHECK(error.rfind("quantity \"", 0) == 0);
  CHECK(error.find('\n') == std::string::npos);
  CHECK(error.find('\0') == std::string::npos);
  CHECK_FALSE(Quantity::parse(text).has_value());  // and no error string is needed
}

TEST_CASE("parse errors say what is wrong", "[quantity]") {
  const auto [text, message] = GENERATE(table<std::string_view, std::string_view>({
      {"1.5.3", R"(quantity "1.5.3": unexpected character '.')"},
      {"1 Gi", R"(quantity "1 Gi": unexpected character ' ')"},
      {"1KB", R"(quantity "1KB": unknown suffix 'KB')"},
      {"", R"(quantity "": empty)"},
      {"e3", R"(quantity "e3": expected a number)"},
      {"1e+", R"(quantity "1e+": missing exponent digits)"},
      {"1e40", R"(quantity "1e40": out of range)"},
      {"1e2147483648", R"(quantity "1e2147483648": exponent out of range)"},
      {"1\n", R"(quantity "1\x0a": unexpected character '\x0a')"},
  }));
  std::string error;
  CHECK_FALSE(Quantity::parse(text, &error));
  CHECK(error == message);
}

TEST_CASE("a very long quantity is shown truncated in the error", "[quantity]") {
  const std::string text = "1" + std::string(500, '0') + "x";
  std::string error;
  CHECK_FALSE(Quantity::parse(text, &error));
  CHECK(error.size() < 120);
  CHECK(error.find("...") != std::string::npos);
}

TEST_CASE("to_string writes the canonical form the API server writes", "[quantity]") {
  const auto row = GENERATE(values<TextCase>({
      {"0", "0"}, {"0Ki", "0"}, {"0e3", "0"}, {"-0", "0"},
      // DecimalSI: the largest SI suffix that keeps an integer mantissa.
      {"1000m", "1"}, {"0.1", "100m"}, {"1.5", "1500m"}, {"2", "2"}, {"1000", "1k"},
      {"100M", "100M"}, {"1000M", "1G"}, {"100000000n", "100m"}, {"262144k", "262144k"},
      {"1330054185", "1330054185"}, {"7516192768", "7516192768"}, {"1.08", "1080m"},
      {"0.00108", "1080u"}, {"1E", "1E"}, {"120E", "120E"}, {"1000E", "1e21"},
      {"9223372036854775807", "9223372036854775807"},
      // BinarySI: whole units of at least 1Ki take the largest power-of-1024 suffix.
      {"1024Mi", "1Gi"}, {"1.5Gi", "1536Mi"}, {"1025Ki", "1025Ki"}, {"1Ki", "1Ki"},
      {"1000Ki", "1000Ki"},
      // A whole number of at least 1Ki that is no multiple of 1Ki is written bare, as the API
      // server writes it; "64000" then reads back as DecimalSI, whose text is "64k".
      {"62.5Ki", "64000"},
      {"300Mi", "300Mi"}, {"1001Gi", "1001Gi"}, {"1024Gi", "1Ti"}, {"8Ei", "8Ei"}, {"1024Ei", "1024Ei"},
      // ... and anything else falls back to DecimalSI.
      {"0.5Ki", "512"}, {"0.9765625Ki", "1k"}, {"1.0009765625Ki", "1025"},
      {"100.035Ki", "102435840m"}, {".001Ki", "1024m"},
      {".000001Ki", "1024u"}, {".000000001Ki", "1024n"}, {".000000000001Ki", "2n"},
      // DecimalExponent: an exponent that is a multiple of 3, none at 10^0.
      {"1e3", "1e3"}, {"1.5e3", "1500"}, {"1.2e3", "1200"}, {"12e+6", "12e6"}, {"1E-3", "1e-3"},
      {"80e-3", "80e-3"}, {"1.5e-3", "1500e-6"}, {"1e9", "1e9"}, {".001e12", "1e9"}, {"1e-9", "1e-9"},
      {"1000e-12", "1e-9"}, {"300e6", "300e6"}, {"1e0", "1"}, {"1e21", "1e21"},
  }));
  CAPTURE(row.text);
  const Quantity q = parsed(row.text);
  CHECK(q.to_string() == row.canonical);
  // The canonical text parses back to the same value.
  CHECK(parsed(q.to_string()) == q);
  // apimachinery's TestQuantityString: the negated value prints with a leading '-'.
  if (!q.is_zero()) {
    CHECK(Quantity(-q.nanos(), q.format()).to_string() == "-" + std::string(row.canonical));
  }
  std::string out = "value=";
  q.append_to(out);
  CHECK(out == "value=" + std::string(row.canonical));
}

TEST_CASE("constructed quantities print like NewQuantity and NewMilliQuantity", "[quantity]") {
  CHECK(Quantity::from_units(1).to_string() == "1");
  CHECK(Quantity::from_units(1000).to_string() == "1k");
  CHECK(Quantity::from_units(1234000).to_string() == "1234k");
  CHECK(Quantity::from_units(1024, Format::BinarySI).to_string() == "1Ki");
  CHECK(Quantity::from_units(1024 * 1024, Format::BinarySI).to_string() == "1Mi");
  CHECK(Quantity::from_units(1000000, Format::DecimalExponent).to_string() == "1e6");
  CHECK(Quantity::from_milli(1).to_string() == "1m");
  CHECK(Quantity::from_milli(1000).to_string() == "1");
  CHECK(Quantity::from_milli(1024, Format::BinarySI).to_string() == "1024m");
  CHECK(Quantity::from_milli(1024 * 1024, Format::BinarySI).to_string() == "1048576m");
  CHECK(Quantity::from_milli(1000000, Format::DecimalExponent).to_string() == "1e3");
  CHECK(Quantity::parse("7516192768")->with_format(Format::BinarySI).to_string() == "7Gi");
}

TEST_CASE("the extreme Int128 values format without overflow", "[quantity]") {
  CHECK(Quantity(kMax, Format::DecimalSI).to_string() == "170141183460469231731687303715884105727n");
  CHECK(Quantity(kMin, Format::DecimalSI).to_string() == "-170141183460469231731687303715884105728n");
  CHECK(Quantity(kMin, Format::BinarySI).to_string() == "-170141183460469231731687303715884105728n");
  CHECK(Quantity(kMax - kMax % kNanosPerMilli, Format::DecimalExponent).to_string() ==
        "170141183460469231731687303715884e-3");
  CHECK(Quantity(kMax - kMax % kNanosPerUnit, Format::DecimalExponent).to_string() ==
        "170141183460469231731687303715");
  std::string out(10, 'x');
  Quantity(kMin, Format::DecimalSI).append_to(out);
  CHECK(out == "xxxxxxxxxx-170141183460469231731687303715884105728n");
}

TEST_CASE("quantities compare by value, not by how they were written", "[quantity]") {
  CHECK(parsed("1Ki") == parsed("1024"));
  CHECK(parsed("1k") != parsed("1Ki"));
  CHECK(parsed("1k") < parsed("1Ki"));
  CHECK(parsed("1000m") == parsed("1"));
  CHECK(parsed("1e3") == parsed("1k"));
  CHECK(parsed("1Gi") == parsed("1073741824"));
  CHECK(parsed("500m") < parsed("1"));
  CHECK(parsed("-1") < parsed("0"));
  CHECK(parsed("0") == Quantity{});
  CHECK(parsed("10000T") > parsed("100Gi"));
}

TEST_CASE("cpu rounds up to whole millicores and memory to whole bytes", "[quantity]") {
  const auto [text, resource, expected] = GENERATE(table<std::string_view, Resource, std::string_view>({
      {"0.0001", Resource::Cpu, "1m"},
      {"1.0001", Resource::Cpu, "1001m"},
      {"250m", Resource::Cpu, "250m"},
      {"1", Resource::Cpu, "1"},
      {"0", Resource::Cpu, "0"},
      {"100000000n", Resource::Cpu, "100m"},
      {"-0.0015", Resource::Cpu, "-1m"},  // towards +infinity
      {"1.5", Resource::Memory, "2"},
      {"0.1", Resource::Memory, "1"},
      {"1Gi", Resource::Memory, "1Gi"},
      {"100.035Ki", Resource::Memory, "102436"},
      {"1.5e-3", Resource::Memory, "1"},
      {"-1.5", Resource::Memory, "-1"},
  }));
  CAPTURE(text);
  const Quantity q = parsed(text);
  const Quantity rounded = q.rounded_up(avw::core::rounding_step(resource));
  CHECK(rounded.to_string() == expected);
  CHECK(rounded.format() == q.format());
}

TEST_CASE("rounding up at the Int128 limit keeps the largest multiple that fits", "[quantity]") {
  const Quantity top(kMax, Format::DecimalSI);
  CHECK(top.rounded_up(kNanosPerUnit).nanos() == kMax - kMax % kNanosPerUnit);
  const Quantity bottom(kMin, Format::DecimalSI);
  CHECK(bottom.rounded_up(kNanosPerUnit).nanos() == kMin - kMin % kNanosPerUnit);
  CHECK(top.rounded_up(1).nanos() == kMax);
  CHECK(top.rounded_up(0).nanos() == kMax);
}

TEST_CASE("scaled multiplies by a ratio exactly and rounds up to the resource step", "[quantity]") {
  const auto row = GENERATE(values<ScaleCase>({
      // A limit of 2Gi for a 1Gi request follows a new 600Mi request to 1200Mi.
      {"2Gi", "600Mi", "1Gi", Resource::Memory, "1200Mi"},
      {"1", "333m", "1000m", Resource::Cpu, "333m"},
      {"1", "1m", "3m", Resource::Cpu, "334m"},
      {"1", "1m", "3m", Resource::Memory, "1"},
      {"-1", "1m", "3m", Resource::Cpu, "-333m"},
      {"1", "-1m", "3m", Resource::Cpu, "-333m"},
      {"-1", "-1m", "3m", Resource::Cpu, "334m"},
      {"0", "5", "3", Resource::Cpu, "0"},
      {"4", "0", "3", Resource::Cpu, "0"},
      {"500m", "3", "2", Resource::Cpu, "750m"},
      // Products that overflow 128 bits in nanos, with results that fit.
      {"64Gi", "48Gi", "32Gi", Resource::Memory, "96Gi"},
      {"100Gi", "77Gi", "30Gi", Resource::Memory, "275593734827"},
      {"123456789012.345678901", "98765432109.876543211", "99999999999.999999997", Resource::Cpu,
       "121932631137022m"},
      {"-123456789012.345678901", "98765432109.876543211", "99999999999.999999997", Resource::Cpu,
       "-121932631137021m"},
  }));
  CAPTURE(row.value, row.numerator, row.denominator);
  const Quantity value = parsed(row.value);
  const auto result = value.scaled(parsed(row.numerator), parsed(row.denominator),
                                   avw::core::rounding_step(row.resource));
  REQUIRE(result.has_value());
  CHECK(result->to_string() == row.expected);
  CHECK(result->format() == value.format());
}

TEST_CASE("scaled rounds an inexact ratio up even without a rounding step", "[quantity]") {
  const auto third = parsed("1").scaled(parsed("1n"), parsed("3n"), 1);
  REQUIRE(third);
  CHECK(third->to_string() == "333333334n");
  const auto minus_third = parsed("-1").scaled(parsed("1n"), parsed("3n"), 1);
  REQUIRE(minus_third);
  CHECK(minus_third->to_string() == "-333333333n");
}

TEST_CASE("scaled refuses a zero or negative denominator and results that do not fit", "[quantity]") {
  const Quantity one = parsed("1");
  CHECK_FALSE(one.scaled(one, parsed("0"), kNanosPerMilli));
  CHECK_FALSE(one.scaled(one, parsed("-1"), kNanosPerMilli));
  CHECK_FALSE(parsed("100E").scaled(parsed("100E"), one, kNanosPerUnit));
  CHECK_FALSE(parsed("1e29").scaled(parsed("10"), one, kNanosPerUnit));
  CHECK_FALSE(Quantity(kMin, Format::DecimalSI).scaled(parsed("-1"), one, 1));
  // The exact result fits, but rounding it up to the next whole unit would not.
  const Quantity top(kMax, Format::DecimalSI);
  CHECK_FALSE(top.scaled(one, one, kNanosPerUnit));
  REQUIRE(top.scaled(one, one, 1));
  CHECK(top.scaled(one, one, 1)->nanos() == kMax);
  REQUIRE(Quantity(kMin, Format::DecimalSI).scaled(one, one, 1));
  CHECK(Quantity(kMin, Format::DecimalSI).scaled(one, one, 1)->nanos() == kMin);
}

TEST_CASE("only cpu and memory are resources", "[quantity]") {
  CHECK(avw::core::resource_from_string("cpu") == Resource::Cpu);
  CHECK(avw::core::resource_from_string("memory") == Resource::Memory);
  const auto other = GENERATE(values<std::string_view>({"", "CPU", "Memory", "cpu ", "ephemeral-storage",
                                                         "nvidia.com/gpu", "hugepages-2Mi"}));
  CAPTURE(other);
  CHECK_FALSE(avw::core::resource_from_string(other).has_value());
}

TEST_CASE("resource names round-trip and have their rounding step", "[quantity]") {
  for (const Resource r : avw::core::kResources) {
    CHECK(avw::core::resource_from_string(avw::core::to_string(r)) == r);
  }
  CHECK(avw::core::rounding_step(Resource::Cpu) == kNanosPerMilli);
  CHECK(avw::core::rounding_step(Resource::Memory) == kNanosPerUnit);
}

TEST_CASE("a quantity keeps every 128-bit value exactly, and orders by it", "[quantity]") {
  using avw::core::Int128;
  using avw::core::Quantity;
  constexpr Int128 kMax = std::numeric_limits<Int128>::max();
  constexpr Int128 kMin = std::numeric_limits<Int128>::min();
  const Int128 bit32 = Int128{1} << 32;
  const Int128 bit64 = Int128{1} << 64;
  const Int128 bit96 = Int128{1} << 96;
  auto value = GENERATE_COPY(Int128{0}, Int128{1}, Int128{-1}, bit32 - 1, bit32, -bit32, bit64 - 1, bit64, -bit64,
                             bit96, -bit96 - 1, kMax, kMin, kMax - 1, kMin + 1);
  const Quantity q(value, Quantity::Format::BinarySI);
  CHECK((q.nanos() == value));
  CHECK(q.format() == Quantity::Format::BinarySI);
  CHECK(q.is_zero() == (value == 0));
  CHECK(q.is_negative() == (value < 0));
  CHECK((q.with_format(Quantity::Format::DecimalSI).nanos() == q.nanos()));
  if (value != kMax) {
    CHECK(q < Quantity(value + 1, Quantity::Format::DecimalSI));
    CHECK(q != Quantity(value + 1, Quantity::Format::BinarySI));
  }
}
