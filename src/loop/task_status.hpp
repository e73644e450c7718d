// File: task_status.hpp (private to the loop)
//
// What a finished pod teaches, written into its AirflowTask's status.oomKills: read the
// object, let core::learn_from_pod_end say what changes, and merge-patch /status with the
// resourceVersion that was read. Two replicas that saw the same pod race; the API server takes
// the first write and answers the second 409 Conflict, whose replica reads again and finds the
// pod already learnt from. Nothing is written when nothing changes.
#pragma once

#include <cstdint>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "avw/core/oom_floor.hpp"
#include "avw/kube/client.hpp"

namespace avw::loop {

struct LearnInput {
  std::string namespace_;
  std::string task_name;  // the AirflowTask
  const core::TaskPod& pod;
  std::string run_id;
  std::int64_t try_number = 0;
  const core::OomPolicy& policy;
  core::RecommendedMemory recommended_memory;
  std::int64_t now = 0;
  unsigned max_conflicts = 5;
};

struct StatusWrite {
  enum class Result { Written, Unchanged, Missing, Undecodable, Failed };
  Result result = Result::Failed;
  core::OomUpdate update;            // what was written (Written)
  std::string uid;                   // the AirflowTask's, for the Event
  std::string resource_version;      // after the write
  unsigned conflicts = 0;            // races lost on the way
  std::string error;                 // Undecodable, Failed: one line
};

boost::asio::awaitable<StatusWrite> learn_into_status(kube::Client& client, const LearnInput& input);

/// The merge patch: {"metadata":{"resourceVersion":rv},"status":{"oomKills":[...]}}.
std::string oom_kills_patch(std::string_view resource_version, const std::vector<core::OomKill>& kills);

}  // namespace avw::loop
