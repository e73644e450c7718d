// File: review_input.hpp (private to cli)
//
// What `review` answers: an AdmissionReview as the API server sends it, or a bare Pod (what a
// user has at hand: `kubectl get pod -o yaml`, a DAG's pod template) wrapped in the CREATE
// review the API server would send for it. JSON or YAML.
#pragma once

#include <string>
#include <string_view>

namespace avw::cli {

/// The uid of the review a bare Pod is wrapped in (the response echoes it).
inline constexpr std::string_view kWrappedReviewUid = "00000000-0000-0000-0000-000000000000";

/// The AdmissionReview JSON to answer for `text`: `text` itself when it is JSON that is not a
/// Pod (a review, or anything the codec should refuse with its own message); a Pod wrapped in a
/// CREATE review (namespace: the Pod's, else `default`, as kubectl creates it); YAML converted to
/// JSON first. Text that is neither a JSON nor a YAML object is returned as it is, so the codec
/// says why it is not a review.
std::string review_body_of(std::string_view text);

}  // namespace avw::cli
