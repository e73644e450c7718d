// The closed loop's count of a task's runs (status.runs): each pod once, whichever replica or
// process sees it; what runs per day and the mean run time come to; the JSON both ways.
#include <catch2/catch.hpp>

#include <string>

#include "avw/core/decode_error.hpp"
#include "avw/core/run_stats.hpp"

using namespace avw::core;

namespace {

Quantity q(std::string_view text) { return *Quantity::parse(text); }

constexpr std::int64_t kDay = 86'400;
constexpr std::int64_t kT0 = 1'796'000'000;

PodRequests base(std::string_view cpu, std::string_view memory) {
  ResourceValues r;
  r[Resource::Cpu] = q(cpu);
  r[Resource::Memory] = q(memory);
  return {{"base", r}};
}

std::string task_with_runs(std::string_view runs) {
  return R"({"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask","metadata":{"name":"t","namespace":"airflow"},)"
         R"("status":{"runs":)" + std::string(runs) + "}}";
}

}  // namespace

TEST_CASE("a run is counted once, by its pod's uid", "[run_stats]") {
  RunStats stats;
  REQUIRE(count_run(stats, {"uid-1", kT0, 300, base("500m", "1Gi"), false}));
  CHECK(stats.observed == 1);
  CHECK(stats.seconds == 300);
  CHECK(stats.since == kT0);
  CHECK(stats.last_finished_at == kT0);
  CHECK(stats.containers == base("500m", "1Gi"));

  // The other replica, or a relist, sees the same pod: nothing changes.
  const RunStats before = stats;
  CHECK_FALSE(count_run(stats, {"uid-1", kT0, 300, base("500m", "1Gi"), false}));
  CHECK(stats == before);

  // A run that ended earlier but is seen later counts, and does not move lastFinishedAt or
  // the requests of the last run.
  REQUIRE(count_run(stats, {"uid-0", kT0 - 600, 120, base("1", "2Gi"), false}));
  CHECK(stats.observed == 2);
  CHECK(stats.seconds == 420);
  CHECK(stats.since == kT0 - 600);
  CHECK(stats.last_finished_at == kT0);
  CHECK(stats.containers == base("500m", "1Gi"));
}

TEST_CASE("a run that ended before this process started counts only if newer than any counted", "[run_stats]") {
  RunStats stats;
  REQUIRE(count_run(stats, {"uid-1", kT0, 300, base("500m", "1Gi"), false}));
  // Older than the last counted run: a replica may have counted it before its uid left the
  // recent list.
  CHECK_FALSE(count_run(stats, {"uid-old", kT0 - 1, 300, base("500m", "1Gi"), true}));
  // Newer: it ended while no replica was counting.
  CHECK(count_run(stats, {"uid-gap", kT0 + 60, 300, base("500m", "1Gi"), true}));
  CHECK(stats.observed == 2);
  // Into an empty record, it is the first run.
  RunStats empty;
  CHECK(count_run(empty, {"uid-x", kT0, 300, {}, true}));
}

TEST_CASE("the recent pods keep the last 64 uids", "[run_stats]") {
  RunStats stats;
  for (int i = 0; i < 70; ++i) {
    REQUIRE(count_run(stats, {"uid-" + std::to_string(i), kT0 + i, 60, {}, false}));
  }
  REQUIRE(stats.recent_pods.size() == RunStats::kRecentPods);
  CHECK(stats.recent_pods.front() == "uid-6");
  CHECK(stats.recent_pods.back() == "uid-69");
  CHECK_FALSE(count_run(stats, {"uid-69", kT0 + 69, 60, {}, false}));
  CHECK(count_run(stats, {"uid-0", kT0, 60, {}, false}));  // gone from the window: counted again
  CHECK(stats.observed == 71);
}

TEST_CASE("runs per day over the span they cover, at least a day", "[run_stats]") {
  RunStats stats;
  CHECK(stats.runs_per_day() == 0);
  CHECK(stats.mean_run_seconds() == 0);
  REQUIRE(count_run(stats, {"a", kT0, 600, {}, false}));
  CHECK(stats.runs_per_day() == 1);  // one run: at least a day spanned
  REQUIRE(count_run(stats, {"b", kT0 + 3600, 1200, {}, false}));
  CHECK(stats.runs_per_day() == 2);  // two in an hour: still over a day
  REQUIRE(count_run(stats, {"c", kT0 + 4 * kDay, 1800, {}, false}));
  CHECK(stats.runs_per_day() == Approx(3.0 / 4.0));
  CHECK(stats.mean_run_seconds() == Approx(1200));
}

TEST_CASE("status.runs in JSON, both ways", "[run_stats]") {
  RunStats stats;
  REQUIRE(count_run(stats, {"uid-1", kT0, 300, base("500m", "1Gi"), false}));
  REQUIRE(count_run(stats, {"uid-2", kT0 + kDay, 900, base("250m", "300Mi"), false}));
  const std::string json = run_stats_to_json(stats);
  CHECK(json ==
        R"({"observed":2,"seconds":1200,"since":"2026-11-30T00:53:20Z","lastFinishedAt":"2026-12-01T00:53:20Z",)"
        R"("containers":[{"name":"base","cpu":"250m","memory":"300Mi"}],"recentPods":["uid-1","uid-2"]})");
  const auto back = run_stats_of(task_with_runs(json));
  REQUIRE(back);
  CHECK(*back == stats);

  CHECK_FALSE(run_stats_of(R"({"kind":"AirflowTask","status":{}})"));
  CHECK_FALSE(run_stats_of(R"({"kind":"AirflowTask"})"));
  CHECK(run_stats_of(task_with_runs("{}"))->observed == 0);
  // Integers for quantities, as the CRD's int-or-string allows.
  CHECK(run_stats_of(task_with_runs(R"({"observed":1,"containers":[{"name":"base","memory":1048576}]})"))
            ->containers.front().second[Resource::Memory] == q("1Mi"));
}

TEST_CASE("a malformed status.runs is an error, never overwritten blindly", "[run_stats]") {
  CHECK_THROWS_WITH(run_stats_of("not json"), "the AirflowTask is not a JSON object");
  CHECK_THROWS_AS(run_stats_of(task_with_runs("[]")), DecodeError);
  CHECK_THROWS_WITH(run_stats_of(task_with_runs(R"({"observed":-1})")),
                    Catch::Contains("status.runs.observed") && Catch::Contains("non-negative"));
  CHECK_THROWS_WITH(run_stats_of(task_with_runs(R"({"since":"yesterday"})")), Catch::Contains("status.runs.since"));
  CHECK_THROWS_WITH(run_stats_of(task_with_runs(R"({"containers":[{"cpu":"1"}]})")),
                    Catch::Contains("status.runs.containers[0].name"));
  CHECK_THROWS_WITH(run_stats_of(task_with_runs(R"({"containers":[{"name":"base","memory":"lots"}]})")),
                    Catch::Contains("status.runs.containers[0].memory"));
  CHECK_THROWS_WITH(run_stats_of(task_with_runs(R"({"recentPods":[1]})")), Catch::Contains("status.runs.recentPods[0]"));
}
