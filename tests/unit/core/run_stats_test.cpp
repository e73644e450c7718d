#include "avw/core/run_stats.hpp"

#include <catch2/catch.hpp>

#include "avw/core/objects.hpp"

using namespace avw::core;

namespace {

Quantity q(std::string_view text) { return *Quantity::parse(text); }

}  // namespace

TEST_CASE("status.runs decodes as the closed loop writes it", "[run_stats]") {
  const RunStats runs = decode_run_stats(R"({"observed": 42, "seconds": 151200,
      "since": "2026-11-01T08:00:00Z", "lastFinishedAt": "2026-12-06T08:41:00Z",
      "containers": [{"name": "base", "cpu": "500m", "memory": "1Gi"}, {"name": "sidecar", "memory": 10485760}]})");
  CHECK(runs.observed == 42);
  CHECK(runs.seconds == 151200);
  CHECK(runs.since == parse_rfc3339("2026-11-01T08:00:00Z"));
  CHECK(runs.last_finished_at == parse_rfc3339("2026-12-06T08:41:00Z"));
  REQUIRE(runs.containers.size() == 2);
  CHECK(runs.containers[0].name == "base");
  CHECK(runs.containers[0].requests[Resource::Cpu] == q("500m"));
  CHECK(runs.containers[0].requests[Resource::Memory] == q("1Gi"));
  CHECK(runs.containers[1].name == "sidecar");
  CHECK_FALSE(runs.containers[1].requests[Resource::Cpu]);  // asked for none
  CHECK(runs.containers[1].requests[Resource::Memory] == q("10Mi"));
  CHECK(runs.any());
}

TEST_CASE("runs per day and mean run time come from the counted window", "[run_stats]") {
  RunStats runs;
  runs.observed = 42;
  runs.seconds = 151200;
  // 35 days and 41 minutes: 3026460 s = 35.028472... days.
  runs.since = parse_rfc3339("2026-11-01T08:00:00Z");
  runs.last_finished_at = parse_rfc3339("2026-12-06T08:41:00Z");
  CHECK(runs.window_days() == Approx(3026460.0 / 86400));
  CHECK(runs.runs_per_day() == Approx(42 / (3026460.0 / 86400)));
  CHECK(runs.mean_run_seconds() == Approx(3600));
  CHECK(runs.run_seconds_per_day() == Approx(151200 / (3026460.0 / 86400)));

  SECTION("a window under a day counts as one day") {
    runs.last_finished_at = *runs.since + 3600;
    CHECK(runs.window_days() == 1);
    CHECK(runs.runs_per_day() == 42);
    CHECK(runs.run_seconds_per_day() == 151200);
  }
  SECTION("without its times, one day") {
    runs.since.reset();
    CHECK(runs.window_days() == 1);
  }
  SECTION("no runs, no rates") {
    runs = RunStats{};
    CHECK(runs.runs_per_day() == 0);
    CHECK(runs.mean_run_seconds() == 0);
  }
}

TEST_CASE("a missing or malformed status.runs is no runs observed", "[run_stats]") {
  const std::string text = GENERATE(as<std::string>{},
                                    "",                                               // nothing
                                    "{ nope",                                         // not JSON
                                    "[]",                                             // not an object
                                    "{}",                                             // nothing counted
                                    R"({"observed": 0, "seconds": 0})",               // nothing counted
                                    R"({"observed": -1, "seconds": 10})",             // negative
                                    R"({"observed": "3", "seconds": 10})",            // a string
                                    R"({"observed": 3, "seconds": 1.5})",             // not whole
                                    R"({"observed": 3, "seconds": 10, "since": "yesterday"})",
                                    R"({"observed": 3, "seconds": 10, "containers": {}})",
                                    R"({"observed": 3, "seconds": 10, "containers": [{"cpu": "1"}]})",
                                    R"({"observed": 3, "seconds": 10, "containers": [{"name": "b", "cpu": "-1"}]})",
                                    R"({"observed": 3, "seconds": 10, "containers": [{"name": "b", "memory": "lots"}]})");
  CAPTURE(text);
  CHECK(decode_run_stats(text) == RunStats{});
}

TEST_CASE("status.runs written and read back is the same record", "[run_stats]") {
  RunStats runs;
  runs.observed = 7;
  runs.seconds = 2100;
  runs.since = parse_rfc3339("2026-12-01T00:00:00Z");
  runs.last_finished_at = parse_rfc3339("2026-12-06T12:30:00Z");
  runs.containers = {{"base", {}}, {"airflow-xcom-sidecar", {}}};
  runs.containers[0].requests[Resource::Cpu] = q("250m");
  runs.containers[0].requests[Resource::Memory] = q("1536Mi");
  runs.containers[1].requests[Resource::Memory] = q("16Mi");
  const std::string json = run_stats_to_json(runs);
  CHECK(json == R"({"observed":7,"seconds":2100,"since":"2026-12-01T00:00:00Z","lastFinishedAt":"2026-12-06T12:30:00Z",)"
                R"("containers":[{"name":"base","cpu":"250m","memory":"1536Mi"},{"name":"airflow-xcom-sidecar","memory":"16Mi"}]})");
  CHECK(decode_run_stats(json) == runs);
}
