// File: review_diagnosis.hpp (private to the core)
//
// Why an AdmissionReview body was refused, said precisely. simdjson decodes reviews and says
// little about a bad one; RapidJSON reads a refused body a second time to name the byte at
// fault. Only refused bodies pay for it.
#pragma once

#include <string>
#include <string_view>

namespace avw::core {

// simdjson refuses a document nested deeper than this (its parser is iterative; the
// decoder's own walk never goes past a pod's containers). A Pod is schema-bound to far fewer
// levels (a pod with affinity terms and managedFields stays under 20), so 256 never rejects
// a real review.
inline constexpr unsigned kMaxReviewDepth = 256;

/// The DecodeError message for a `body` the parser refused; `parser_reason` is the parser's
/// own message, given when RapidJSON finds nothing wrong (a number past 64 bits).
std::string why_invalid(std::string_view body, std::string_view parser_reason);

}  // namespace avw::core
