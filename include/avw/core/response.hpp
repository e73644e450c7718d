// File: response.hpp
//
// The AdmissionReview v1 response for a decision, as the API server reads it:
//
//   std::string out = core::encode_response(review.request(), decision);
//   // {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",
//   //  "response":{"uid":"...","allowed":true,"patchType":"JSONPatch","patch":"W3si..."}}
#pragma once

#include <string>

#include "avw/core/admission.hpp"

namespace avw::core {

struct Decision;

/// Encodes the AdmissionReview response for `request`: echoes apiVersion, kind and uid, sets
/// allowed, and, when the decision has a patch, patchType JSONPatch and the base64 patch;
/// warnings and auditAnnotations when present.
std::string encode_response(const AdmissionRequest& request, const Decision& decision);

}  // namespace avw::core
