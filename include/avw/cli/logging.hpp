// File: logging.hpp
//
// The one default logger, configured from --log-format and --log-level. Logs go to stderr
// (stdout stays for `review` output), one line per record, times in UTC.
//
// Structured fields follow the logfmt convention: a message ends with `key=value` pairs,
// values quoted with JSON escapes when they hold anything but [A-Za-z0-9_.:/@+,-]:
//   admission namespace=airflow pod=load- vpa=etl-daily-load outcome=patched changes="base: ..."
// The text format prints that line as is; the JSON format turns the pairs into members:
//   {"time":"...","level":"info","msg":"admission","namespace":"airflow",...}
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "avw/cli/config.hpp"

namespace spdlog::sinks {
class sink;
}

namespace avw::cli {

/// Replaces the default spdlog logger with an asynchronous one (a bounded queue and one
/// writer thread). `level` is one --log-level accepts. Call spdlog::shutdown() before exiting
/// so the queue is written out.
void configure_logging(LogFormat format, std::string_view level);

/// The sink of that logger: records are written to `fd` in batches, one write(2) for many
/// lines, while `pending()` (the logger's queue length) says more are waiting, and at once when
/// it is zero. For the one writer thread of an asynchronous logger.
std::shared_ptr<spdlog::sinks::sink> make_batching_sink(int fd, std::function<std::size_t()> pending);

/// One JSON log line (with its trailing newline) for a record: time (RFC 3339), level, and
/// the payload split into `msg` and its trailing logfmt fields.
std::string json_log_line(std::string_view time, std::string_view level, std::string_view payload);

}  // namespace avw::cli
