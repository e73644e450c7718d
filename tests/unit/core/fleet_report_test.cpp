#include "avw/core/fleet_report.hpp"
#include "avw/core/object_list.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <stdexcept>

#include "support/fixtures.hpp"

using namespace avw::core;

namespace {

Quantity q(std::string_view text) { return *Quantity::parse(text); }

// tests/fixtures/report/fleet.json (its README says what each task shows), as the file source
// reads it: the snapshot from decode_objects(), the tasks from decode_fleet_objects().
struct Fleet {
  Fleet() : text(avw::test::read_fixture("report/fleet.json")) {
    snapshot = Snapshot::build(decode_objects(text), StoreOptions{});
    objects = decode_fleet_objects(text, config.keys);
  }
  FleetReport report(const FleetQuery& query = {}) const {
    return build_fleet_report(objects.tasks, objects.vpas, *snapshot, config, query);
  }
  std::string text;
  Config config;
  std::shared_ptr<const Snapshot> snapshot;
  FleetObjects objects;
};

const FleetRow& row_of(const FleetReport& r, std::string_view task_name) {
  for (const FleetRow& row : r.rows) {
    if (row.task_name == task_name) return row;
  }
  FAIL("no row for " << task_name);
  throw std::logic_error("unreachable");
}

std::vector<std::string> names(const FleetReport& r) {
  std::vector<std::string> out;
  for (const FleetRow& row : r.rows) out.push_back(row.task_name);
  return out;
}

}  // namespace

TEST_CASE("the report's tasks are read from AirflowTasks, their VPAs' containers from the VPAs", "[fleet]") {
  const Fleet f;
  REQUIRE(f.objects.errors.empty());
  REQUIRE(f.objects.tasks.size() == 4);
  const FleetTask& load = f.objects.tasks[0];
  CHECK(load.namespace_ == "airflow");
  CHECK(load.name == "etl-load");
  CHECK(load.dag_id == "etl");
  CHECK(load.task_id == "load");
  CHECK(load.launcher == Launcher::PodOperator);  // no spec.launcher: from the selector
  CHECK(load.last_seen == parse_rfc3339("2026-12-06T08:00:00Z"));
  CHECK(load.runs.observed == 10);
  CHECK(f.objects.tasks[1].oom_kills.size() == 1);
  CHECK(f.objects.tasks[2].runs == RunStats{});
  CHECK(f.objects.tasks[3].launcher == Launcher::Executor);
  REQUIRE(f.objects.vpas.size() == 4);
  CHECK(f.objects.vpas[2] == VpaContainers{"airflow", "ml-fit", {"base"}});
}

TEST_CASE("an AirflowTask list page names its items' kind; a bad task is skipped with a reason", "[fleet]") {
  const FleetObjects fleet = decode_fleet_objects(R"({"apiVersion": "airflow-vpa-webhook.io/v1alpha1",
      "kind": "AirflowTaskList", "metadata": {"resourceVersion": "9"}, "items": [
      {"metadata": {"name": "a", "namespace": "ns"}, "spec": {"dagId": "d", "taskId": "t", "launcher": "Other"},
       "status": {"selector": "dag_id=d,task_id=t,kubernetes_pod_operator=True"}},
      {"metadata": {"name": "b", "namespace": "ns"}, "spec": {"taskId": "t"}},
      {"metadata": {"name": "c", "namespace": "ns"}, "spec": {"dagId": "d", "taskId": "u"},
       "status": {"selector": "dag_id=d,task_id=u,!kubernetes_pod_operator,kubernetes_executor=True",
                  "runs": {"observed": "many"}}}]})",
                                                  TaskLabelKeys{});
  REQUIRE(fleet.tasks.size() == 2);
  CHECK(fleet.tasks[0].launcher == Launcher::Other);  // spec.launcher wins over the selector
  CHECK(fleet.tasks[1].launcher == Launcher::Executor);
  CHECK_FALSE(fleet.tasks[1].runs.any());  // a malformed runs record is no runs
  REQUIRE(fleet.errors.size() == 1);
  CHECK(fleet.errors[0] == "items[1] (AirflowTask): spec.dagId: missing");
  CHECK(fleet.vpas.empty());
  CHECK_THROWS_AS(decode_fleet_objects("{ nope", TaskLabelKeys{}), DecodeError);
}

TEST_CASE("each task's row is the admission's decision on its synthesized pod", "[fleet]") {
  const Fleet f;
  const FleetReport r = f.report();
  REQUIRE(r.rows.size() == 4);

  SECTION("a plain decrease: resource-time from the observed runs") {
    // 10 runs of 36000 s in all between 11-01 and 11-06: 5 days, 2 runs a day of 3600 s,
    // 7200 run-seconds a day. cpu 1 -> 250m: -0.75 cores x 7200 s = -5400 core-s = -1.5
    // core-hours a day; memory 2Gi -> 1Gi: -1 GiB x 7200 s = -2 GiB-hours a day.
    const FleetRow& row = row_of(r, "etl-load");
    CHECK(row.vpa_name == "etl-load");
    CHECK(row.outcome == Outcome::Audited);
    CHECK(row.runs_observed == 10);
    CHECK(row.runs_per_day == Approx(2));
    CHECK(row.mean_run_seconds == Approx(3600));
    REQUIRE(row.containers.size() == 1);
    const FleetContainer& base = row.containers[0];
    CHECK(base.name == "base");
    CHECK(base.asks[Resource::Cpu] == q("1"));
    CHECK(base.asks[Resource::Memory] == q("2Gi"));
    CHECK(base.recommended[Resource::Cpu] == q("250m"));
    CHECK(base.recommended[Resource::Memory] == q("1Gi"));
    CHECK(base.would_set[Resource::Cpu] == q("250m"));
    CHECK(base.would_set[Resource::Memory] == q("1Gi"));
    CHECK(row.gates.empty());
    CHECK(row.why == "VPA etl-load: base: cpu request 1 -> 250m, memory request 2Gi -> 1Gi");
    CHECK(row.core_hours_per_day == Approx(-1.5));
    CHECK(row.gib_hours_per_day == Approx(-2));
  }
  SECTION("an OOM floor raises memory above the recommendation, and costs") {
    // Killed at 1Gi: floor max(1Gi x 1.2, 1Gi + 100Mi) = 1288490188.8, rounded up to
    // 1288490189 bytes, above the 512Mi target. 4 runs of 1800 s in one day: 7200 run-seconds a
    // day; +214748365 bytes x 7200 s / 3600 / 2^30 = +0.4000000004 GiB-hours a day.
    const FleetRow& row = row_of(r, "etl-extract");
    CHECK(row.oom_kills == 2);
    CHECK(row.oom_floors == 1);
    REQUIRE(row.containers.size() == 1);
    CHECK(row.containers[0].recommended[Resource::Memory] == q("512Mi"));
    CHECK(row.containers[0].would_set[Resource::Memory] == q("1288490189"));
    CHECK(row.containers[0].would_set[Resource::Cpu] == q("500m"));
    // The change's notes say why memory went up.
    REQUIRE(row.containers[0].notes.size() == 1);
    CHECK(row.containers[0].notes[0].starts_with("memory: "));
    CHECK(std::find(row.gates.begin(), row.gates.end(), Gate::Oom) != row.gates.end());
    CHECK(row.core_hours_per_day == 0);
    CHECK(row.gib_hours_per_day == Approx(214748365.0 * 7200 / 3600 / 1073741824));
  }
  SECTION("a task without runs shows its recommendation and no change") {
    const FleetRow& row = row_of(r, "ml-fit");
    CHECK(row.why == kNoRunsObserved);
    CHECK(row.outcome == Outcome::Skipped);
    CHECK(row.vpa_name == "ml-fit");
    REQUIRE(row.containers.size() == 1);
    CHECK(row.containers[0].recommended[Resource::Cpu] == q("2"));
    CHECK(row.containers[0].recommended[Resource::Memory] == q("4Gi"));
    CHECK(row.containers[0].asks.empty());
    CHECK(row.containers[0].would_set.empty());
    CHECK(row.core_hours_per_day == 0);
    CHECK(row.gib_hours_per_day == 0);
  }
  SECTION("the history gate holds memory back and lets cpu through") {
    // Its checkpoint has no memory histogram. 30 runs of 1800 s over 10 days: 3 a day, 5400
    // run-seconds a day; cpu 1 -> 500m: -0.5 x 5400 / 3600 = -0.75 core-hours; memory stays.
    const FleetRow& row = row_of(r, "etl-report");
    CHECK(row.launcher == Launcher::Executor);
    CHECK(row.gates == std::vector<Gate>{Gate::History});
    REQUIRE(row.containers.size() == 1);
    const FleetContainer& base = row.containers[0];
    CHECK(base.would_set[Resource::Cpu] == q("500m"));
    CHECK(base.would_set[Resource::Memory] == q("1Gi"));
    CHECK(base.recommended[Resource::Memory] == q("512Mi"));
    // The decision says why in its reason (the held-back resource has no change to note).
    CHECK(row.why.find("history") != std::string::npos);
    CHECK(row.core_hours_per_day == Approx(-0.75));
    CHECK(row.gib_hours_per_day == 0);
  }
}

TEST_CASE("totals sum the rows by namespace, by DAG and in all", "[fleet]") {
  const Fleet f;
  const FleetReport r = f.report();
  // airflow: etl-load (-1.5, -2, 2 runs/day), etl-extract (0, +0.4, 4 runs/day, 2 kills),
  // ml-fit (no runs). batch: etl-report (-0.75, 0, 3 runs/day).
  const double extract_gib = 214748365.0 * 7200 / 3600 / 1073741824;
  REQUIRE(r.namespaces.size() == 2);
  CHECK(r.namespaces[0].namespace_ == "airflow");
  CHECK(r.namespaces[0].tasks == 3);
  CHECK(r.namespaces[0].tasks_with_runs == 2);
  CHECK(r.namespaces[0].runs_per_day == Approx(6));
  CHECK(r.namespaces[0].oom_kills == 2);
  CHECK(r.namespaces[0].core_hours_per_day == Approx(-1.5));
  CHECK(r.namespaces[0].gib_hours_per_day == Approx(-2 + extract_gib));
  CHECK(r.namespaces[1].namespace_ == "batch");
  CHECK(r.namespaces[1].core_hours_per_day == Approx(-0.75));

  REQUIRE(r.dags.size() == 3);
  CHECK((r.dags[0].namespace_ == "airflow" && r.dags[0].dag_id == "etl"));
  CHECK(r.dags[0].tasks == 2);
  CHECK(r.dags[0].gib_hours_per_day == Approx(-2 + extract_gib));
  CHECK((r.dags[1].namespace_ == "airflow" && r.dags[1].dag_id == "ml"));
  CHECK(r.dags[1].tasks == 1);
  CHECK(r.dags[1].tasks_with_runs == 0);
  CHECK((r.dags[2].namespace_ == "batch" && r.dags[2].dag_id == "etl"));

  CHECK(r.total.tasks == 4);
  CHECK(r.total.runs_per_day == Approx(9));
  CHECK(r.total.core_hours_per_day == Approx(-2.25));
  CHECK(r.total.gib_hours_per_day == Approx(-2 + extract_gib));
}

TEST_CASE("rows sort by name, savings, last seen or runs", "[fleet]") {
  const Fleet f;
  using Names = std::vector<std::string>;
  FleetQuery query;
  CHECK(names(f.report(query)) == Names{"etl-extract", "etl-load", "ml-fit", "etl-report"});
  query.sort = FleetSort::CpuSavings;  // -1.5, -0.75, then 0 cpu: ml-fit's 0 GiB before +0.4
  CHECK(names(f.report(query)) == Names{"etl-load", "etl-report", "ml-fit", "etl-extract"});
  query.sort = FleetSort::MemorySavings;  // -2, then 0 GiB: -0.75 cpu before 0, then +0.4
  CHECK(names(f.report(query)) == Names{"etl-load", "etl-report", "ml-fit", "etl-extract"});
  query.sort = FleetSort::LastSeen;  // 12-06, 12-05, 12-01, never
  CHECK(names(f.report(query)) == Names{"etl-load", "etl-extract", "etl-report", "ml-fit"});
  query.sort = FleetSort::Runs;  // 4, 3, 2, 0 a day
  CHECK(names(f.report(query)) == Names{"etl-extract", "etl-report", "etl-load", "ml-fit"});

  for (const FleetSort s :
       {FleetSort::Name, FleetSort::CpuSavings, FleetSort::MemorySavings, FleetSort::LastSeen, FleetSort::Runs}) {
    CHECK(fleet_sort_from_string(to_string(s)) == s);
  }
  CHECK_FALSE(fleet_sort_from_string("savings"));
}

TEST_CASE("filters choose the tasks; the limit cuts rows but not totals", "[fleet]") {
  const Fleet f;
  FleetQuery query;
  query.dag_id = "etl";
  CHECK(names(f.report(query)) == std::vector<std::string>{"etl-extract", "etl-load", "etl-report"});
  query.namespace_ = "airflow";
  query.sort = FleetSort::CpuSavings;
  query.limit = 1;
  const FleetReport r = f.report(query);
  CHECK(names(r) == std::vector<std::string>{"etl-load"});
  CHECK(r.matched == 2);
  CHECK(r.total.tasks == 2);
  CHECK(r.total.core_hours_per_day == Approx(-1.5));
  REQUIRE(r.namespaces.size() == 1);
  REQUIRE(r.dags.size() == 1);
  query.namespace_ = "nowhere";
  CHECK(f.report(query).rows.empty());
}
