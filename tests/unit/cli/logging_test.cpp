#include <catch2/catch.hpp>
#include <fcntl.h>
#include <spdlog/logger.h>
#include <unistd.h>

#include <string>

#include "avw/cli/logging.hpp"

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

// A pipe whose read end never blocks: what the sink has written so far.
struct Pipe {
  Pipe() {
    REQUIRE(::pipe(fds) == 0);
    REQUIRE(::fcntl(fds[0], F_SETFL, O_NONBLOCK) == 0);
    // Room for more than one 64 KiB batch, so the sink's write never waits for the reader.
    REQUIRE(::fcntl(fds[1], F_SETPIPE_SZ, 1 << 20) >= (1 << 20));
  }
  ~Pipe() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  std::string written() const {
    std::string out;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  int fds[2] = {-1, -1};
};

}  // namespace

TEST_CASE("the log sink holds lines while more are queued and writes them all once the queue is empty",
          "[cli][logging]") {
  Pipe pipe;
  std::size_t queued = 2;
  spdlog::logger logger("test", avw::cli::make_batching_sink(pipe.fds[1], [&queued] { return queued; }));
  logger.set_pattern("%v");

  logger.info("one");
  logger.info("two");
  CHECK(pipe.written().empty());
  queued = 0;
  logger.info("three");
  CHECK(pipe.written() == "one\ntwo\nthree\n");

  // A flush (warnings flush at once) writes whatever is held.
  queued = 5;
  logger.info("four");
  CHECK(pipe.written().empty());
  logger.flush();
  CHECK(pipe.written() == "four\n");
}

TEST_CASE("the log sink never holds more than a batch however long the queue", "[cli][logging]") {
  Pipe pipe;
  spdlog::logger logger("test", avw::cli::make_batching_sink(pipe.fds[1], [] { return std::size_t{1000}; }));
  logger.set_pattern("%v");
  const std::string line(1000, 'x');
  std::string written;
  for (int i = 0; i < 100 && written.empty(); ++i) {
    logger.info(line);
    written = pipe.written();
  }
  // The first write comes once 64 KiB are held, and it holds whole lines.
  CHECK(written.size() >= 64 * 1024);
  CHECK(written.size() < 64 * 1024 + 1001);
  CHECK(written.size() % 1001 == 0);
}
