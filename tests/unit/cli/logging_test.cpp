#include <catch2/catch.hpp>
#include <fcntl.h>
#include <spdlog/logger.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "avw/cli/logging.hpp"
#include "avw/metrics/metrics.hpp"

using avw::cli::json_log_line;

TEST_CASE("a plain message becomes the msg of a JSON line", "[cli][logging]") {
  CHECK(json_log_line("2026-11-23T17:09:07.000Z", "info", "listening on 127.0.0.1") ==
        "{\"time\":\"2026-11-23T17:09:07.000Z\",\"level\":\"info\",\"msg\":\"listening on 127.0.0.1\"}\n");
}

TEST_CASE("trailing logfmt fields become JSON members", "[cli][logging]") {
  const std::string line = json_log_line(
      "t", "info",
      "admission namespace=airflow pod=load- task=etl_daily/load/kpo vpa=etl-daily-load mode=enforce "
      "outcome=patched changes=\"base: cpu request 500m -> 25m, memory \\\"x\\\"\\n\"");
  CHECK(line ==
        "{\"time\":\"t\",\"level\":\"info\",\"msg\":\"admission\",\"namespace\":\"airflow\",\"pod\":\"load-\","
        "\"task\":\"etl_daily/load/kpo\",\"vpa\":\"etl-daily-load\",\"mode\":\"enforce\",\"outcome\":\"patched\","
        "\"changes\":\"base: cpu request 500m -> 25m, memory \\\"x\\\"\\n\"}\n");
}

TEST_CASE("fields are only taken from the end of the message", "[cli][logging]") {
  struct Row {
    std::string payload;
    std::string json;
  };
  const Row row = GENERATE(values<Row>({
      // A key=value in the middle, followed by plain words, stays in the message.
      {"set a=b then continue", R"({"time":"t","level":"warn","msg":"set a=b then continue"})"},
      // Only the all-fields tail is split off.
      {"set a=b then x=1 y=2", R"({"time":"t","level":"warn","msg":"set a=b then","x":"1","y":"2"})"},
      // A payload of only fields has an empty msg.
      {"k=v", R"({"time":"t","level":"warn","msg":"","k":"v"})"},
      // An empty value is a value.
      {"m k=", R"({"time":"t","level":"warn","msg":"m","k":""})"},
      // Quotes that are not valid JSON strings leave the text alone.
      {"m k=\"unterminated", R"({"time":"t","level":"warn","msg":"m k=\"unterminated"})"},
      {"m k=\"bad \\x escape\"", R"({"time":"t","level":"warn","msg":"m k=\"bad \\x escape\""})"},
      // Bare values are escaped.
      {"m k=a\\b", R"({"time":"t","level":"warn","msg":"m","k":"a\\b"})"},
      // Control characters in the message are escaped.
      {std::string("tab\there"), R"({"time":"t","level":"warn","msg":"tab\there"})"},
      {std::string("bell\x07"), R"({"time":"t","level":"warn","msg":"bell\u0007"})"},
  }));
  CAPTURE(row.payload);
  CHECK(json_log_line("t", "warn", row.payload) == row.json + "\n");
}

namespace {

using namespace std::chrono_literals;
using avw::cli::BufferedSinkOptions;
using avw::cli::make_buffered_sink;

// Options under which nothing is written but what a test asks for: the interval is far
// longer than any test runs.
BufferedSinkOptions no_timer(std::size_t high_water = 1 << 20, std::size_t capacity = 1 << 22) {
  BufferedSinkOptions o;
  o.interval = std::chrono::hours(24);
  o.high_water = high_water;
  o.capacity = capacity;
  return o;
}

// The log destination: records each write(2) the sink would make, and can hold the writer
// thread inside one, as a stuck stderr would. The waits are guards against a hang when the
// sink is broken, not timing: they return as soon as the condition holds.
class RecordingWriter {
 public:
  avw::cli::LogWriter writer() {
    return [this](std::string_view bytes) {
      std::unique_lock lock(mutex_);
      if (held_) {
        stuck_ = true;
        changed_.notify_all();
        changed_.wait(lock, [this] { return !held_; });
      }
      batches_.emplace_back(bytes);
      changed_.notify_all();
      return true;
    };
  }
  std::vector<std::string> batches() const {
    std::lock_guard lock(mutex_);
    return batches_;
  }
  std::string all() const {
    std::string out;
    for (const auto& b : batches()) out += b;
    return out;
  }
  bool wait_for_batches(std::size_t n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 60s, [&] { return batches_.size() >= n; });
  }
  void hold() {
    std::lock_guard lock(mutex_);
    held_ = true;
  }
  bool wait_until_stuck() {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 60s, [&] { return stuck_; });
  }
  void release() {
    std::lock_guard lock(mutex_);
    held_ = false;
    changed_.notify_all();
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> batches_;
  bool held_ = false;
  bool stuck_ = false;
};

std::string numbered(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "line %04d", i);  // 10 bytes with its newline
  return buf;
}

std::string numbered_lines(int from, int to) {
  std::string out;
  for (int i = from; i < to; ++i) out += numbered(i) + "\n";
  return out;
}

std::unique_ptr<spdlog::logger> make_logger(RecordingWriter& w, BufferedSinkOptions options) {
  auto logger = std::make_unique<spdlog::logger>("test", make_buffered_sink(w.writer(), options));
  logger->set_pattern("%v");
  logger->set_level(spdlog::level::trace);
  return logger;
}

}  // namespace

TEST_CASE("the buffered sink holds info lines and writes them in order in one write on flush", "[cli][logging]") {
  RecordingWriter w;
  auto logger = make_logger(w, no_timer());
  logger->info("one");
  logger->debug("two");
  logger->info("three");
  CHECK(w.batches().empty());
  logger->flush();
  CHECK(w.batches() == std::vector<std::string>{"one\ntwo\nthree\n"});
  logger->flush();  // nothing held: no empty write
  CHECK(w.batches().size() == 1);
}

TEST_CASE("destroying the buffered sink writes out every line it holds", "[cli][logging]") {
  RecordingWriter w;
  {
    auto logger = make_logger(w, no_timer());
    for (int i = 0; i < 5000; ++i) logger->info(numbered(i));
  }
  CHECK(w.all() == numbered_lines(0, 5000));
}

TEST_CASE("a warning or an error is written at once, with the lines before it", "[cli][logging]") {
  const auto level = GENERATE(spdlog::level::warn, spdlog::level::err, spdlog::level::critical);
  RecordingWriter w;
  auto logger = make_logger(w, no_timer());
  logger->info("before");
  logger->log(level, "urgent");
  REQUIRE(w.wait_for_batches(1));
  CHECK(w.batches() == std::vector<std::string>{"before\nurgent\n"});
}

TEST_CASE("the high-water mark makes the writer write at once, in whole lines", "[cli][logging]") {
  RecordingWriter w;
  auto logger = make_logger(w, no_timer(100));
  for (int i = 0; i < 10; ++i) logger->info(numbered(i));  // 100 bytes: the mark
  REQUIRE(w.wait_for_batches(1));
  CHECK(w.batches() == std::vector<std::string>{numbered_lines(0, 10)});
  for (int i = 10; i < 15; ++i) logger->info(numbered(i));  // under the mark: held
  CHECK(w.batches().size() == 1);
  logger->flush();
  CHECK(w.batches() == std::vector<std::string>{numbered_lines(0, 10), numbered_lines(10, 15)});
}

TEST_CASE("the writer thread writes held lines once the interval is over", "[cli][logging]") {
  RecordingWriter w;
  BufferedSinkOptions options;
  options.interval = 1ms;
  auto logger = make_logger(w, options);
  logger->info("one");
  REQUIRE(w.wait_for_batches(1));
  CHECK(w.all() == "one\n");
}

TEST_CASE("lines logged from many threads come out whole, each thread's in its order", "[cli][logging]") {
  constexpr int kThreads = 4;
  constexpr int kLines = 3000;
  RecordingWriter w;
  {
    BufferedSinkOptions options;
    options.interval = 1ms;
    options.high_water = 512;
    auto logger = make_logger(w, options);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&logger, t] {
        for (int i = 0; i < kLines; ++i) {
          logger->info("thread={} seq={} pad=................................", t, i);
          if (i % 500 == 0) logger->flush();  // flushes race the writer thread
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  std::vector<int> next(kThreads, 0);
  std::istringstream in(w.all());
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    int t = -1;
    int seq = -1;
    char pad[64] = {};
    REQUIRE(std::sscanf(line.c_str(), "thread=%d seq=%d pad=%63s", &t, &seq, pad) == 3);
    REQUIRE(std::string(pad) == "................................");
    REQUIRE((t >= 0 && t < kThreads));
    REQUIRE(seq == next[static_cast<std::size_t>(t)]);
    ++next[static_cast<std::size_t>(t)];
    ++lines;
  }
  CHECK(lines == kThreads * kLines);
}

TEST_CASE("with the destination stuck, the sink drops what does not fit and reports the count", "[cli][logging]") {
  RecordingWriter w;
  // Room for 10 lines of 10 bytes; every line reaches the high-water mark.
  avw::metrics::Registry registry;
  avw::metrics::Counter& dropped = registry.counter("avw_log_lines_dropped_total", "");
  BufferedSinkOptions options = no_timer(10, 100);
  options.dropped_lines = &dropped;
  auto logger = make_logger(w, options);
  w.hold();
  logger->info(numbered(0));
  REQUIRE(w.wait_until_stuck());  // the writer took line 0 and is stuck writing it
  for (int i = 1; i <= 30; ++i) logger->info(numbered(i));  // returns: lines 11 to 30 are dropped
  const std::string notice = "log lines dropped, the log destination did not keep up count=20\n";
  CHECK(dropped.value() == 20);  // at once, not only when the notice is written

  SECTION("the next line that fits comes after the count") {
    w.release();
    logger->flush();
    logger->info("after");
    logger.reset();
    CHECK(w.all() == numbered_lines(0, 11) + notice + "after\n");
  }
  SECTION("a count that nothing follows is written at shutdown") {
    w.release();
    logger.reset();
    CHECK(w.all() == numbered_lines(0, 11) + notice);
  }
  SECTION("while the buffer is still full, later lines are counted too") {
    logger->info("also dropped");
    w.release();
    logger.reset();
    CHECK(w.all() == numbered_lines(0, 11) + "log lines dropped, the log destination did not keep up count=21\n");
    CHECK(dropped.value() == 21);
  }
}

TEST_CASE("the fd log writer writes every byte, and says when it cannot", "[cli][logging]") {
  int fds[2] = {-1, -1};
  REQUIRE(::pipe(fds) == 0);
  const std::string bytes(10000, 'x');
  CHECK(avw::cli::fd_log_writer(fds[1])(bytes));
  ::close(fds[1]);
  std::string read_back;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) read_back.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  CHECK(read_back == bytes);

  const int full = ::open("/dev/full", O_WRONLY);
  REQUIRE(full >= 0);
  CHECK_FALSE(avw::cli::fd_log_writer(full)("x\n"));  // ENOSPC
  ::close(full);
}
