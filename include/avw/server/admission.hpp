// File: admission.hpp
//
// The one admission code path, shared by the HTTPS server and the `review` command so both
// answer byte for byte the same: parse -> decide -> encode.
//
//   server::Admission a = server::admit(parser, body, *snapshot, config, core::Mode::Enforce);
//   write(a.response);                                   // the AdmissionReview response
//
// No I/O and no logging here: the caller logs `a.decision` and counts it.
#pragma once

#include <string>
#include <string_view>

#include "avw/core/admission.hpp"
#include "avw/core/decision.hpp"
#include "avw/core/store.hpp"

namespace avw::server {

struct Admission {
  /// Owns the request; the views in `decision` (task key, container names) point into it.
  core::ParsedReview review;
  core::Decision decision;
  /// The AdmissionReview response JSON (no trailing newline).
  std::string response;
  /// Set when the decision itself failed (a bug, or memory exhaustion): the pod is then
  /// allowed unchanged, as with any other doubt, and the caller logs this as an error.
  std::string internal_error;
};

/// Decodes the review, decides and encodes the response. Throws core::DecodeError (a 400,
/// or exit 2 for `review`) when the body is not a valid AdmissionReview.
Admission admit(std::string_view body, const core::Snapshot& snapshot, const core::Config& config,
                core::Mode mode);
/// The same for a body the server received, decoded where it lies with the worker's `parser`
/// (busy until the Admission is destroyed).
Admission admit(core::ReviewParser& parser, core::PaddedBody body, const core::Snapshot& snapshot,
                const core::Config& config, core::Mode mode);

}  // namespace avw::server
