// File: task_pod.hpp
//
// A task pod as the closed loop reads it from the pod watch: who it is, what each container
// asked for, and how each container ended. The webhook sees a pod's birth in the
// AdmissionReview; this is its death, as the kubelet reports it in the pod's status:
//
//   state.terminated: {reason: OOMKilled, exitCode: 137, startedAt, finishedAt}
//
// A `restartPolicy: Never` pod (every Airflow task pod) ends with its containers in `state`;
// a container restarted in place (OnFailure) keeps the previous end in `lastState`. Both are
// read. Decoded by decode_objects() / decode_watch_event() into DecodedObjects::pods.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "avw/core/resources.hpp"
#include "avw/core/selector.hpp"

namespace avw::core {

/// How a container ended (containerStatuses[].state.terminated or .lastState.terminated).
struct ContainerEnd {
  std::string reason;    // "OOMKilled", "Completed", "Error", ...
  std::int64_t exit_code = 0;
  std::optional<std::int64_t> started_at;   // seconds since the epoch
  std::optional<std::int64_t> finished_at;

  bool oom_killed() const { return reason == "OOMKilled"; }
  friend bool operator==(const ContainerEnd&, const ContainerEnd&) = default;
};

struct TaskPodContainer {
  std::string name;
  ResourceValues requests;
  ResourceValues limits;
  std::optional<ContainerEnd> terminated;       // state.terminated
  std::optional<ContainerEnd> last_terminated;  // lastState.terminated

  /// The end that was an OOM kill, if either was.
  const ContainerEnd* oom_kill() const;
  friend bool operator==(const TaskPodContainer&, const TaskPodContainer&) = default;
};

enum class PodPhase : std::uint8_t { Pending, Running, Succeeded, Failed, Unknown };
std::string_view to_string(PodPhase p);

struct TaskPod {
  std::string namespace_;
  std::string name;
  std::string uid;
  std::int64_t created = 0;  // metadata.creationTimestamp, seconds since the epoch
  std::vector<std::pair<std::string, std::string>> labels;
  std::vector<std::pair<std::string, std::string>> annotations;
  PodPhase phase = PodPhase::Unknown;
  std::optional<std::int64_t> start_time;  // status.startTime
  bool deleting = false;                   // metadata.deletionTimestamp is set
  std::vector<TaskPodContainer> containers;  // spec.containers, each with its status

  /// Succeeded or Failed: no container will run again.
  bool finished() const { return phase == PodPhase::Succeeded || phase == PodPhase::Failed; }
  /// Views into this pod's labels / annotations (valid while it lives).
  LabelSet label_set() const;
  LabelSet annotation_set() const;
  /// From the first container start (status.startTime when none is known) to the last
  /// container end, in seconds; nullopt while any container has not ended.
  std::optional<std::int64_t> run_seconds() const;

  friend bool operator==(const TaskPod&, const TaskPod&) = default;
};

}  // namespace avw::core
