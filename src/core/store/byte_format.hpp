// File: byte_format.hpp (private to the store)
//
// The byte format of the store's packed records: LEB128 varints, length-prefixed strings and
// quantities as (format, sign, decimal exponent, varint mantissa). A typical cpu or memory
// value takes 3 to 7 bytes instead of the 24 of an optional<Quantity>, and every value a
// Quantity can hold round-trips exactly. That is most of why 100,000 tasks fit in a small
// RSS. Writer and Reader are inline: every lookup on the admission path reads records through
// them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "avw/core/quantity.hpp"
#include "avw/core/resources.hpp"

namespace avw::core::packed {

/// The most bytes a varint of 128 bits takes.
inline constexpr std::size_t kMaxVarint = 19;

/// Writes `v` as a LEB128 varint at `out`; returns the end.
inline char* put_varint(char* out, UInt128 v) {
  while (v >= 0x80) {
    *out++ = static_cast<char>(static_cast<std::uint8_t>(v) | 0x80);
    v >>= 7;
  }
  *out++ = static_cast<char>(v);
  return out;
}

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void varint(UInt128 v) {
    char bytes[kMaxVarint];
    out_.append(bytes, static_cast<std::size_t>(put_varint(bytes, v) - bytes));
  }
  void i64(std::int64_t v) {
    char bytes[sizeof v];
    std::memcpy(bytes, &v, sizeof v);
    out_.append(bytes, sizeof v);
  }
  void string(std::string_view s) {
    varint(s.size());
    out_.append(s);
  }

  // Header byte: format (2 bits), sign (1 bit), decimal exponent (5 bits); then the mantissa.
  // nanos = (sign ? -1 : 1) * mantissa * 10^exponent.
  void quantity(const Quantity& q) {
    const bool negative = q.is_negative();
    UInt128 magnitude = negative ? UInt128{0} - static_cast<UInt128>(q.nanos()) : static_cast<UInt128>(q.nanos());
    unsigned exponent = 0;
    while (magnitude != 0 && magnitude % 10 == 0 && exponent < 31) {
      magnitude /= 10;
      ++exponent;
    }
    u8(static_cast<std::uint8_t>(static_cast<unsigned>(q.format()) | (negative ? 4U : 0U) | exponent << 3));
    varint(magnitude);
  }

  /// A presence mask (bit i: value i present) and the present values, for up to 8 values.
  template <std::size_t N>
  void values(const std::array<const ResourceValues*, N>& lists) {
    static_assert(N * 2 <= 8);
    std::uint8_t mask = 0;
    for (std::size_t i = 0; i < N; ++i) {
      for (std::size_t r = 0; r < 2; ++r) {
        if (lists[i]->values[r]) mask = static_cast<std::uint8_t>(mask | 1U << (i * 2 + r));
      }
    }
    u8(mask);
    for (std::size_t i = 0; i < N; ++i) {
      for (std::size_t r = 0; r < 2; ++r) {
        if (lists[i]->values[r]) quantity(*lists[i]->values[r]);
      }
    }
  }

 private:
  std::string& out_;
};

class Reader {
 public:
  explicit Reader(const char* p) : p_(p) {}
  const char* position() const { return p_; }

  std::uint8_t u8() { return static_cast<std::uint8_t>(*p_++); }
  UInt128 varint() {
    UInt128 v = 0;
    unsigned shift = 0;
    for (;;) {
      const auto byte = static_cast<std::uint8_t>(*p_++);
      v |= UInt128{byte & 0x7FU} << shift;
      if ((byte & 0x80U) == 0) return v;
      shift += 7;
    }
  }
  std::size_t size() { return static_cast<std::size_t>(varint()); }
  std::int64_t i64() {
    std::int64_t v = 0;
    std::memcpy(&v, p_, sizeof v);
    p_ += sizeof v;
    return v;
  }
  std::string_view string() {
    const std::size_t n = size();
    const std::string_view s(p_, n);
    p_ += n;
    return s;
  }
  void skip(std::size_t n) { p_ += n; }

  Quantity quantity() {
    const std::uint8_t header = u8();
    UInt128 value = varint();
    for (unsigned e = header >> 3; e > 0; --e) value *= 10;
    if ((header & 4U) != 0) value = UInt128{0} - value;
    return {static_cast<Int128>(value), static_cast<Quantity::Format>(header & 3U)};
  }

  template <std::size_t N>
  void values(const std::array<ResourceValues*, N>& lists) {
    const std::uint8_t mask = u8();
    for (std::size_t i = 0; i < N; ++i) {
      for (std::size_t r = 0; r < 2; ++r) {
        if ((mask & 1U << (i * 2 + r)) != 0) lists[i]->values[r] = quantity();
      }
    }
  }

 private:
  const char* p_;
};

}  // namespace avw::core::packed
