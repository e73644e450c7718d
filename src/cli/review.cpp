#include "avw/cli/review.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <istream>
#include <iterator>
#include <ostream>

#include "avw/server/admission.hpp"
#include "avw/source/file_source.hpp"
#include "command_errors.hpp"
#include "review_input.hpp"

namespace avw::cli {
namespace {

constexpr std::string_view kCommand = "review";

int fail(std::ostream& err, std::string_view message) { return cli::fail(err, kCommand, message); }

}  // namespace

int run_review(const Config& config, std::istream& in, std::ostream& out, std::ostream& err) {
  source::LoadedRecommendations loaded;
  try {
    loaded = source::load_recommendations(config.recommendations, config.store);
  } catch (const source::LoadError& e) {
    return fail(err, e.what());
  }
  warn_skipped(err, kCommand, config.recommendations, loaded.skipped);

  std::string body;
  if (config.review_file.empty()) {
    body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad()) return fail(err, "cannot read the review from stdin");
  } else {
    std::ifstream file(config.review_file, std::ios::binary);
    if (!file) return fail(err, "cannot open " + config.review_file + ": " + std::strerror(errno));
    body.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
    if (file.bad()) return fail(err, "cannot read " + config.review_file);
  }

  const core::Mode mode = config.dry_run ? core::Mode::DryRun : core::Mode::Enforce;
  try {
    // The admission's decision holds views into the review: it must outlive it.
    const std::string review = review_body_of(body);
    const server::Admission a = server::admit(review, *loaded.snapshot, config.decision(), mode);
    if (!a.internal_error.empty()) warn(err, kCommand, "internal error: " + a.internal_error);
    out << a.response << '\n';
    out.flush();
    if (!out) return fail(err, "cannot write the response");
  } catch (const core::DecodeError& e) {
    return fail(err, e.what());
  }
  return 0;
}

}  // namespace avw::cli
