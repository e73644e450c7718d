#include "avw/cli/logging.hpp"

#include "avw/core/admission.hpp"

#include <spdlog/async.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace avw::cli {
namespace {

using core::append_json_string;

struct Field {
  std::string_view key;
  std::string_view value;
  bool quoted = false;  // value is a complete JSON string literal
};

bool key_char(char c, bool first) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  return alpha || (!first && ((c >= '0' && c <= '9') || c == '.' || c == '-'));
}

bool hex_digit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Parses `key=value key2="quoted"...` covering all of `text`; nullopt when it does not.
// A quoted value is accepted only when it is a valid JSON string, so it can be copied.
std::optional<std::vector<Field>> parse_fields(std::string_view text) {
  std::vector<Field> fields;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t key_start = i;
    while (i < text.size() && key_char(text[i], i == key_start)) ++i;
    if (i == key_start || i >= text.size() || text[i] != '=') return std::nullopt;
    Field f;
    f.key = text.substr(key_start, i - key_start);
    ++i;
    if (i < text.size() && text[i] == '"') {
      const std::size_t value_start = i++;
      bool closed = false;
      while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x20) return std::nullopt;
        if (c == '"') {
          closed = true;
          ++i;
          break;
        }
        if (c == '\\') {
          if (i + 1 >= text.size()) return std::nullopt;
          const char e = text[i + 1];
          if (e == 'u') {
            if (i + 6 > text.size()) return std::nullopt;
            for (std::size_t k = i + 2; k < i + 6; ++k) {
              if (!hex_digit(text[k])) return std::nullopt;
            }
            i += 6;
            continue;
          }
          if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) return std::nullopt;
          i += 2;
          continue;
        }
        ++i;
      }
      if (!closed) return std::nullopt;
      f.value = text.substr(value_start, i - value_start);
      f.quoted = true;
    } else {
      const std::size_t value_start = i;
      while (i < text.size() && text[i] != ' ') ++i;
      f.value = text.substr(value_start, i - value_start);
    }
    if (i < text.size() && text[i] != ' ') return std::nullopt;
    while (i < text.size() && text[i] == ' ') ++i;
    fields.push_back(f);
  }
  return fields;
}

std::string utc_time(std::chrono::system_clock::time_point t) {
  const auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(t - secs).count();
  const std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));
  return buf;
}

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto level = spdlog::level::to_string_view(msg.level);
    const std::string line = json_log_line(utc_time(msg.time), std::string_view(level.data(), level.size()),
                                           std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

std::string json_log_line(std::string_view time, std::string_view level, std::string_view payload) {
  // The message is what precedes the earliest word from which the rest is all fields.
  std::string_view msg = payload;
  std::vector<Field> fields;
  for (std::size_t start = 0; start < payload.size(); ++start) {
    if (start != 0 && payload[start - 1] != ' ') continue;
    if (auto parsed = parse_fields(payload.substr(start))) {
      fields = std::move(*parsed);
      msg = payload.substr(0, start);
      break;
    }
  }
  while (msg.ends_with(' ')) msg.remove_suffix(1);

  std::string out;
  out.reserve(payload.size() + 64);
  out += "{\"time\":";
  append_json_string(out, time);
  out += ",\"level\":";
  append_json_string(out, level);
  out += ",\"msg\":";
  append_json_string(out, msg);
  for (const Field& f : fields) {
    out += ',';
    append_json_string(out, f.key);
    out += ':';
    if (f.quoted) {
      out += f.value;
    } else {
      append_json_string(out, f.value);
    }
  }
  out += "}\n";
  return out;
}

namespace {

// spdlog's stderr sink writes and flushes every line: one write(2) per admission (at
// saturation the logger thread took about 11 % of the server's CPU, tests/bench/README.md,
// formatting and writing line by line). This one gathers
// the lines while more are queued behind them and writes them in one call, and writes at once
// when the queue is empty, so nothing waits in the buffer while the server is idle.
class BatchingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  BatchingSink(int fd, std::function<std::size_t()> pending) : fd_(fd), pending_(std::move(pending)) {}
  ~BatchingSink() override { write_out(); }
  BatchingSink(const BatchingSink&) = delete;
  BatchingSink& operator=(const BatchingSink&) = delete;

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    buffer_.append(formatted.data(), formatted.size());
    if (buffer_.size() >= kBatchBytes || pending_() == 0) write_out();
  }
  void flush_() override { write_out(); }

 private:
  static constexpr std::size_t kBatchBytes = 64 * 1024;

  void write_out() {
    std::size_t done = 0;
    while (done < buffer_.size()) {
      const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // stderr closed or full for good: the lines are lost, the server is not
      done += static_cast<std::size_t>(n);
    }
    buffer_.clear();
  }

  int fd_;
  std::function<std::size_t()> pending_;
  std::string buffer_;
};

}  // namespace

std::shared_ptr<spdlog::sinks::sink> make_batching_sink(int fd, std::function<std::size_t()> pending) {
  return std::make_shared<BatchingSink>(fd, std::move(pending));
}

void configure_logging(LogFormat format, std::string_view level) {
  // Asynchronous: the admission path only enqueues its line; one background thread formats
  // and writes. Under a flood the oldest queued lines are dropped instead of blocking a worker.
  constexpr std::size_t kQueueSize = 8192;
  if (!spdlog::thread_pool()) spdlog::init_thread_pool(kQueueSize, 1);
  std::weak_ptr<spdlog::details::thread_pool> pool = spdlog::thread_pool();
  auto sink = make_batching_sink(STDERR_FILENO, [pool] {
    auto p = pool.lock();
    return p ? p->queue_size() : std::size_t{0};
  });
  auto logger = std::make_shared<spdlog::async_logger>("airflow-vpa-webhook", std::move(sink), spdlog::thread_pool(),
                                                       spdlog::async_overflow_policy::overrun_oldest);
  if (format == LogFormat::Json) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(spdlog::level::from_str(std::string(level)));
  // Warnings and errors must not sit in a buffer when the process is killed.
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace avw::cli
