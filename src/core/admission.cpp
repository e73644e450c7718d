// The AdmissionReview v1 codec. simdjson parses and validates the body (UTF-8 included), about
// four times faster than RapidJSON on a review; RapidJSON reads a refused body again to say
// where it is wrong. Both are confined to this file: the header only exposes string_views
// into the parsed document, which ParsedReview owns.
#include "avw/core/admission.hpp"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>

#include "avw/core/decision.hpp"

namespace avw::core {
namespace {

constexpr std::string_view kApiVersion = "admission.k8s.io/v1";
constexpr std::string_view kReviewKind = "AdmissionReview";

// simdjson refuses a document nested deeper than kMaxDepth (its parser is iterative; the
// decoder's own walk never goes past a pod's containers). A Pod is schema-bound to far fewer
// levels (a pod with affinity terms and managedFields stays under 20), so 256 never rejects
// a real review.
constexpr unsigned kMaxDepth = 256;

// Error messages echo untrusted values back to the client and into logs: quote them,
// escape anything that is not printable ASCII and cut them short, so a message is always
// one readable line.
constexpr std::size_t kMaxQuotedLength = 64;

// A node of the parsed review: a cursor into simdjson's tape, cheap to copy.
using Value = simdjson::dom::element;
using Found = std::optional<Value>;

std::string quoted(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  const std::size_t shown = text.size() < kMaxQuotedLength ? text.size() : kMaxQuotedLength;
  for (std::size_t i = 0; i < shown; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte == '"' || byte == '\\') {
      out += '\\';
      out += static_cast<char>(byte);
    } else if (byte < 0x20 || byte >= 0x7f) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += static_cast<char>(byte);
    }
  }
  out += '"';
  if (shown < text.size()) out += "...";
  return out;
}

std::string_view type_name(const Value& v) {
  switch (v.type()) {
    case simdjson::dom::element_type::NULL_VALUE: return "null";
    case simdjson::dom::element_type::BOOL: return "a boolean";
    case simdjson::dom::element_type::OBJECT: return "an object";
    case simdjson::dom::element_type::ARRAY: return "an array";
    case simdjson::dom::element_type::STRING: return "a string";
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE: return "a number";
  }
  return "an unknown type";
}

// Only called on a value checked to be a string.
std::string_view view_of(const Value& v) { return v.get_string().value_unsafe(); }

// The members `names` of `object` (an object), found in one pass over it (a pod's objects
// have tens of members). As for Go's encoding/json, and so the API server: the last of
// duplicated keys wins, and a null member counts as absent. The webhook reads exactly what
// the API server would.
template <std::size_t N>
std::array<Found, N> present_members(const Value& object, const std::array<std::string_view, N>& names) {
  std::array<Found, N> found;
  const simdjson::dom::object fields = object.get_object().value_unsafe();
  for (const auto field : fields) {
    for (std::size_t i = 0; i < N; ++i) {
      if (field.key == names[i]) {
        found[i] = field.value;
        break;
      }
    }
  }
  for (Found& v : found) {
    if (v && v->is_null()) v.reset();
  }
  return found;
}

// Checks a body the way the decoder did before simdjson, to say why one is refused: RapidJSON
// events go nowhere, strings are checked for what RapidJSON makes of a lone surrogate escape,
// and the parse stops past kMaxDepth.
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
    if (depth_ == kMaxDepth) {
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

// Why simdjson refused `body`, as precisely as RapidJSON says it: the byte at fault, or the
// nesting. Only refused bodies are read a second time. Should RapidJSON find nothing wrong (a
// number past 64 bits, which it reads as a double), simdjson's own reason is given.
std::string why_invalid(std::string_view body, simdjson::error_code error) {
  const std::string prefix = "AdmissionReview is not valid JSON: ";
  if (const auto at = invalid_utf8_at(body); at != std::string_view::npos) {
    return prefix + "invalid UTF-8 (at byte " + std::to_string(at) + ")";
  }
  const std::string text(body);  // NUL-terminated for the reader
  rapidjson::StringStream stream(text.c_str());
  DiagnosingHandler handler;
  rapidjson::Reader reader;
  const rapidjson::ParseResult result = reader.Parse<rapidjson::kParseDefaultFlags>(stream, handler);
  if (handler.too_deep()) return "AdmissionReview is nested deeper than " + std::to_string(kMaxDepth) + " levels";
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
  return prefix + simdjson::error_message(error);
}

// --- request fields: a wrong type is a malformed review (DecodeError) ---

std::string_view required_string(const Found& v, std::string_view path) {
  if (!v) throw DecodeError(std::string(path) + " is missing");
  if (!v->is_string()) {
    throw DecodeError(std::string(path) + " must be a string, got " + std::string(type_name(*v)));
  }
  return view_of(*v);
}

std::string_view optional_string(const Found& v, std::string_view path) {
  if (!v) return {};
  if (!v->is_string()) {
    throw DecodeError(std::string(path) + " must be a string, got " + std::string(type_name(*v)));
  }
  return view_of(*v);
}

Found optional_object(const Found& v, std::string_view path) {
  if (v && !v->is_object()) {
    throw DecodeError(std::string(path) + " must be an object, got " + std::string(type_name(*v)));
  }
  return v;
}

// --- the pod: an odd shape is not an error, it only means "not a pod we can patch" ---

// Returns false when the member is present with another type than string.
bool pod_string(const Found& v, std::string_view& out) {
  if (!v) return true;
  if (!v->is_string()) return false;
  out = view_of(*v);
  return true;
}

// Labels and annotations: a map of strings. `present` is set when it is an object.
bool pod_string_map(const Found& v, LabelSet& out, bool* present) {
  if (!v) return true;
  if (!v->is_object()) return false;
  if (present != nullptr) *present = true;
  const auto map = v->get_object().value_unsafe();
  out.reserve(map.size());
  for (const auto field : map) {
    if (!field.value.is_string()) return false;
    out.set(field.key, view_of(field.value));
  }
  return true;
}

// Reads cpu and memory of a requests or limits map. Other resources are not ours.
void read_resource_list(const Value& list, ResourceValues& out, bool& invalid) {
  static constexpr auto kNames = [] {
    std::array<std::string_view, kResources.size()> names;
    for (std::size_t i = 0; i < names.size(); ++i) names[i] = to_string(kResources[i]);
    return names;
  }();
  const auto found = present_members(list, kNames);
  for (std::size_t i = 0; i < kResources.size(); ++i) {
    const Resource r = kResources[i];
    const Found& v = found[i];
    if (!v) continue;
    // The API server re-serializes quantities as strings; anything else cannot be trusted.
    std::optional<Quantity> q = v->is_string() ? Quantity::parse(view_of(*v)) : std::nullopt;
    if (q) {
      out[r] = *q;
    } else {
      invalid = true;
    }
  }
}

bool decode_container(const Value& entry, PodContainer& out) {
  if (!entry.is_object()) return false;
  const auto [name, resources] = present_members<2>(entry, {"name", "resources"});
  if (!name || !name->is_string() || view_of(*name).empty()) return false;
  out.name = view_of(*name);

  if (!resources) return true;
  if (!resources->is_object()) return false;
  out.has_resources = true;
  const auto [requests, limits] = present_members<2>(*resources, {"requests", "limits"});
  if (requests) {
    if (!requests->is_object()) return false;
    out.has_requests = true;
    read_resource_list(*requests, out.requests, out.has_invalid_quantity);
  }
  if (limits) {
    if (!limits->is_object()) return false;
    out.has_limits = true;
    read_resource_list(*limits, out.limits, out.has_invalid_quantity);
  }
  return true;
}

bool decode_pod(const Value& object, Pod& pod) {
  if (!object.is_object()) return false;
  // The API server always sets these on the object it sends; when set, they must say Pod.
  const auto [api_version_member, kind_member, metadata, spec] =
      present_members<4>(object, {"apiVersion", "kind", "metadata", "spec"});
  std::string_view api_version = "v1";
  std::string_view kind = "Pod";
  if (!pod_string(api_version_member, api_version) || api_version != "v1") return false;
  if (!pod_string(kind_member, kind) || kind != "Pod") return false;

  if (metadata) {
    if (!metadata->is_object()) return false;
    const auto [name, generate_name, namespace_, labels, annotations] =
        present_members<5>(*metadata, {"name", "generateName", "namespace", "labels", "annotations"});
    if (!pod_string(name, pod.name) || !pod_string(generate_name, pod.generate_name) ||
        !pod_string(namespace_, pod.namespace_) || !pod_string_map(labels, pod.labels, nullptr) ||
        !pod_string_map(annotations, pod.annotations, &pod.has_annotations)) {
      return false;
    }
  }

  if (!spec) return true;
  if (!spec->is_object()) return false;
  const auto [containers] = present_members<1>(*spec, {"containers"});
  if (!containers) return true;
  if (!containers->is_array()) return false;
  const auto entries = containers->get_array().value_unsafe();
  pod.containers.reserve(entries.size());
  for (const Value entry : entries) {
    PodContainer& container = pod.containers.emplace_back();
    if (!decode_container(entry, container)) return false;
  }
  return true;
}

void decode_request(const Value& request, AdmissionRequest& out) {
  const auto [uid, operation, kind_member, resource_member, sub_resource, name, namespace_, dry_run, object] =
      present_members<9>(request, {"uid", "operation", "kind", "resource", "subResource", "name", "namespace",
                                   "dryRun", "object"});
  out.uid = required_string(uid, "request.uid");
  if (out.uid.empty()) throw DecodeError("request.uid is empty");
  out.operation = required_string(operation, "request.operation");

  if (const Found kind = optional_object(kind_member, "request.kind")) {
    const auto [group, version, kind_name] = present_members<3>(*kind, {"group", "version", "kind"});
    out.kind.group = optional_string(group, "request.kind.group");
    out.kind.version = optional_string(version, "request.kind.version");
    out.kind.kind = optional_string(kind_name, "request.kind.kind");
  }
  if (const Found resource = optional_object(resource_member, "request.resource")) {
    // Group and version are checked through request.kind; they must still be strings.
    const auto [group, version, resource_name] = present_members<3>(*resource, {"group", "version", "resource"});
    optional_string(group, "request.resource.group");
    optional_string(version, "request.resource.version");
    out.resource = optional_string(resource_name, "request.resource.resource");
  }
  out.sub_resource = optional_string(sub_resource, "request.subResource");
  out.name = optional_string(name, "request.name");
  out.namespace_ = optional_string(namespace_, "request.namespace");

  if (dry_run) {
    if (!dry_run->is_bool()) {
      throw DecodeError("request.dryRun must be a boolean, got " + std::string(type_name(*dry_run)));
    }
    out.dry_run = dry_run->get_bool().value_unsafe();
  }

  const bool pod_request = out.kind.group.empty() && out.kind.version == "v1" &&
                           out.kind.kind == "Pod" && out.resource == "pods" &&
                           out.sub_resource.empty();
  if (pod_request && object) {
    out.has_pod = decode_pod(*object, out.pod);
    // Half-filled views must not leak out of a pod we could not decode.
    if (!out.has_pod) out.pod = Pod{};
  }
}

// --- encoding ---

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

// simdjson's parser keeps its buffers (the tape, the decoded strings) from one document to
// the next, and a review's views point into them: each live review holds a parser, and each
// thread keeps a spare one for its next review, so reviews in a row allocate no parser.
struct ParsedReview::Document {
  Document() {
    if (parser.allocate(kInitialCapacity, kMaxDepth) != simdjson::SUCCESS) throw std::bad_alloc();
  }
  // About 14 bytes of buffers per byte of capacity, touched only as far as a document uses
  // them. A parser that a bigger body grew is not kept.
  static constexpr std::size_t kInitialCapacity = 16 * 1024;
  static constexpr std::size_t kKeptCapacity = 256 * 1024;
  simdjson::dom::parser parser;
  ReviewBuffer copy;  // a body that came without padding, copied to get it
};

std::unique_ptr<ParsedReview::Document>& ParsedReview::spare() {
  thread_local std::unique_ptr<Document> document;
  return document;
}

void ParsedReview::Recycle::operator()(Document* document) const noexcept {
  std::unique_ptr<Document>& slot = spare();
  if (!slot && document->parser.capacity() <= Document::kKeptCapacity) {
    slot.reset(document);
  } else {
    delete document;
  }
}

static_assert(kReviewPadding >= simdjson::SIMDJSON_PADDING);

void ReviewBuffer::grow(std::size_t body_capacity) {
  auto bigger = std::make_unique_for_overwrite<char[]>(body_capacity + kReviewPadding);
  if (data_) std::memcpy(bigger.get(), data_.get(), size_ + kReviewPadding);
  else std::memset(bigger.get(), 0, kReviewPadding);
  data_ = std::move(bigger);
  capacity_ = body_capacity;
}

void ReviewBuffer::reserve(std::size_t body_size) {
  if (!data_ || body_size > capacity_) grow(body_size);
}

char* ReviewBuffer::extend(std::size_t n) {
  if (n > std::numeric_limits<std::size_t>::max() - kReviewPadding - size_) throw std::length_error("review body too large");
  // Doubling keeps appending a piece at a time linear; a reserved body never gets here.
  if (!data_ || size_ + n > capacity_) grow(std::max(size_ + n, 2 * capacity_));
  char* at = data_.get() + size_;
  size_ += n;
  std::memset(data_.get() + size_, 0, kReviewPadding);
  return at;
}

void ReviewBuffer::truncate(std::size_t size) {
  if (!data_) return;
  size_ = std::min(size, size_);
  std::memset(data_.get() + size_, 0, kReviewPadding);
}

ParsedReview::Document* ParsedReview::take_document() {
  if (Document* d = spare().release()) return d;
  return new Document();
}

ParsedReview::ParsedReview(std::string_view body) : document_(take_document()) {
  ReviewBuffer& copy = document_->copy;
  copy.clear();
  copy.append(body.data(), body.size());
  decode(copy.padded());
}

ParsedReview::ParsedReview(PaddedBody body) : document_(take_document()) { decode(body); }

void ParsedReview::decode(PaddedBody padded) {
  const std::string_view body = padded.bytes();
  Value root;
  if (const auto error = document_->parser.parse(body.data(), body.size(), false).get(root)) {
    throw DecodeError(why_invalid(body, error));
  }
  if (!root.is_object()) {
    throw DecodeError("AdmissionReview must be a JSON object, got " + std::string(type_name(root)));
  }

  const auto [api_version, kind, request] = present_members<3>(root, {"apiVersion", "kind", "request"});
  if (!api_version) {
    throw DecodeError("AdmissionReview has no apiVersion: only admission.k8s.io/v1 is served");
  }
  if (!api_version->is_string()) {
    throw DecodeError("AdmissionReview apiVersion must be a string, got " +
                      std::string(type_name(*api_version)));
  }
  if (view_of(*api_version) != kApiVersion) {
    throw DecodeError("unsupported AdmissionReview apiVersion " + quoted(view_of(*api_version)) +
                      ": only admission.k8s.io/v1 is served");
  }
  request_.review_api_version = view_of(*api_version);

  if (!kind) throw DecodeError("AdmissionReview has no kind: expected AdmissionReview");
  if (!kind->is_string()) {
    throw DecodeError("AdmissionReview kind must be a string, got " + std::string(type_name(*kind)));
  }
  if (view_of(*kind) != kReviewKind) {
    throw DecodeError("unsupported kind " + quoted(view_of(*kind)) + ": expected AdmissionReview");
  }
  request_.review_kind = view_of(*kind);

  if (!request) throw DecodeError("AdmissionReview has no request");
  if (!request->is_object()) {
    throw DecodeError("request must be an object, got " + std::string(type_name(*request)));
  }
  decode_request(*request, request_);
}

ParsedReview::~ParsedReview() = default;
ParsedReview::ParsedReview(ParsedReview&&) noexcept = default;
ParsedReview& ParsedReview::operator=(ParsedReview&&) noexcept = default;

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

void append_json_pointer_token(std::string& out, std::string_view token) {
  out.reserve(out.size() + token.size());
  for (const char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
}

std::string patch_to_json(const std::vector<PatchOp>& patch) {
  std::size_t size = 2;
  for (const PatchOp& op : patch) size += 32 + op.path.size() + (op.value ? op.value->size() : 0);
  std::string out;
  out.reserve(size);
  out += '[';
  for (const PatchOp& op : patch) {
    if (out.size() > 1) out += ',';
    out += R"({"op":"add","path":)";
    append_json_string(out, op.path);
    out += R"(,"value":)";
    if (op.value) {
      append_json_string(out, *op.value);
    } else {
      out += "{}";
    }
    out += '}';
  }
  out += ']';
  return out;
}

namespace {
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
}  // namespace

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

std::string encode_response(const AdmissionRequest& request, const Decision& decision) {
  // Only a parsed request has the echoed fields; a default one (a caller answering without a
  // review) still gets a response the API server accepts.
  const std::string_view api_version =
      request.review_api_version.empty() ? kApiVersion : request.review_api_version;
  const std::string_view kind = request.review_kind.empty() ? kReviewKind : request.review_kind;
  const bool with_patch = decision.sends_patch() && !decision.patch.empty();
  const std::string patch = with_patch ? patch_to_json(decision.patch) : std::string();

  std::size_t size = 128 + request.uid.size() + (patch.size() + 2) / 3 * 4;
  for (const auto& [key, value] : decision.audit_annotations) size += key.size() + value.size() + 8;
  for (const std::string& warning : decision.warnings) size += warning.size() + 4;
  std::string out;
  out.reserve(size);
  out += R"({"apiVersion":)";
  append_json_string(out, api_version);
  out += R"(,"kind":)";
  append_json_string(out, kind);
  out += R"(,"response":{"uid":)";
  append_json_string(out, request.uid);
  out += decision.allowed ? R"(,"allowed":true)" : R"(,"allowed":false)";
  if (with_patch) {
    // base64 needs no JSON escaping: it is appended between the quotes as it is encoded.
    out += R"(,"patchType":"JSONPatch","patch":")";
    append_base64(out, patch);
    out += '"';
  }
  if (!decision.audit_annotations.empty()) {
    out += R"(,"auditAnnotations":{)";
    bool first = true;
    for (const auto& [key, value] : decision.audit_annotations) {
      if (!first) out += ',';
      first = false;
      append_json_string(out, key);
      out += ':';
      append_json_string(out, value);
    }
    out += '}';
  }
  if (!decision.warnings.empty()) {
    out += R"(,"warnings":[)";
    for (std::size_t i = 0; i < decision.warnings.size(); ++i) {
      if (i != 0) out += ',';
      append_json_string(out, decision.warnings[i]);
    }
    out += ']';
  }
  out += "}}";
  return out;
}

}  // namespace avw::core
