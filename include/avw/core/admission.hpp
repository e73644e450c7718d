// File: admission.hpp
//
// The AdmissionReview v1 request codec: request bytes in, a view of what the decision needs.
//
//   core::ReviewParser parser;                           // one per worker thread, reused
//   core::ParsedReview review(parser, buffer.padded());  // throws core::DecodeError
//   core::Decision d = core::decide(review.request(), snapshot, config, mode);
//   std::string out = core::encode_response(review.request(), d);  // response.hpp
//
// ParsedReview views the document its parser holds: every string_view in AdmissionRequest
// lives exactly as long as the ParsedReview, and the parser decodes the next review only
// once this one is gone. A body the server appended to a ReviewBuffer is decoded where it
// lies; ParsedReview(std::string_view) copies any other body, with a parser of its own.
// simdjson and RapidJSON stay in the .cpp.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "avw/core/decode_error.hpp"
#include "avw/core/resources.hpp"
#include "avw/core/review_buffer.hpp"
#include "avw/core/selector.hpp"

namespace avw::core {

/// The only review apiVersion served, and the kind; echoed back in every response.
inline constexpr std::string_view kAdmissionReviewApiVersion = "admission.k8s.io/v1";
inline constexpr std::string_view kAdmissionReviewKind = "AdmissionReview";

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

/// What decoding reviews one after another reuses: the JSON parser's buffers (the parsed
/// document and its strings, which a ParsedReview's views point into) and a padded copy for
/// bodies that come without padding, so a review in a row allocates no parser. The caller
/// owns it (a server worker keeps one) and decodes one review with it at a time. A parser that
/// a big body grew gives the memory back when that review ends.
class ReviewParser {
 public:
  ReviewParser();
  ~ReviewParser();
  ReviewParser(const ReviewParser&) = delete;
  ReviewParser& operator=(const ReviewParser&) = delete;

 private:
  friend class ParsedReview;
  struct State;
  ReviewParser& start();        // marks it busy with a review
  void finish() noexcept;       // that review is gone (or was refused)
  std::unique_ptr<State> state_;
};

/// Decodes an AdmissionReview body. Throws DecodeError with a clear message when the body is
/// not JSON, is too deeply nested, is not an `admission.k8s.io/v1` `AdmissionReview`, has no
/// `request`, no `request.uid`, or fields of the wrong type. A Pod object whose shape is odd
/// (e.g. containers without names) is not an error: it decodes with `has_pod = false` and the
/// decision allows it unchanged. A refused body leaves the parser ready for the next one.
class ParsedReview {
 public:
  /// Decodes `body` where it lies with `parser`, which must outlive this review and decode
  /// no other review until this one is destroyed.
  ParsedReview(ReviewParser& parser, PaddedBody body);
  /// Decodes a padded copy of `body` with a parser of its own (the `review` command, tests).
  explicit ParsedReview(std::string_view body);
  ~ParsedReview();
  ParsedReview(ParsedReview&&) noexcept;
  ParsedReview& operator=(ParsedReview&&) noexcept;

  const AdmissionRequest& request() const { return request_; }

 private:
  struct Finish {
    void operator()(ReviewParser* parser) const noexcept { parser->finish(); }
  };
  void decode(PaddedBody body);
  // Declared first, so it outlives parser_, which points to it when it is set.
  std::unique_ptr<ReviewParser> own_parser_;
  // Not owned: finishes the parser's review however this one ends, a refused body included
  // (the constructor's throw destroys it as well).
  std::unique_ptr<ReviewParser, Finish> parser_;
  AdmissionRequest request_;
};

}  // namespace avw::core
