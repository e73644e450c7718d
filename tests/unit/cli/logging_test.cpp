#include <catch2/catch.hpp>

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
