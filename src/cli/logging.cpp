#include "avw/cli/logging.hpp"

#include "avw/core/json_writer.hpp"
#include "avw/metrics/metrics.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
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

// spdlog's async logger woke its writer thread for every record (a futex wake and, on two
// busy cores, a context switch per admission: about a third of the server's CPU at saturation,
// tests/bench/README.md). This sink is called synchronously on the logging thread, formats
// into a buffer under a short lock, and wakes its writer only when there is something it
// waits for: the first line into an empty buffer, a warning, or the high-water mark. Otherwise
// lines gather for `interval`, and the writer writes them in one call.
class BufferedSink final : public spdlog::sinks::sink {
 public:
  BufferedSink(LogWriter write, BufferedSinkOptions options)
      : write_(std::move(write)), options_(options), formatter_(std::make_unique<spdlog::pattern_formatter>()) {
    writer_ = std::thread([this] { run(); });
  }
  ~BufferedSink() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    writer_.join();  // the writer's last act is to write out everything held
  }
  BufferedSink(const BufferedSink&) = delete;
  BufferedSink& operator=(const BufferedSink&) = delete;

  void log(const spdlog::details::log_msg& msg) override {
    bool wake = false;
    {
      std::lock_guard lock(mutex_);
      scratch_.clear();
      formatter_->format(msg, scratch_);
      if (dropped_ > 0) {
        // The first line that fits again is preceded by the count of those that did not.
        note_.clear();
        format_drop_notice(msg.time, note_);
        if (buffer_.size() + note_.size() + scratch_.size() > options_.capacity) {
          count_drop();
          return;
        }
        buffer_.append(note_.data(), note_.size());
        dropped_ = 0;
        urgent_ = true;  // a warning, and the reader should see it soon
        wake = true;
      } else if (buffer_.size() + scratch_.size() > options_.capacity) {
        count_drop();  // the writer is stuck on its destination: drop rather than block a request
        return;
      }
      wake = wake || buffer_.empty();
      buffer_.append(scratch_.data(), scratch_.size());
      if (!urgent_ && (msg.level >= spdlog::level::warn || buffer_.size() >= options_.high_water)) {
        urgent_ = true;
        wake = true;
      }
    }
    if (wake) wake_.notify_one();
  }

  void flush() override { write_out(); }

  void set_pattern(const std::string& pattern) override {
    set_formatter(std::make_unique<spdlog::pattern_formatter>(pattern));
  }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    std::lock_guard lock(mutex_);
    formatter_ = std::move(formatter);
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      wake_.wait(lock, [this] { return stopping_ || !buffer_.empty(); });
      // Let lines gather, unless one cannot wait.
      wake_.wait_for(lock, options_.interval, [this] { return stopping_ || urgent_; });
      lock.unlock();
      write_out();
      lock.lock();
    }
    if (dropped_ > 0) {
      // Nothing came after the drops: the count still gets written, whatever the capacity.
      note_.clear();
      format_drop_notice(spdlog::log_clock::now(), note_);
      buffer_.append(note_.data(), note_.size());
      dropped_ = 0;
    }
    lock.unlock();
    write_out();
  }

  // Takes the buffer and writes it. The write lock is taken first, so batches are written in
  // the order they were taken even when flush() races the writer thread.
  void write_out() {
    std::lock_guard order(write_mutex_);
    {
      std::lock_guard lock(mutex_);
      taken_.swap(buffer_);  // both keep their capacity: no allocation once warm
      urgent_ = false;
    }
    if (!taken_.empty()) write_(taken_);  // false: the destination is gone, and so are the lines
    taken_.clear();
  }

  void count_drop() {
    ++dropped_;
    if (options_.dropped_lines != nullptr) options_.dropped_lines->inc();
  }

  void format_drop_notice(spdlog::log_clock::time_point time, spdlog::memory_buf_t& out) {
    const std::string payload = "log lines dropped, the log destination did not keep up count=" + std::to_string(dropped_);
    const spdlog::details::log_msg notice(time, spdlog::source_loc{}, "", spdlog::level::warn, payload);
    formatter_->format(notice, out);
  }

  const LogWriter write_;
  const BufferedSinkOptions options_;
  std::mutex write_mutex_;  // held while writing; orders the writes
  std::mutex mutex_;        // guards everything below
  std::condition_variable wake_;
  std::unique_ptr<spdlog::formatter> formatter_;  // not thread-safe (it caches the time)
  spdlog::memory_buf_t scratch_;
  spdlog::memory_buf_t note_;
  std::string buffer_;
  std::string taken_;  // only under write_mutex_
  std::uint64_t dropped_ = 0;
  bool urgent_ = false;
  bool stopping_ = false;
  std::thread writer_;  // last: started once everything above exists
};

}  // namespace

LogWriter fd_log_writer(int fd) {
  return [fd](std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::write(fd, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;  // stderr closed or broken for good: the lines are lost, the server is not
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  };
}

std::shared_ptr<spdlog::sinks::sink> make_buffered_sink(LogWriter write, BufferedSinkOptions options) {
  return std::make_shared<BufferedSink>(std::move(write), options);
}

void configure_logging(LogFormat format, std::string_view level, metrics::Counter* dropped_lines) {
  // Synchronous logger, buffered sink: the admission path formats its line into memory and
  // returns; the sink's thread writes about every 100 ms (design in make_buffered_sink).
  BufferedSinkOptions options;
  options.dropped_lines = dropped_lines;
  auto logger =
      std::make_shared<spdlog::logger>("airflow-vpa-webhook", make_buffered_sink(fd_log_writer(STDERR_FILENO), options));
  if (format == LogFormat::Json) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(spdlog::level::from_str(std::string(level)));
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace avw::cli
