#include "avw/server/admission.hpp"

#include <exception>
#include <utility>

#include "avw/core/response.hpp"

namespace avw::server {

namespace {

Admission admit_parsed(core::ParsedReview review, const core::Snapshot& snapshot, const core::Config& config,
                       core::Mode mode) {
  Admission a{std::move(review), {}, {}, {}};
  try {
    a.decision = core::decide(a.review.request(), snapshot, config, mode);
  } catch (const std::exception& e) {
    // decide() is not expected to throw; if it does, the webhook still never blocks a pod.
    a.decision = core::Decision{};
    a.decision.reason = "internal error, pod allowed unchanged";
    a.internal_error = e.what();
  }
  a.response = core::encode_response(a.review.request(), a.decision);
  return a;
}

}  // namespace

Admission admit(std::string_view body, const core::Snapshot& snapshot, const core::Config& config,
                core::Mode mode) {
  return admit_parsed(core::ParsedReview(body), snapshot, config, mode);
}

Admission admit(core::ReviewParser& parser, core::PaddedBody body, const core::Snapshot& snapshot,
                const core::Config& config, core::Mode mode) {
  return admit_parsed(core::ParsedReview(parser, body), snapshot, config, mode);
}

}  // namespace avw::server
