// File: fleet_report.hpp
//
// The fleet view: for every task, what its pods ask for, what the VPA recommends, what the
// webhook would set now and why, and what that changes of the resource-time the task uses a
// day. The decision is the admission's own: each task's pod is synthesized from its AirflowTask
// (the task's labels, and the requests of its last observed run from status.runs) and decided
// with decide() in dry-run mode against the same snapshot the webhook serves from.
//
//   FleetReport r = build_fleet_report(fleet.tasks, fleet.vpas, *snapshot, config, query);
//
// Change in resource-time per day, per task (negative: saved):
//   sum over containers of (would set - asks) x mean run seconds x runs per day
// in core-hours (cpu) and GiB-hours (memory). A task without observed runs has no asks and no
// change: its row shows the recommendation and "no runs observed".
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "avw/core/decision.hpp"
#include "avw/core/fleet_tasks.hpp"
#include "avw/core/store.hpp"

namespace avw::core {

/// Why a row has no decision: its task has no observed runs, so no pod to decide for.
inline constexpr std::string_view kNoRunsObserved = "no runs observed";

/// One container of a task's row.
struct FleetContainer {
  std::string name;
  ResourceValues asks;         // the last observed run's requests (none without runs)
  ResourceValues recommended;  // the VPA's chosen recommendation field
  ResourceValues would_set;    // asks with the decision's changes (none without runs)
  std::vector<std::string> notes;  // the decision's ResourceChange notes, "cpu: ..." / "memory: ..."
};

struct FleetRow {
  std::string namespace_;
  std::string dag_id;
  std::string task_id;
  Launcher launcher = Launcher::Other;
  std::string task_name;  // the AirflowTask
  std::string vpa_name;   // the governing VPA; empty when none
  std::optional<std::int64_t> last_seen;
  std::int64_t runs_observed = 0;
  double runs_per_day = 0;
  double mean_run_seconds = 0;
  std::vector<FleetContainer> containers;
  Outcome outcome = Outcome::Skipped;
  std::string why;          // Decision::reason, or kNoRunsObserved
  std::vector<Gate> gates;  // the gates that held a change back
  std::int64_t oom_kills = 0;    // kills recorded in status.oomKills
  std::size_t oom_floors = 0;    // floors still in force
  double core_hours_per_day = 0;  // change; negative: saved
  double gib_hours_per_day = 0;
};

/// Sums over a group of rows: a namespace, a DAG (namespace and dag_id), or all.
struct FleetTotal {
  std::string namespace_;  // empty for the grand total
  std::string dag_id;      // empty for namespace totals and the grand total
  std::size_t tasks = 0;
  std::size_t tasks_with_runs = 0;
  double runs_per_day = 0;
  std::int64_t oom_kills = 0;
  double core_hours_per_day = 0;
  double gib_hours_per_day = 0;
};

enum class FleetSort : std::uint8_t {
  Name,           // namespace, DAG, task, launcher
  CpuSavings,     // most core-hours saved a day first
  MemorySavings,  // most GiB-hours saved a day first
  LastSeen,       // most recently seen first, never seen last
  Runs,           // most runs a day first
};
std::string_view to_string(FleetSort s);
std::optional<FleetSort> fleet_sort_from_string(std::string_view s);

struct FleetQuery {
  std::string namespace_;  // only this namespace; empty: all
  std::string dag_id;      // only this DAG; empty: all
  FleetSort sort = FleetSort::Name;
  std::size_t limit = 0;  // at most this many rows (totals count every matching task); 0: all
};

struct FleetReport {
  std::vector<FleetRow> rows;  // sorted, at most query.limit
  std::size_t matched = 0;     // tasks that matched the filters, before the limit
  std::vector<FleetTotal> namespaces;  // by namespace name
  std::vector<FleetTotal> dags;        // by namespace, then DAG
  FleetTotal total;
};

/// Every task matching `query`, its pod synthesized and decided (dry run) against `snapshot`;
/// summed, sorted and cut to the limit. `vpas` names the containers each VPA recommends for,
/// which a task without runs is shown with.
FleetReport build_fleet_report(const std::vector<FleetTask>& tasks, const std::vector<VpaContainers>& vpas,
                               const Snapshot& snapshot, const Config& config, const FleetQuery& query);

}  // namespace avw::core
