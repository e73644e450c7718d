// File: admission.hpp
//
// The AdmissionReview v1 codec: request bytes in, a view of what the decision needs;
// a Decision out, response bytes.
//
//   core::ParsedReview review(body);                 // throws core::DecodeError
//   core::Decision d = core::decide(review.request(), snapshot, config, mode);
//   std::string out = core::encode_response(review.request(), d);
//
// ParsedReview owns the parsed document; every string_view in AdmissionRequest points
// into it and lives exactly as long as the ParsedReview. A body the server appended to a
// ReviewBuffer is decoded where it lies (`ParsedReview(buffer.padded())`); any other body is
// copied first, for the parser's padding. simdjson and RapidJSON stay in the .cpp.
#pragma once

#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "avw/core/resources.hpp"
#include "avw/core/selector.hpp"

namespace avw::core {

/// A malformed AdmissionReview. The message is safe to send back to the client (400).
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The resources of one entry of spec.containers, as the pod asks for them.
struct PodContainer {
  std::string_view name;
  bool has_resources = false;  // "resources" present (an object)
  bool has_requests = false;   // "resources.requests" present (an object)
  bool has_limits = false;     // "resources.limits" present (an object)
  ResourceValues requests;     // cpu/memory requests, when present and valid
  ResourceValues limits;       // cpu/memory limits, when present and valid
  /// A cpu/memory request or limit that is present but not a valid quantity: the
  /// container is left alone (the API server will reject the pod on its own).
  bool has_invalid_quantity = false;
};

/// The parts of a Pod the decision reads.
struct Pod {
  std::string_view name;           // empty on CREATE with generateName
  std::string_view generate_name;
  std::string_view namespace_;     // metadata.namespace (may be empty: use the request's)
  LabelSet labels;
  LabelSet annotations;
  bool has_annotations = false;    // metadata.annotations present (an object)
  std::vector<PodContainer> containers;  // spec.containers, in order
};

struct GroupVersionKind {
  std::string_view group;
  std::string_view version;
  std::string_view kind;
};

/// The request part of an AdmissionReview.
struct AdmissionRequest {
  std::string_view review_api_version;  // echoed back ("admission.k8s.io/v1")
  std::string_view review_kind;         // echoed back ("AdmissionReview")
  std::string_view uid;
  GroupVersionKind kind;                // request.kind
  std::string_view resource;            // request.resource.resource ("pods")
  std::string_view sub_resource;        // request.subResource
  std::string_view name;                // request.name (may be empty)
  std::string_view namespace_;          // request.namespace
  std::string_view operation;           // CREATE, UPDATE, DELETE, CONNECT
  bool dry_run = false;
  /// Set when the request is about a v1 Pod with an object that decodes as one.
  bool has_pod = false;
  Pod pod;
};

/// Bytes past the end of a body that the parser reads (whatever their values) when it
/// parses the body where it lies.
inline constexpr std::size_t kReviewPadding = 64;

/// A body followed by at least kReviewPadding readable bytes. Only ReviewBuffer makes one
/// (or this default: the empty body), so the padding is there by construction.
class PaddedBody {
 public:
  PaddedBody() : bytes_(kZeros, 0) {}
  std::string_view bytes() const { return bytes_; }

 private:
  friend class ReviewBuffer;
  explicit PaddedBody(std::string_view bytes) : bytes_(bytes) {}
  static constexpr char kZeros[kReviewPadding] = {};
  std::string_view bytes_;
};

/// A request body as the server receives it: appended piece by piece or read into place,
/// always followed by kReviewPadding zero bytes, so it is decoded without a copy. Keeps its
/// capacity on clear(). Its storage is not zero-filled first: a body read straight from the
/// socket is written once.
class ReviewBuffer {
 public:
  ReviewBuffer() = default;
  ReviewBuffer(ReviewBuffer&& other) noexcept { *this = std::move(other); }
  ReviewBuffer& operator=(ReviewBuffer&& other) noexcept {
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
    return *this;
  }

  /// Room for a body of `body_size` bytes, so that appending up to it allocates nothing.
  void reserve(std::size_t body_size);
  void append(const char* data, std::size_t n) {
    if (n > 0) std::memcpy(extend(n), data, n);
  }
  /// Grows the body by `n` bytes that the caller then writes (their values are unspecified
  /// until then), and returns where they start. truncate() takes back what it did not write.
  char* extend(std::size_t n);
  /// Shortens the body to `size` bytes (at most size()).
  void truncate(std::size_t size);
  void clear() { truncate(0); }
  /// Frees the storage.
  void release() { *this = ReviewBuffer(); }
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return capacity_; }
  std::string_view view() const { return {data_.get(), size_}; }
  PaddedBody padded() const { return data_ ? PaddedBody(view()) : PaddedBody(); }

 private:
  void grow(std::size_t body_capacity);
  std::unique_ptr<char[]> data_;  // null, or size_ bytes of body then kReviewPadding zeros
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;  // of body bytes; the padding comes on top
};

/// Decodes an AdmissionReview body. Throws DecodeError with a clear message when the body is
/// not JSON, is too deeply nested, is not an `admission.k8s.io/v1` `AdmissionReview`, has no
/// `request`, no `request.uid`, or fields of the wrong type. A Pod object whose shape is odd
/// (e.g. containers without names) is not an error: it decodes with `has_pod = false` and the
/// decision allows it unchanged.
class ParsedReview {
 public:
  explicit ParsedReview(std::string_view body);
  /// The same without copying the body first.
  explicit ParsedReview(PaddedBody body);
  ~ParsedReview();
  ParsedReview(ParsedReview&&) noexcept;
  ParsedReview& operator=(ParsedReview&&) noexcept;

  const AdmissionRequest& request() const { return request_; }

 private:
  struct Document;
  void decode(PaddedBody body);
  static std::unique_ptr<Document>& spare();  // this thread's parser for its next review
  static Document* take_document();           // the spare, or a new one
  // Gives the parser back to this thread's spare, or frees it, however the review ends (a
  // refused body too: the constructor's throw destroys document_ as well).
  struct Recycle {
    void operator()(Document* document) const noexcept;
  };
  std::unique_ptr<Document, Recycle> document_;
  AdmissionRequest request_;
};

/// One JSON Patch operation. Only `add` is ever produced (it creates or replaces a member);
/// a missing value means the empty object `{}`.
struct PatchOp {
  std::string path;                 // JSON Pointer, already escaped
  std::optional<std::string> value; // a JSON string value; nullopt means {}
  friend bool operator==(const PatchOp&, const PatchOp&) = default;
};

/// RFC 6901 escaping of one reference token (`~` -> `~0`, `/` -> `~1`), appended to `out`.
void append_json_pointer_token(std::string& out, std::string_view token);

/// `text` as a JSON string literal (quotes included, `"` `\\` and control characters escaped),
/// appended to `out`. The response, the patch and the log lines are all written with it.
void append_json_string(std::string& out, std::string_view text);

/// The patch as a compact JSON array.
std::string patch_to_json(const std::vector<PatchOp>& patch);

/// RFC 4648 base64 (with padding) and its inverse (nullopt on invalid input).
std::string base64_encode(std::string_view data);
std::optional<std::string> base64_decode(std::string_view text);

struct Decision;

/// Encodes the AdmissionReview response for `request`: echoes apiVersion, kind and uid, sets
/// allowed, and, when the decision has a patch, patchType JSONPatch and the base64 patch;
/// warnings and auditAnnotations when present.
std::string encode_response(const AdmissionRequest& request, const Decision& decision);

}  // namespace avw::core
