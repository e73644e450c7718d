#include "avw/core/base64.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace avw::core {
namespace {

constexpr std::array<char, 64> kBase64Alphabet = {
    'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', 'P',
    'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'a', 'b', 'c', 'd', 'e', 'f',
    'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't', 'u', 'v',
    'w', 'x', 'y', 'z', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '+', '/'};

// The 6-bit value of a base64 character, or -1 (padding included: callers handle '=').
int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

char base64_char(std::uint32_t group, unsigned shift) { return kBase64Alphabet[(group >> shift) & 0x3fU]; }

// The two characters of every 12-bit value, so a 3-byte group is two lookups instead of four
// (8 KiB; a patch is about a kilobyte of base64, in every response).
constexpr auto kBase64Pairs = [] {
  std::array<std::array<char, 2>, 4096> pairs{};
  for (std::size_t v = 0; v < pairs.size(); ++v) pairs[v] = {kBase64Alphabet[v >> 6], kBase64Alphabet[v & 0x3fU]};
  return pairs;
}();

}  // namespace

void append_base64(std::string& out, std::string_view data) {
  const std::size_t start = out.size();
  out.resize(start + (data.size() + 2) / 3 * 4);  // written once below: the zeros are cheap next to append per group
  char* to = out.data() + start;
  auto byte = [&](std::size_t i) { return std::uint32_t{static_cast<unsigned char>(data[i])}; };
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const std::uint32_t group = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    std::memcpy(to, kBase64Pairs[group >> 12].data(), 2);
    std::memcpy(to + 2, kBase64Pairs[group & 0xfffU].data(), 2);
    to += 4;
  }
  const std::size_t rest = data.size() - i;
  if (rest == 1) {
    const std::uint32_t group = byte(i) << 16;
    *to++ = base64_char(group, 18);
    *to++ = base64_char(group, 12);
    *to++ = '=';
    *to++ = '=';
  } else if (rest == 2) {
    const std::uint32_t group = byte(i) << 16 | byte(i + 1) << 8;
    *to++ = base64_char(group, 18);
    *to++ = base64_char(group, 12);
    *to++ = base64_char(group, 6);
    *to++ = '=';
  }
}

std::string base64_encode(std::string_view data) {
  std::string out;
  append_base64(out, data);
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  // Strict RFC 4648: padded to a multiple of 4, no whitespace, '=' only at the very end, and
  // the unused bits before the padding zero (section 3.5), so every byte string has exactly
  // one accepted encoding.
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const int a = sextet(text[i]);
    const int b = sextet(text[i + 1]);
    if (a < 0 || b < 0) return std::nullopt;
    std::uint32_t group = static_cast<std::uint32_t>(a) << 18 | static_cast<std::uint32_t>(b) << 12;
    if (last && text[i + 2] == '=') {
      if (text[i + 3] != '=' || (group & 0xffffU) != 0) return std::nullopt;
      out += static_cast<char>(group >> 16);
      break;
    }
    const int c = sextet(text[i + 2]);
    if (c < 0) return std::nullopt;
    group |= static_cast<std::uint32_t>(c) << 6;
    if (last && text[i + 3] == '=') {
      if ((group & 0xffU) != 0) return std::nullopt;
      out += static_cast<char>(group >> 16);
      out += static_cast<char>((group >> 8) & 0xffU);
      break;
    }
    const int d = sextet(text[i + 3]);
    if (d < 0) return std::nullopt;
    group |= static_cast<std::uint32_t>(d);
    out += static_cast<char>(group >> 16);
    out += static_cast<char>((group >> 8) & 0xffU);
    out += static_cast<char>(group & 0xffU);
  }
  return out;
}

}  // namespace avw::core
