// File: quantity.hpp
//
// Kubernetes resource quantities (`250m`, `1.5Gi`, `1e3`, `100000000n`), exact.
//
// A Quantity is an integer number of nano-units (10^-9) held in 128 bits, plus the
// format it was written in, exactly like apimachinery's resource.Quantity keeps a
// scaled value and a Format. Parsing follows apimachinery's grammar (sign, digits,
// optional fraction, then a binary suffix, a decimal SI suffix or a decimal exponent);
// precision finer than 1n is rounded up, as the API server does. Values whose
// magnitude does not fit (about 1.7e29 units) are rejected rather than approximated.
// No floating point is used anywhere.
//
//   auto q = avw::core::Quantity::parse("1.5Gi");          // 1610612736 bytes, BinarySI
//   q->to_string() == "1536Mi"
//   avw::core::Quantity::parse("0.1")->to_string() == "100m"
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace avw::core {

__extension__ using Int128 = __int128;
__extension__ using UInt128 = unsigned __int128;

/// Nano-units per unit, per milli-unit.
inline constexpr Int128 kNanosPerUnit = 1'000'000'000;
inline constexpr Int128 kNanosPerMilli = 1'000'000;

class Quantity {
 public:
  /// How a quantity is written back; kept from the parsed text (apimachinery's Format).
  enum class Format : std::uint8_t { DecimalSI, BinarySI, DecimalExponent };

  constexpr Quantity() = default;
  constexpr Quantity(Int128 nanos, Format format) : words_(pack(nanos)), format_(format) {}

  /// Parses a quantity string. On failure returns nullopt and, when `error` is given,
  /// a one-line reason (e.g. `quantity "1.5.3": unexpected character '.'`).
  static std::optional<Quantity> parse(std::string_view text, std::string* error = nullptr);

  static constexpr Quantity from_milli(std::int64_t milli, Format f = Format::DecimalSI) {
    return {Int128{milli} * kNanosPerMilli, f};
  }
  static constexpr Quantity from_units(std::int64_t units, Format f = Format::DecimalSI) {
    return {Int128{units} * kNanosPerUnit, f};
  }

  constexpr Int128 nanos() const {
    return static_cast<Int128>(UInt128{words_[3]} << 96 | UInt128{words_[2]} << 64 | UInt128{words_[1]} << 32 |
                               UInt128{words_[0]});
  }
  constexpr Format format() const { return format_; }
  constexpr bool is_zero() const { return words_ == Words{}; }
  constexpr bool is_negative() const { return (words_[3] >> 31) != 0; }

  /// Same value, another output format.
  constexpr Quantity with_format(Format f) const {
    Quantity out = *this;
    out.format_ = f;
    return out;
  }

  /// Rounds up (towards +infinity) to a multiple of `step_nanos`
  /// (kNanosPerMilli for cpu, kNanosPerUnit for memory).
  Quantity rounded_up(Int128 step_nanos) const;

  /// Direction of rounding in scaled(): towards +infinity or towards -infinity.
  enum class Rounding : std::uint8_t { Up, Down };

  /// value * numerator / denominator, exact, then rounded to a multiple of `step_nanos`
  /// (up by default), keeping this quantity's format. nullopt on a zero or negative
  /// denominator or when the result does not fit.
  std::optional<Quantity> scaled(const Quantity& numerator, const Quantity& denominator, Int128 step_nanos,
                                 Rounding rounding = Rounding::Up) const;

  /// Canonical text as the API server writes it: the largest suffix that keeps the value
  /// an integer (`1500m`, `2`, `512Mi`, `1073741825`, `1e3`). BinarySI values below 1024 or
  /// not a whole number of units fall back to DecimalSI, as in apimachinery.
  std::string to_string() const;
  /// Appends to_string() to `out` (no temporary string on the hot path).
  void append_to(std::string& out) const;

  friend constexpr bool operator==(const Quantity& a, const Quantity& b) { return a.words_ == b.words_; }
  friend constexpr std::strong_ordering operator<=>(const Quantity& a, const Quantity& b) {
    return a.nanos() <=> b.nanos();
  }

 private:
  // The value as four 32-bit words, low first, rather than one __int128: a Quantity is then
  // 4-byte aligned and 20 bytes instead of 32, an optional one 24 instead of 48, and a
  // ResourceValues 48 instead of 96. The store holds ten of those per task.
  using Words = std::array<std::uint32_t, 4>;
  static constexpr Words pack(Int128 nanos) {
    const auto bits = static_cast<UInt128>(nanos);
    return {static_cast<std::uint32_t>(bits), static_cast<std::uint32_t>(bits >> 32),
            static_cast<std::uint32_t>(bits >> 64), static_cast<std::uint32_t>(bits >> 96)};
  }

  Words words_{};
  Format format_ = Format::DecimalSI;
};

}  // namespace avw::core
