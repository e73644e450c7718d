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

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "avw/cli/config.hpp"

namespace spdlog::sinks {
class sink;
}
namespace avw::metrics {
class Counter;
}

namespace avw::cli {

/// Replaces the default spdlog logger with a synchronous one on a buffered sink
/// (make_buffered_sink on stderr). `level` is one --log-level accepts. Call spdlog::shutdown()
/// before exiting: destroying the logger writes out what is buffered. `dropped_lines`, when
/// given, counts every line dropped because stderr did not keep up (it must outlive the logger).
void configure_logging(LogFormat format, std::string_view level, metrics::Counter* dropped_lines = nullptr);

/// Writes all of `bytes` to the destination, blocking as long as it has to; false when the
/// destination is gone for good (the bytes are then lost).
using LogWriter = std::function<bool(std::string_view bytes)>;

/// A LogWriter on a file descriptor: write(2) until done, retrying on EINTR.
LogWriter fd_log_writer(int fd);

struct BufferedSinkOptions {
  /// The longest an info line waits in the buffer before the writer thread writes it.
  std::chrono::milliseconds interval{100};
  /// Once the buffer holds this much, the writer thread is woken to write it at once.
  std::size_t high_water = 64 * 1024;
  /// The most the buffer holds while the writer is stuck (a stalled stderr); lines that do not
  /// fit are dropped and counted, and a warning with the count goes in their place.
  std::size_t capacity = 1024 * 1024;
  /// Counts each dropped line too, for an alert (the log itself only says so afterwards).
  metrics::Counter* dropped_lines = nullptr;
};

/// A sink that formats each record into an in-memory buffer under a short lock and returns:
/// no wake-up per line. One writer thread owned by the sink writes the buffer through `write`
/// every `interval`, at once when it passes `high_water` or holds a warning or an error, and
/// last when the sink is destroyed. The calling thread never writes, so a slow destination
/// never blocks it; a stuck one makes it drop lines (counted) instead. Lines are whole and in
/// the order they were logged. flush() writes everything held before it returns.
std::shared_ptr<spdlog::sinks::sink> make_buffered_sink(LogWriter write, BufferedSinkOptions options = {});

/// One JSON log line (with its trailing newline) for a record: time (RFC 3339), level, and
/// the payload split into `msg` and its trailing logfmt fields.
std::string json_log_line(std::string_view time, std::string_view level, std::string_view payload);

}  // namespace avw::cli
