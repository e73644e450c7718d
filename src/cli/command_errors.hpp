// File: command_errors.hpp (private to cli)
//
// How the offline commands (review, report) report trouble: one line on stderr, prefixed by
// the program and the command, and exit 2; objects of the input they skipped as warnings,
// at most ten and then a count, so a broken file does not bury the output.
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace avw::cli {

/// `text` on one line: line ends become spaces.
std::string one_line(std::string_view text);

/// Writes `airflow-vpa-webhook: <command>: <message>` and returns 2, the exit code.
int fail(std::ostream& err, std::string_view command, std::string_view message);

/// Writes `airflow-vpa-webhook: <command>: warning: <message>`.
void warn(std::ostream& err, std::string_view command, std::string_view message);

/// Writes a warning line per skipped object of `source`, at most ten, then how many more.
void warn_skipped(std::ostream& err, std::string_view command, std::string_view source,
                  const std::vector<std::string>& skipped);

}  // namespace avw::cli
