// File: run_stats.hpp
//
// What the closed loop has seen of a task's finished runs, as its AirflowTask keeps it in
// `status.runs`:
//
//   runs:
//     observed: 42                          # finished task pods counted (Succeeded or Failed)
//     seconds: 151200                       # their total run time (pod start to last container end)
//     since: "2026-11-01T08:00:00Z"         # when the first counted run finished
//     lastFinishedAt: "2026-12-06T08:41:00Z"
//     containers:                           # the requests of the last counted run's pod
//     - name: base
//       cpu: "500m"                         # absent when the container asked for none
//       memory: "1Gi"
//
// Run time is what turns a request change into resource-time (resource_time.hpp): a task that
// runs five minutes a day saves little however much its request shrinks. The record is written
// by the webhook but read by anyone (kubectl, the report): a missing or malformed `runs` means
// "no runs observed", never an error that hides the rest of the task.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "avw/core/resources.hpp"

namespace avw::core {

/// The requests of one container of the last counted run's pod.
struct RunContainer {
  std::string name;
  ResourceValues requests;

  friend bool operator==(const RunContainer&, const RunContainer&) = default;
};

struct RunStats {
  std::int64_t observed = 0;
  std::int64_t seconds = 0;
  std::optional<std::int64_t> since;             // seconds since the epoch
  std::optional<std::int64_t> last_finished_at;  // seconds since the epoch
  std::vector<RunContainer> containers;

  /// True when at least one run was counted.
  bool any() const { return observed > 0; }
  /// The window the runs were counted over, in days: lastFinishedAt - since, at least one day
  /// (a task seen for an hour has not shown how often it runs per day).
  double window_days() const;
  /// observed / window_days(); 0 without runs.
  double runs_per_day() const;
  /// seconds / observed; 0 without runs.
  double mean_run_seconds() const;
  /// Run seconds per day: mean_run_seconds() x runs_per_day().
  double run_seconds_per_day() const;

  friend bool operator==(const RunStats&, const RunStats&) = default;
};

/// Decodes the JSON of `status.runs` (the object itself). Anything missing or malformed (not
/// JSON, a negative count, a bad timestamp or quantity) gives RunStats{}: no runs observed.
RunStats decode_run_stats(std::string_view json);

/// The JSON object of `status.runs`, as decode_run_stats() reads it.
std::string run_stats_to_json(const RunStats& runs);

}  // namespace avw::core
