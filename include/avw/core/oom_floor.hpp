// File: oom_floor.hpp
//
// The closed loop's memory floor: what an OOM kill teaches a task, and when the lesson ends.
//
// The VPA recommender before 1.7.0 does not see OOM kills of `restartPolicy: Never` pods
// (every Airflow task pod), so a task sized below its need is killed on every run. When a
// container ends OOMKilled, the task's next pods get memory of at least
//
//   floor = max(killed x ratio, killed + min_bump)     (defaults 1.2 and 100Mi, the VPA's own
//                                                       OOM bump)
//
// of the request it was killed with, and, where it had a memory limit, a limit of at least the
// same bump of that limit (the kernel kills at the limit, so a floor on the request alone would
// not save the next run). The planner applies it as the `oom` gate, within maxAllowed.
//
// How a floor ends: when `clean_runs_to_lift` runs of the task created after the kill have
// completed without an OOM kill, and the recommendation for the container has reached the
// floor's request. The recommender has then seen whole runs at the raised size and its target
// covers them, so the floor no longer holds anything up. A new kill resets the count. A floor
// never ends by time alone: one the recommendation never reaches means the recommender cannot
// see the need, and lifting it would bring back the daily OOM.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "avw/core/oom_kill.hpp"
#include "avw/core/quantity.hpp"
#include "avw/core/task_pod.hpp"

namespace avw::core {

struct OomPolicy {
  /// A plain number > 1 (Quantity: exact): 1.2.
  Quantity bump_ratio = Quantity(Int128{1'200'000'000}, Quantity::Format::DecimalSI);
  Quantity min_bump = Quantity(Int128{100} * 1024 * 1024 * kNanosPerUnit, Quantity::Format::BinarySI);
  /// Clean runs after the kill before the floor may end (with the recommendation at it).
  std::int64_t clean_runs_to_lift = 3;
};

/// max(killed x ratio, killed + min_bump), rounded up to a whole byte, in binary format.
Quantity oom_bumped(const Quantity& killed, const OomPolicy& policy);

struct MemoryFloor {
  std::optional<Quantity> request;
  std::optional<Quantity> limit;  // only when the container was killed with a limit
};
/// The floor a kill sets. A kill with neither request nor limit sets none.
MemoryFloor memory_floor(const std::optional<Quantity>& killed_request, const std::optional<Quantity>& killed_limit,
                         const OomPolicy& policy);

/// The memory the recommendation gives a container now (for lifting), or nullopt.
using RecommendedMemory = std::function<std::optional<Quantity>(std::string_view container)>;

/// What one pod's end changes in its task's status.oomKills.
struct OomUpdate {
  std::vector<OomKill> kills;        // the whole new list
  std::vector<std::string> raised;   // containers whose floor this pod raised
  std::vector<std::string> lifted;   // containers whose floor this pod's clean run ended
  std::vector<std::string> unsized;  // killed containers that had no memory request or limit
  bool counted_clean_run = false;    // a floor counted this pod as a clean run
  bool changed() const { return !raised.empty() || !lifted.empty() || counted_clean_run; }
};

/// Learns from a finished task pod (TaskPod::finished()). Idempotent: the same pod seen twice
/// (two replicas, a relist after a restart) changes nothing the second time, and a kill older
/// than the one recorded is ignored. `run_id` identifies the run (its label, else the pod
/// name); `now` is when a lifted floor ended.
OomUpdate learn_from_pod_end(std::vector<OomKill> kills, const TaskPod& pod, std::string_view run_id,
                             std::int64_t try_number, const OomPolicy& policy,
                             const RecommendedMemory& recommended_memory, std::int64_t now);

}  // namespace avw::core
