// Synthetic recommendation stores of realistic shape for the benchmarks: one AirflowTask and
// one VPA (two containers, a `*` policy, a recommendation) per task, spread over namespaces.
#pragma once

#include <cstddef>
#include <string>

namespace avw::bench {

/// A `List` document with `tasks` AirflowTasks and their VPAs in `namespaces` namespaces,
/// plus the task etl_daily/load (KubernetesPodOperator) in namespace `airflow` that the
/// captured KPO pod belongs to. With `task_status`, each AirflowTask also has what the
/// provisioner and the closed loop write (spec.dagId, taskId, launcher; status.lastSeen and
/// runs), as the fleet report reads it.
std::string synthetic_store_json(std::size_t tasks, std::size_t namespaces = 20, bool task_status = false);

/// An AdmissionReview of a KubernetesPodOperator pod of roughly `bytes` bytes (env vars pad it).
std::string large_review_json(std::size_t bytes);

}  // namespace avw::bench
