// Fuzzes core::Quantity: parse, to_string, rounded_up and scaled.
//
// Input: up to three lines, `quantity[\nnumerator\ndenominator]`. Checked for every input:
//   - a parse failure explains itself; a parsed value prints canonically, and the canonical text
//     parses back to the same value and prints the same again (the patch writes that text and
//     the API server parses it);
//   - rounded_up gives the smallest multiple of the step that is >= the value (or, only within
//     one step of the Int128 limit, the largest multiple that fits);
//   - scaled equals value * numerator / denominator computed directly, whenever that product
//     fits in 128 bits (the code under test never forms it: it must not need to).
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "avw/core/quantity.hpp"
#include "fuzz_support.hpp"

using avw::core::Int128;
using avw::core::Quantity;
using avw::fuzz::fuzz_require;

namespace {

constexpr Int128 kInt128Min = std::numeric_limits<Int128>::min();
constexpr Int128 kSteps[] = {1, avw::core::kNanosPerMilli, avw::core::kNanosPerUnit};

// Reference arithmetic, written independently of quantity.cpp: plain floor/ceil division on a
// product that is known to fit. nullopt when a step of it leaves Int128.
std::optional<Int128> floor_div(Int128 a, Int128 b) {
  if (a == kInt128Min && b == -1) return std::nullopt;
  const Int128 q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
std::optional<Int128> ceil_div(Int128 a, Int128 b) {
  if (a == kInt128Min && b == -1) return std::nullopt;
  const Int128 q = a / b;
  return (a % b != 0 && ((a < 0) == (b < 0))) ? q + 1 : q;
}
std::optional<Int128> times(std::optional<Int128> a, Int128 b) {
  Int128 out = 0;
  if (!a || __builtin_mul_overflow(*a, b, &out)) return std::nullopt;
  return out;
}

std::string show(const Quantity& q) { return q.to_string(); }

void check_round_trip(std::string_view text, const Quantity& q) {
  const std::string canonical = q.to_string();
  std::string appended = "x";
  q.append_to(appended);
  fuzz_require(appended == "x" + canonical, "append_to differs from to_string", canonical);
  fuzz_require(!canonical.empty() && canonical.size() <= 64, "canonical text has an odd length", canonical);

  std::string error;
  const auto again = Quantity::parse(canonical, &error);
  fuzz_require(again.has_value(), "canonical text does not parse", canonical + " <- " + std::string(text));
  fuzz_require(*again == q, "canonical text parses to another value", canonical + " <- " + std::string(text));
  // The text keeps the format but for one case, as in apimachinery: a BinarySI whole number
  // of at least 1Ki that is no multiple of 1Ki is written without a suffix, and that reads
  // back as DecimalSI ("62.5Ki" is "64000", which is "64k"). From there the text is stable.
  const std::string second = again->to_string();
  const bool binary_without_suffix = q.format() == Quantity::Format::BinarySI &&
                                     again->format() == Quantity::Format::DecimalSI;
  fuzz_require(second == canonical || binary_without_suffix, "canonical text is not a fixed point",
               canonical + " -> " + second);
  fuzz_require(Quantity::parse(second)->to_string() == second, "canonical text is not stable after a round",
               second);
}

void check_rounded_up(const Quantity& q) {
  for (Int128 step : kSteps) {
    const Quantity r = q.rounded_up(step);
    fuzz_require(r.format() == q.format(), "rounded_up changed the format", show(q));
    fuzz_require(r.nanos() % step == 0, "rounded_up is not a multiple of the step", show(q) + " -> " + show(r));
    if (r >= q) {
      fuzz_require(r.nanos() - q.nanos() < step, "rounded_up went past the next multiple", show(q) + " -> " + show(r));
    } else {
      // The documented exception: the next multiple does not fit, so the one below is kept.
      Int128 next = 0;
      fuzz_require(__builtin_add_overflow(r.nanos(), step, &next), "rounded_up went down although it fits",
                   show(q) + " -> " + show(r));
      fuzz_require(q.nanos() - r.nanos() < step, "rounded_up fell more than a step", show(q) + " -> " + show(r));
    }
  }
}

void check_scaled(const Quantity& q, const Quantity& num, const Quantity& den) {
  using Rounding = Quantity::Rounding;
  for (Int128 step : kSteps) {
    for (Rounding rounding : {Rounding::Up, Rounding::Down}) {
      const auto got = q.scaled(num, den, step, rounding);
      const std::string what = show(q) + " * " + show(num) + " / " + show(den);
      if (den.nanos() <= 0) {
        fuzz_require(!got.has_value(), "scaled accepted a denominator <= 0", what);
        continue;
      }
      if (got) {
        fuzz_require(got->format() == q.format(), "scaled changed the format", what);
        fuzz_require(got->nanos() % step == 0, "scaled is not a multiple of the step", what + " = " + show(*got));
      }
      Int128 product = 0;
      if (__builtin_mul_overflow(q.nanos(), num.nanos(), &product)) continue;  // no cheap reference
      std::optional<Int128> expected;
      if (rounding == Rounding::Up) {
        expected = times(ceil_div(*ceil_div(product, den.nanos()), step), step);
      } else {
        expected = times(floor_div(*floor_div(product, den.nanos()), step), step);
      }
      if (!expected) {
        fuzz_require(!got.has_value(), "scaled returned a value that cannot fit", what);
        continue;
      }
      fuzz_require(got.has_value(), "scaled refused a result that fits", what);
      fuzz_require(got->nanos() == *expected, "scaled is not exact",
                   what + " = " + show(*got) + ", expected " + show(Quantity(*expected, q.format())) +
                       (rounding == Rounding::Up ? " (up)" : " (down)"));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = avw::fuzz::as_view(data, size);
  std::vector<std::string_view> lines;
  std::size_t begin = 0;
  while (lines.size() < 3) {
    const std::size_t nl = input.find('\n', begin);
    lines.push_back(input.substr(begin, nl == std::string_view::npos ? std::string_view::npos : nl - begin));
    if (nl == std::string_view::npos) break;
    begin = nl + 1;
  }

  std::vector<std::optional<Quantity>> parsed;
  for (std::string_view line : lines) {
    std::string error;
    auto q = Quantity::parse(line, &error);
    if (q) {
      check_round_trip(line, *q);
      check_rounded_up(*q);
    } else {
      fuzz_require(!error.empty(), "parse failed without a reason", line);
      // The reason goes into a one-line log and a 400 body: bounded (the text and the bad part
      // are each cut at 64 bytes, escaped to at most 4 bytes apiece) and on one line.
      fuzz_require(error.size() <= 640, "parse error is unbounded", error);
      for (char c : error) fuzz_require(c != '\n' && c != '\r', "parse error spans lines", error);
    }
    parsed.push_back(q);
  }

  if (parsed.size() == 3 && parsed[0] && parsed[1] && parsed[2]) {
    check_scaled(*parsed[0], *parsed[1], *parsed[2]);
  } else if (parsed[0]) {
    // A single quantity still exercises scaled: by itself over one, and by one over itself.
    const Quantity one = Quantity::from_units(1);
    check_scaled(*parsed[0], *parsed[0], one);
    check_scaled(one, one, *parsed[0]);
  }
  return 0;
}
