#include "command_errors.hpp"

#include <ostream>

namespace avw::cli {
namespace {

constexpr std::size_t kMaxWarnings = 10;

void prefix(std::ostream& err, std::string_view command) { err << "airflow-vpa-webhook: " << command << ": "; }

}  // namespace

std::string one_line(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

int fail(std::ostream& err, std::string_view command, std::string_view message) {
  prefix(err, command);
  err << one_line(message) << '\n';
  return 2;
}

void warn(std::ostream& err, std::string_view command, std::string_view message) {
  prefix(err, command);
  err << "warning: " << one_line(message) << '\n';
}

void warn_skipped(std::ostream& err, std::string_view command, std::string_view source,
                  const std::vector<std::string>& skipped) {
  for (std::size_t i = 0; i < skipped.size() && i < kMaxWarnings; ++i) {
    warn(err, command, "skipped an object of " + std::string(source) + ": " + skipped[i]);
  }
  if (skipped.size() > kMaxWarnings) {
    warn(err, command, "skipped " + std::to_string(skipped.size() - kMaxWarnings) + " more objects");
  }
}

}  // namespace avw::cli
