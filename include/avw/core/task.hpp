// File: task.hpp
//
// Airflow task identity. A pod is a task pod when it has the dag and task labels; the key
// is (namespace, dag_id, task_id, launcher). The launcher keeps apart the two pods that a
// KubernetesPodOperator task run by the KubernetesExecutor makes (the executor's worker and
// the operator's workload share ids and the container name `base`). run_id, try_number,
// map_index and the like change per run and are never part of the key.
//
//   TaskKey{"airflow", "etl", "load", Launcher::PodOperator}
//     selector: dag_id=etl,kubernetes_pod_operator=True,task_id=load
//     object name: etl-load-kpo-<hash>
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "avw/core/admission.hpp"
#include "avw/core/selector.hpp"

namespace avw::core {

/// The label keys that identify a task; configurable so other batch systems can be served.
struct TaskLabelKeys {
  std::string dag_id = "dag_id";
  std::string task_id = "task_id";
  std::string pod_operator = "kubernetes_pod_operator";  // value "True" on operator pods
  std::string executor = "kubernetes_executor";          // value "True" on executor pods
  std::string try_number = "try_number";
  std::string run_id = "run_id";  // the closed loop counts clean runs by it
};

enum class Launcher : std::uint8_t { PodOperator, Executor, Other };
std::string_view to_string(Launcher l);

/// Views into the pod (or the request) it was taken from.
struct TaskKey {
  std::string_view namespace_;
  std::string_view dag_id;
  std::string_view task_id;
  Launcher launcher = Launcher::Other;
  friend bool operator==(const TaskKey&, const TaskKey&) = default;
};

/// The task key of a pod, or nullopt when it is not a task pod: a dag or task label is
/// missing or empty, or a launcher label has a value other than "True", or both are set.
std::optional<TaskKey> task_key_of(const LabelSet& labels, std::string_view namespace_,
                                   const TaskLabelKeys& keys);

/// The selector spelling out the key: dag and task equalities plus the launcher
/// (`kubernetes_pod_operator=True`, `kubernetes_executor=True`, or both negated).
Selector task_selector(const TaskKey& key, const TaskLabelKeys& keys);

/// A deterministic DNS-1123 subdomain-and-label-safe name for the task's AirflowTask and VPA:
/// `<dag>-<task>-<kpo|exec|pod>` lowercased, invalid characters replaced, truncated so the
/// whole stays within `max_length` (default 63, the VPA checkpoint `<vpa>-<container>` still
/// fits 253), always ending in `-` and 8 hex digits of a hash of the exact key values.
std::string task_object_name(const TaskKey& key, std::size_t max_length = 63);

/// `try_number` as an integer when present and valid.
std::optional<std::int64_t> try_number_of(const LabelSet& labels, const TaskLabelKeys& keys);

}  // namespace avw::core
