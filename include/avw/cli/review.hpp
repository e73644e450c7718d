// File: review.hpp
//
// `airflow-vpa-webhook review`: answers one AdmissionReview offline, with exactly the code
// the server runs (server::admit), so a captured request can be replayed and explained.
#pragma once

#include <iosfwd>

#include "avw/cli/config.hpp"

namespace avw::cli {

/// Reads the recommendations file and the review (config.review_file, else `in`), writes the
/// AdmissionReview response and a newline to `out`. Returns 0, or 2 after one line on `err`
/// (`airflow-vpa-webhook: review: request.uid is missing`). Objects of the recommendations
/// file that were skipped are reported on `err` as warnings and do not fail the command.
int run_review(const Config& config, std::istream& in, std::ostream& out, std::ostream& err);

}  // namespace avw::cli
