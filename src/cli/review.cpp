#include "avw/cli/review.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <istream>
#include <iterator>
#include <ostream>

#include "avw/server/admission.hpp"
#include "avw/source/file_source.hpp"
#include "review_input.hpp"

namespace avw::cli {
namespace {

constexpr std::string_view kPrefix = "airflow-vpa-webhook: review: ";
constexpr std::size_t kMaxWarnings = 10;

std::string one_line(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

int fail(std::ostream& err, std::string_view message) {
  err << kPrefix << one_line(message) << '\n';
  return 2;
}

}  // namespace

int run_review(const Config& config, std::istream& in, std::ostream& out, std::ostream& err) {
  source::LoadedRecommendations loaded;
  try {
    loaded = source::load_recommendations(config.recommendations, config.store);
  } catch (const source::LoadError& e) {
    return fail(err, e.what());
  }
  for (std::size_t i = 0; i < loaded.skipped.size() && i < kMaxWarnings; ++i) {
    err << kPrefix << "warning: skipped an object of " << config.recommendations << ": " << one_line(loaded.skipped[i])
        << '\n';
  }
  if (loaded.skipped.size() > kMaxWarnings) {
    err << kPrefix << "warning: skipped " << loaded.skipped.size() - kMaxWarnings << " more objects\n";
  }

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
    if (!a.internal_error.empty()) err << kPrefix << "warning: internal error: " << one_line(a.internal_error) << '\n';
    out << a.response << '\n';
    out.flush();
    if (!out) return fail(err, "cannot write the response");
  } catch (const core::DecodeError& e) {
    return fail(err, e.what());
  }
  return 0;
}

}  // namespace avw::cli
