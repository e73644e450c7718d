// File: run_stats.hpp
//
// What the closed loop has seen of a task's runs, as the AirflowTask keeps it in
// `status.runs`, so that the fleet report can turn a request change into resource-time per day:
//
//   runs:
//     observed: 42                       # finished task pods counted (Succeeded or Failed)
//     seconds: 151200                    # their total run time (first start to last end)
//     since: "2026-11-01T08:00:00Z"      # when the first counted run ended
//     lastFinishedAt: "2026-12-06T08:41:00Z"
//     containers:                        # what the last counted run's pod asked for
//     - {name: base, cpu: 500m, memory: 1Gi}
//     recentPods: [uid, ...]             # the last kRecentPods counted, so none counts twice
//
// Every replica sees every finished pod; the first to write counts it and the others find its
// uid in recentPods. The record is a statistic (runs per day, mean run time), not a ledger: a
// replica more than kRecentPods runs of one task behind the other could count a run twice.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "avw/core/resource_time.hpp"

namespace avw::core {

struct RunStats {
  static constexpr std::size_t kRecentPods = 64;

  std::int64_t observed = 0;
  std::int64_t seconds = 0;
  std::int64_t since = 0;             // seconds since the epoch
  std::int64_t last_finished_at = 0;  // seconds since the epoch
  PodRequests containers;             // cpu/memory requests as the last counted run asked
  std::vector<std::string> recent_pods;

  /// True when at least one run was counted.
  bool any() const { return observed > 0; }
  /// The days the counted runs span: lastFinishedAt - since, at least one (a task seen for an
  /// hour has not shown how often it runs per day).
  double window_days() const;
  /// observed / window_days(); 0 without runs.
  double runs_per_day() const;
  /// seconds / observed; 0 without runs.
  double mean_run_seconds() const;
  /// Run seconds per day: mean_run_seconds() x runs_per_day().
  double run_seconds_per_day() const;
  friend bool operator==(const RunStats&, const RunStats&) = default;
};

/// One finished pod, as the loop counts it.
struct FinishedRun {
  std::string_view pod_uid;
  std::int64_t finished_at = 0;  // the last container end
  std::int64_t run_seconds = 0;
  PodRequests asked;             // before any patch of the webhook's
  /// Ended before this process started: counted only when newer than any run counted (it
  /// ended while no replica was counting), never when a replica may have counted it already.
  bool before_start = false;
};

/// Counts `run` into `stats`; false (and `stats` unchanged) when it was counted already.
bool count_run(RunStats& stats, const FinishedRun& run);

/// The `status.runs` member of an AirflowTask's JSON, for the loop that writes it: nullopt when
/// it has none. Throws DecodeError when the document is not JSON, or `status.runs` is malformed
/// (never overwritten blindly). Readers that only show it (the report) use the tolerant
/// decoder in kind_decoders.hpp, for which a malformed record is no runs observed.
std::optional<RunStats> run_stats_of(std::string_view airflow_task_json);

/// The JSON object of `status.runs`.
std::string run_stats_to_json(const RunStats& stats);

}  // namespace avw::core
