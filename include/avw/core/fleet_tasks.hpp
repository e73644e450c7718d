// File: fleet_tasks.hpp
//
// What the fleet report reads of a document beyond what the store keeps: each AirflowTask's
// identity and status (lastSeen, oomKills, runs), and which containers each VPA recommends
// for (a task without observed runs has no pod to name its containers). The document is what
// the store's sources read: a `List` as `kubectl get vpa,airflowtasks -A -o json` prints it,
// an API list page (`AirflowTaskList`, `VerticalPodAutoscalerList`) or a single object.
//
//   FleetObjects fleet = decode_fleet_objects(page_body, config.keys);
//
// Objects of other kinds are ignored; an AirflowTask that cannot be understood is skipped with
// a line in `errors`, as decode_objects() does, so one bad object never hides the others.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "avw/core/objects.hpp"
#include "avw/core/oom_kill.hpp"
#include "avw/core/run_stats.hpp"
#include "avw/core/task.hpp"

namespace avw::core {

/// An AirflowTask as the report reads it.
struct FleetTask {
  std::string namespace_;
  std::string name;
  std::string dag_id;   // spec.dagId
  std::string task_id;  // spec.taskId
  /// spec.launcher; when absent (objects made before it existed), read from the selector.
  Launcher launcher = Launcher::Other;
  std::optional<std::int64_t> last_seen;  // status.lastSeen, seconds since the epoch
  std::vector<OomKill> oom_kills;         // status.oomKills
  RunStats runs;                          // status.runs

  friend bool operator==(const FleetTask&, const FleetTask&) = default;
};

/// The containers a VPA's status.recommendation names, in its order.
struct VpaContainers {
  std::string namespace_;
  std::string name;
  std::vector<std::string> containers;

  friend bool operator==(const VpaContainers&, const VpaContainers&) = default;
};

struct FleetObjects {
  std::vector<FleetTask> tasks;
  std::vector<VpaContainers> vpas;
  std::vector<std::string> errors;  // one line per skipped AirflowTask
};

/// Decodes the AirflowTasks and VPAs of a document. Throws DecodeError (admission.hpp) only
/// when the document is not JSON or not an object.
FleetObjects decode_fleet_objects(std::string_view json, const TaskLabelKeys& keys);

}  // namespace avw::core
