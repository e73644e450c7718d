#include "avw/core/json_writer.hpp"

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace avw::core {
namespace {

// Eight bytes at a time: the index of the first that JSON must escape (a control character,
// '"' or '\\'), or 8. The usual SWAR tests; a byte's high bit set (UTF-8) never counts.
static_assert(std::endian::native == std::endian::little, "the first byte of a loaded word is its lowest");
std::size_t first_to_escape(std::uint64_t word) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  auto zero_byte = [](std::uint64_t v) { return (v - kOnes) & ~v & kHigh; };
  const std::uint64_t control = (word - 0x20 * kOnes) & ~word & kHigh;
  const std::uint64_t hit = control | zero_byte(word ^ ('"' * kOnes)) | zero_byte(word ^ ('\\' * kOnes));
  // The subtraction's borrows can mark a byte above a real hit, never one below it: the
  // lowest mark is exact.
  return hit == 0 ? 8 : static_cast<std::size_t>(std::countr_zero(hit)) / 8;
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  // Runs of characters that need no escape are appended whole; nearly every string is one run.
  std::size_t run = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    if (i + 8 <= text.size()) {
      std::uint64_t word;
      std::memcpy(&word, text.data() + i, 8);
      const std::size_t at = first_to_escape(word);
      i += at;
      if (at == 8) continue;
    } else {
      const auto c = static_cast<unsigned char>(text[i]);
      if (c >= 0x20 && c != '"' && c != '\\') {
        ++i;
        continue;
      }
    }
    const auto c = static_cast<unsigned char>(text[i]);
    out.append(text.data() + run, i - run);
    run = ++i;
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      const char escape[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
      out.append(escape, sizeof escape);
    }
  }
  out.append(text.data() + run, text.size() - run);
  out += '"';
}

}  // namespace avw::core
