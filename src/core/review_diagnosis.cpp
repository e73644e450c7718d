#include "review_diagnosis.hpp"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace avw::core {
namespace {

// Checks a body the way the decoder did before simdjson, to say why one is refused: RapidJSON
// events go nowhere, strings are checked for what RapidJSON makes of a lone surrogate escape,
// and the parse stops past kMaxReviewDepth.
class DiagnosingHandler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, DiagnosingHandler> {
 public:
  bool Default() { return true; }
  bool String(const char* str, rapidjson::SizeType length, bool) { return well_formed(str, length); }
  bool Key(const char* str, rapidjson::SizeType length, bool) { return well_formed(str, length); }
  bool StartObject() { return enter(); }
  bool EndObject(rapidjson::SizeType) { return --depth_, true; }
  bool StartArray() { return enter(); }
  bool EndArray(rapidjson::SizeType) { return --depth_, true; }

  bool too_deep() const { return too_deep_; }
  bool lone_surrogate() const { return lone_surrogate_; }

 private:
  // RapidJSON 1.1.0 decodes an unpaired `\uDC00`..`\uDFFF` escape into bytes ED B0..BF xx,
  // which are not UTF-8 (fixed upstream after 1.1.0). The raw body is validated as UTF-8, so
  // such a sequence in a decoded string can only come from that escape: refuse it, or the
  // response would echo invalid UTF-8.
  bool well_formed(const char* str, rapidjson::SizeType length) {
    for (rapidjson::SizeType i = 0; i + 1 < length; ++i) {
      if (static_cast<unsigned char>(str[i]) == 0xED && (static_cast<unsigned char>(str[i + 1]) & 0xE0) == 0xA0) {
        lone_surrogate_ = true;
        return false;
      }
    }
    return true;
  }

  bool enter() {
    if (depth_ == kMaxReviewDepth) {
      too_deep_ = true;
      return false;
    }
    ++depth_;
    return true;
  }

  unsigned depth_ = 0;
  bool too_deep_ = false;
  bool lone_surrogate_ = false;
};

// The offset of the first byte of `text` that is not well-formed UTF-8 (Unicode 15, table
// 3-7: no overlong forms, no surrogates, nothing above U+10FFFF), or npos. ASCII is skipped
// 32 bytes at a time (four words OR-ed: one test), then eight.
std::size_t invalid_utf8_at(std::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t size = text.size();
  std::size_t i = 0;
  while (i < size) {
    while (i + 32 <= size) {
      std::uint64_t words[4];
      std::memcpy(words, bytes + i, sizeof words);
      if (((words[0] | words[1] | words[2] | words[3]) & 0x8080808080808080ULL) != 0) break;
      i += 32;
    }
    if (i == size) break;
    if (i + 8 <= size) {
      std::uint64_t word;
      std::memcpy(&word, bytes + i, sizeof word);
      if ((word & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    const unsigned char lead = bytes[i];
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned char low = 0x80;  // the range of the second byte, narrowed for some leads
    unsigned char high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;
      if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;
      if (lead == 0xF4) high = 0x8F;
    } else {
      return i;
    }
    if (i + length > size || bytes[i + 1] < low || bytes[i + 1] > high) return i;
    for (std::size_t k = 2; k < length; ++k) {
      if (bytes[i + k] < 0x80 || bytes[i + k] > 0xBF) return i;
    }
    i += length;
  }
  return std::string_view::npos;
}

}  // namespace

// As precisely as RapidJSON says it: the byte at fault, or the nesting.
std::string why_invalid(std::string_view body, std::string_view parser_reason) {
  const std::string prefix = "AdmissionReview is not valid JSON: ";
  if (const auto at = invalid_utf8_at(body); at != std::string_view::npos) {
    return prefix + "invalid UTF-8 (at byte " + std::to_string(at) + ")";
  }
  const std::string text(body);  // NUL-terminated for the reader
  rapidjson::StringStream stream(text.c_str());
  DiagnosingHandler handler;
  rapidjson::Reader reader;
  const rapidjson::ParseResult result = reader.Parse<rapidjson::kParseDefaultFlags>(stream, handler);
  if (handler.too_deep()) {
    return "AdmissionReview is nested deeper than " + std::to_string(kMaxReviewDepth) + " levels";
  }
  if (handler.lone_surrogate()) {
    return prefix + "unpaired UTF-16 surrogate escape (before byte " + std::to_string(result.Offset()) + ")";
  }
  if (result.IsError()) {
    return prefix + rapidjson::GetParseError_En(result.Code()) + " (at byte " + std::to_string(result.Offset()) +
           ")";
  }
  // The reader takes a NUL byte for the end of input: the whole body must be the one value.
  if (stream.Tell() != body.size()) {
    return prefix + "unexpected NUL byte (at byte " + std::to_string(stream.Tell()) + ")";
  }
  return prefix + std::string(parser_reason);
}

}  // namespace avw::core
