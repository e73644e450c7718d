// File: task_status.hpp (private to the loop)
//
// What a finished pod teaches, written into its AirflowTask's status: its run counted in
// status.runs (core/run_stats.hpp) and its OOM kills in status.oomKills. Read the object, let
// core::count_run and core::learn_from_pod_end say what changes, and merge-patch /status with
// the resourceVersion that was read. Two replicas that saw the same pod race; the API server takes
// the first write and answers the second 409 Conflict, whose replica reads again and finds the
// pod already learnt from. Nothing is written when nothing changes.
#pragma once

#include <cstdint>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "avw/core/oom_floor.hpp"
#include "avw/core/run_stats.hpp"
#include "avw/kube/client.hpp"

namespace avw::loop {

struct LearnInput {
  std::string namespace_;
  std::string task_name;  // the AirflowTask
  const core::TaskPod& pod;
  std::string run_id;
  std::int64_t try_number = 0;
  /// The run to count in status.runs, when its run time is known.
  std::optional<core::FinishedRun> run;
  const core::OomPolicy& policy;
  core::RecommendedMemory recommended_memory;
  std::int64_t now = 0;
  unsigned max_conflicts = 5;
};

struct StatusWrite {
  enum class Result { Written, Unchanged, Missing, Undecodable, Failed };
  Result result = Result::Failed;
  core::OomUpdate update;            // what was written (Written)
  bool run_counted = false;          // status.runs counted the pod (Written)
  std::string uid;                   // the AirflowTask's, for the Event
  std::string resource_version;      // after the write
  unsigned conflicts = 0;            // races lost on the way
  std::string error;                 // Undecodable, Failed: one line
};

boost::asio::awaitable<StatusWrite> learn_into_status(kube::Client& client, const LearnInput& input);

/// The merge patch: {"metadata":{"resourceVersion":rv},"status":{"oomKills":[...],"runs":{...}}},
/// with only the members given.
std::string status_patch(std::string_view resource_version, const std::vector<core::OomKill>* kills,
                         const core::RunStats* runs);

}  // namespace avw::loop
