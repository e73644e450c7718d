#include "avw/core/quantity.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>

namespace avw::core {
namespace {

constexpr Int128 kInt128Max = std::numeric_limits<Int128>::max();
constexpr int kMaxPow10 = 38;  // 10^38 < 2^127 < 10^39

constexpr std::array<Int128, kMaxPow10 + 1> make_pow10() {
  std::array<Int128, kMaxPow10 + 1> out{};
  out[0] = 1;
  for (std::size_t i = 1; i < out.size(); ++i) out[i] = out[i - 1] * 10;
  return out;
}
constexpr auto kPow10 = make_pow10();

/// A suffix multiplies the number by 10^exp10 * 2^exp2.
struct Suffix {
  std::string_view text;
  int exp10;
  int exp2;
};
constexpr std::array<Suffix, 16> kSuffixes = {{
    {"n", -9, 0}, {"u", -6, 0}, {"m", -3, 0}, {"", 0, 0}, {"k", 3, 0}, {"M", 6, 0},
    {"G", 9, 0}, {"T", 12, 0}, {"P", 15, 0}, {"E", 18, 0}, {"Ki", 0, 10}, {"Mi", 0, 20},
    {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
}};
constexpr std::array<std::string_view, 10> kDecimalSuffixes = {"n", "u", "m", "", "k",
                                                               "M", "G", "T", "P", "E"};
constexpr std::array<std::string_view, 7> kBinarySuffixes = {"",   "Ki", "Mi", "Gi",
                                                              "Ti", "Pi", "Ei"};

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Untrusted text goes into a one-line message: bounded, with control and non-ASCII bytes escaped.
void append_escaped(std::string& out, std::string_view text) {
  constexpr std::size_t kMaxShown = 64;
  for (std::size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x20 && byte < 0x7f && byte != '"' && byte != '\\') {
      out += text[i];
    } else {
      constexpr std::string_view kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  if (text.size() > kMaxShown) out += "...";
}

std::nullopt_t fail(std::string* error, std::string_view text, std::string_view reason,
                    std::string_view detail = {}) {
  if (error != nullptr) {
    *error = "quantity \"";
    append_escaped(*error, text);
    *error += "\": ";
    *error += reason;
    if (!detail.empty()) {
      *error += " '";
      append_escaped(*error, detail);
      *error += '\'';
    }
  }
  return std::nullopt;
}

constexpr UInt128 magnitude(Int128 v) {
  return v < 0 ? -static_cast<UInt128>(v) : static_cast<UInt128>(v);
}

// ceil(value / step) * step; nullopt when that passes the Int128 limit.
std::optional<Int128> ceil_to_step(Int128 value, Int128 step) {
  if (step <= 1) return value;
  const Int128 rem = value % step;
  // C++ division truncates, so a negative value already moves towards +infinity by dropping rem.
  if (rem <= 0) return value - rem;
  Int128 out = 0;
  if (__builtin_add_overflow(value, step - rem, &out)) return std::nullopt;
  return out;
}

// floor(value / step) * step; nullopt when that passes the Int128 limit.
std::optional<Int128> floor_to_step(Int128 value, Int128 step) {
  if (step <= 1) return value;
  const Int128 rem = value % step;
  if (rem >= 0) return value - rem;
  Int128 out = 0;
  if (__builtin_sub_overflow(value - rem, step, &out)) return std::nullopt;
  return out;
}

// floor(a * b / d) and its remainder, for a < d <= 2^127, without a 256-bit product: shift-and-add
// over the bits of b, keeping the running remainder below d so that 2 * rem never wraps.
std::pair<UInt128, UInt128> mul_div(UInt128 a, UInt128 b, UInt128 d) {
  UInt128 quot = 0;
  UInt128 rem = 0;
  const auto reduce = [&] {
    if (rem >= d) {
      rem -= d;
      ++quot;
    }
  };
  for (int bit = 127; bit >= 0; --bit) {
    quot <<= 1;
    rem <<= 1;
    reduce();
    if (((b >> bit) & 1) != 0) {
      rem += a;
      reduce();
    }
  }
  return {quot, rem};
}

struct Text {
  std::array<char, 64> data{};
  std::size_t size = 0;
  void append(std::string_view s) {
    for (char c : s) data[size++] = c;
  }
  template <class Unsigned>
  void append_number(Unsigned v) {
    std::array<char, 40> digits{};
    std::size_t n = 0;
    do {
      digits[n++] = static_cast<char>('0' + static_cast<int>(v % 10));
      v /= 10;
    } while (v != 0);
    while (n > 0) data[size++] = digits[--n];
  }
  void append_exponent(int exp) {
    append("e");
    if (exp < 0) append("-");
    append_number(static_cast<unsigned>(exp < 0 ? -exp : exp));
  }
};

// apimachinery's CanonicalizeBytes: the largest suffix that keeps an integer mantissa. In the
// narrowest type that holds the magnitude: 128-bit division is a library call, and nearly
// every quantity fits in 64 bits.
template <class Unsigned>
void append_canonical(Text& out, Unsigned mantissa, Quantity::Format format) {
  constexpr auto kUnit = static_cast<Unsigned>(kNanosPerUnit);
  // BinarySI below 1Ki or with a fraction of a unit is written as DecimalSI, like the API server.
  if (format == Quantity::Format::BinarySI && mantissa >= 1024 * kUnit && mantissa % kUnit == 0) {
    mantissa /= kUnit;
    std::size_t power = 0;
    for (; power + 1 < kBinarySuffixes.size() && mantissa % 1024 == 0; ++power) mantissa /= 1024;
    out.append_number(mantissa);
    out.append(kBinarySuffixes[power]);
    return;
  }
  int exp = -9;
  for (; mantissa % 10 == 0; ++exp) mantissa /= 10;
  // Restores at most two of the stripped zeros: no overflow in 128 bits, maybe in 64.
  int zeros = 0;
  for (; exp % 3 != 0; --exp) ++zeros;
  if (mantissa <= std::numeric_limits<Unsigned>::max() / 100) {
    for (; zeros > 0; --zeros) mantissa *= 10;
    out.append_number(mantissa);
  } else {
    UInt128 wide = mantissa;
    for (; zeros > 0; --zeros) wide *= 10;
    out.append_number(wide);
  }
  // DecimalSI has no suffix past E (10^18); apimachinery then falls back to an exponent.
  if (format != Quantity::Format::DecimalExponent && exp <= 18) {
    out.append(kDecimalSuffixes[static_cast<std::size_t>((exp + 9) / 3)]);
  } else if (exp != 0) {
    out.append_exponent(exp);
  }
}

Text canonical(Int128 nanos, Quantity::Format format) {
  Text out;
  if (nanos == 0) {
    out.append("0");
    return out;
  }
  if (nanos < 0) out.append("-");
  const UInt128 mantissa = magnitude(nanos);
  if (mantissa <= std::numeric_limits<std::uint64_t>::max()) {
    append_canonical(out, static_cast<std::uint64_t>(mantissa), format);
  } else {
    append_canonical(out, mantissa, format);
  }
  return out;
}

}  // namespace

std::optional<Quantity> Quantity::parse(std::string_view text, std::string* error) {
  if (text.empty()) return fail(error, text, "empty");
  std::size_t pos = (text[0] == '-' || text[0] == '+') ? 1 : 0;
  const bool negative = text[0] == '-';
  const std::size_t number_begin = pos;
  std::size_t digits = 0;
  std::size_t fraction_digits = 0;
  for (; pos < text.size() && is_digit(text[pos]); ++pos) ++digits;
  // apimachinery accepts "1." and ".5" (and so do we), but not a number without any digit.
  if (pos < text.size() && text[pos] == '.') {
    for (++pos; pos < text.size() && is_digit(text[pos]); ++pos) ++fraction_digits;
  }
  const std::size_t number_end = pos;
  if (digits + fraction_digits == 0) return fail(error, text, "expected a number");

  const std::string_view suffix = text.substr(pos);
  std::int64_t exp10 = 0;
  int exp2 = 0;
  Format format = Format::DecimalExponent;
  const Suffix* known = nullptr;
  for (const Suffix& s : kSuffixes) {
    if (s.text == suffix) known = &s;
  }
  if (known != nullptr) {
    exp10 = known->exp10;
    exp2 = known->exp2;
    format = exp2 > 0 ? Format::BinarySI : Format::DecimalSI;
  } else if (suffix.size() > 1 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    // Go's strconv.ParseInt grammar: optional sign, then decimal digits only.
    std::size_t i = (suffix[1] == '-' || suffix[1] == '+') ? 2 : 1;
    if (i == suffix.size()) return fail(error, text, "missing exponent digits");
    for (; i < suffix.size(); ++i) {
      if (!is_digit(suffix[i])) {
        return fail(error, text, "unexpected character", suffix.substr(i, 1));
      }
      exp10 = exp10 * 10 + (suffix[i] - '0');
      // apimachinery keeps the exponent in an int32; larger ones are not meaningful quantities.
      if (exp10 > std::numeric_limits<std::int32_t>::max()) {
        return fail(error, text, "exponent out of range");
      }
    }
    if (suffix[1] == '-') exp10 = -exp10;
  } else if (!suffix.empty() && !is_letter(suffix[0])) {
    return fail(error, text, "unexpected character", suffix.substr(0, 1));
  } else {
    return fail(error, text, "unknown suffix", suffix);
  }

  // Walk the digits right to left, multiplying by 2^exp2 on the way; each output digit lands at a
  // power of ten counted from 1n. Digits below 1n only mark the value inexact, so the work is
  // bounded by the input length (never by the exponent) and any number of digits stays exact.
  const std::uint64_t multiplier = std::uint64_t{1} << exp2;
  std::int64_t power = exp10 + 9 - static_cast<std::int64_t>(fraction_digits);
  Int128 value = 0;
  bool inexact = false;
  bool overflow = false;
  const auto emit = [&](std::uint64_t digit) {
    if (digit != 0 && power < 0) {
      inexact = true;
    } else if (digit != 0) {
      Int128 term = 0;
      overflow = overflow || power > kMaxPow10 ||
                 __builtin_mul_overflow(static_cast<Int128>(digit),
                                        kPow10[static_cast<std::size_t>(power)], &term) ||
                 __builtin_add_overflow(value, term, &value);
    }
    ++power;
  };
  std::uint64_t carry = 0;  // stays below multiplier <= 2^60, so digit * multiplier + carry < 2^64
  for (std::size_t i = number_end; i-- > number_begin;) {
    if (text[i] == '.') continue;
    const std::uint64_t x = static_cast<std::uint64_t>(text[i] - '0') * multiplier + carry;
    emit(x % 10);
    carry = x / 10;
  }
  for (; carry != 0; carry /= 10) emit(carry % 10);

  // Like ParseQuantity, round a finer-than-1n remainder away from zero: asking for a tiny
  // amount of a resource still gets some of it.
  if (inexact) overflow = overflow || __builtin_add_overflow(value, Int128{1}, &value);
  if (overflow) return fail(error, text, "out of range");
  // apimachinery demotes a binary quantity below one unit to DecimalSI when it parses it.
  if (format == Format::BinarySI && value != 0 && value < kNanosPerUnit) format = Format::DecimalSI;
  return Quantity{negative ? -value : value, format};
}

Quantity Quantity::rounded_up(Int128 step_nanos) const {
  if (auto v = ceil_to_step(nanos(), step_nanos)) return {*v, format_};
  // Only within one step of the Int128 limit: keep the largest multiple that fits rather than wrap.
  return {nanos() - nanos() % step_nanos, format_};
}

std::optional<Quantity> Quantity::scaled(const Quantity& numerator, const Quantity& denominator,
                                         Int128 step_nanos, Rounding rounding) const {
  if (denominator.nanos() <= 0) return std::nullopt;
  const UInt128 a = magnitude(nanos());
  const UInt128 b = magnitude(numerator.nanos());
  const UInt128 d = magnitude(denominator.nanos());
  // a*b/d = (a/d)*b + (a%d)*b/d: the first term overflowing means the result does, and the second
  // is computed without the 256-bit product that plain 2Gi * 600Mi in nanos would need.
  UInt128 whole = 0;
  if (__builtin_mul_overflow(a / d, b, &whole)) return std::nullopt;
  const auto [part, rem] = mul_div(a % d, b, d);
  UInt128 quot = 0;
  if (__builtin_add_overflow(whole, part, &quot)) return std::nullopt;
  const bool negative = (nanos() < 0) != (numerator.nanos() < 0);
  // The magnitude takes the remainder up when rounding away from zero: towards +infinity for a
  // positive result, towards -infinity for a negative one.
  const bool away_from_zero = negative == (rounding == Rounding::Down);
  if (away_from_zero && rem != 0 && __builtin_add_overflow(quot, UInt128{1}, &quot)) {
    return std::nullopt;
  }
  // Int128 holds one more negative magnitude than positive (-2^127).
  if (quot > static_cast<UInt128>(kInt128Max) + (negative ? 1 : 0)) return std::nullopt;
  const auto exact = static_cast<Int128>(negative ? -quot : quot);  // modular conversion, C++20
  const auto rounded =
      rounding == Rounding::Up ? ceil_to_step(exact, step_nanos) : floor_to_step(exact, step_nanos);
  if (!rounded) return std::nullopt;
  return Quantity{*rounded, format_};
}

std::string Quantity::to_string() const {
  const Text text = canonical(nanos(), format_);
  return std::string(text.data.data(), text.size);
}

void Quantity::append_to(std::string& out) const {
  const Text text = canonical(nanos(), format_);
  out.append(text.data.data(), text.size);
}

}  // namespace avw::core
