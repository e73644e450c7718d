// File: objects.hpp
//
// The API objects the provisioner writes and reads, as pure functions (no I/O, no clock):
// the AirflowTask of a task, its status merge patch, the task's VPA and the merge patch that
// changes the recommender it names, the DeleteOptions of a garbage collection, and the
// decoding of a VPA and of AirflowTask and VPA list pages.
//
//   TaskKey{"airflow", "etl", "load", Launcher::PodOperator}
//     AirflowTask airflow/etl-load-kpo-<hash>, spec.selector and status.selector
//       dag_id=etl,kubernetes_pod_operator=True,task_id=load, spec.replicas 0
//     VerticalPodAutoscaler airflow/etl-load-kpo-<hash>, targetRef that AirflowTask,
//       updateMode Off, owned (not controlled) by it so it is deleted with it, and naming
//       the configured recommender in spec.recommenders (none: the cluster's default).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "avw/core/task.hpp"

namespace avw::provision {

using TimePoint = std::chrono::system_clock::time_point;

inline constexpr std::string_view kTaskApiVersion = "airflow-vpa-webhook.io/v1alpha1";
inline constexpr std::string_view kTaskKind = "AirflowTask";
inline constexpr std::string_view kManagedByLabel = "app.kubernetes.io/managed-by";
inline constexpr std::string_view kManagedByValue = "airflow-vpa-webhook";
/// The KubernetesPodOperator's xcom sidecar (its PodDefaults.SIDECAR_CONTAINER_NAME), which the
/// task VPAs leave out of their recommendation.
inline constexpr std::string_view kXcomSidecar = "airflow-xcom-sidecar";

/// The AirflowTask of `key`: name task_object_name(key), the managed-by label, spec
/// {dagId, taskId, launcher, selector, replicas: 0}. No status: POST ignores it.
std::string airflow_task_json(const core::TaskKey& key, const core::TaskLabelKeys& keys);

/// Merge patch for the AirflowTask's /status: {replicas: 0, selector, lastSeen}. The scale
/// subresource serves status.selector, so this is what makes the VPA see the task's pods.
std::string status_patch_json(const core::TaskKey& key, const core::TaskLabelKeys& keys, TimePoint last_seen);

/// The task's VPA (updateMode Off, every container's cpu and memory), targeting and owned by
/// the AirflowTask whose metadata.uid is `owner_uid`. A non-empty `recommender` is named in
/// spec.recommenders, so only the VPA recommender running with that --recommender-name serves
/// it; empty leaves the field out and the cluster's default recommender serves it.
std::string vpa_json(const core::TaskKey& key, std::string_view owner_uid, std::string_view recommender = {});

/// Merge patch that makes a VPA name `recommender` in spec.recommenders, or name none (null
/// removes the field) when it is empty. metadata.resourceVersion makes it conditional: the API
/// server answers 409 when the VPA changed since it was read, so a concurrent edit is never
/// overwritten unseen.
std::string recommenders_patch_json(std::string_view recommender, std::string_view resource_version);

/// DeleteOptions that delete only the version that was judged stale (a replica that refreshed
/// lastSeen meanwhile made a new resourceVersion, and the API server answers 409).
std::string delete_options_json(std::string_view resource_version);

/// API paths. `name` empty: the namespace's collection.
std::string airflow_task_path(std::string_view namespace_, std::string_view name = {});
std::string vpa_path(std::string_view namespace_, std::string_view name = {});
/// The cluster-wide list of managed AirflowTasks (labelSelector managed-by), one page.
std::string managed_tasks_list_path(std::size_t limit, std::string_view continue_token);
/// The cluster-wide list of managed VPAs (labelSelector managed-by), one page.
std::string managed_vpas_list_path(std::size_t limit, std::string_view continue_token);

/// Percent-encoding of a query value or path segment (unreserved characters kept).
std::string url_encode(std::string_view text);

/// RFC 3339 in UTC with second precision: "2026-11-23T17:09:03Z".
std::string format_rfc3339(TimePoint t);
/// Parses RFC 3339 date-times ("Z" or a numeric offset, optional fraction, which is dropped).
std::optional<TimePoint> parse_rfc3339(std::string_view text);

/// metadata.uid of an object in a response body, when it is a JSON object that has one.
std::optional<std::string> object_uid(std::string_view body);

/// metadata.uid and .resourceVersion of an object in a response body (nullopt without a uid).
struct ObjectVersion {
  std::string uid;
  std::string resource_version;
};
std::optional<ObjectVersion> object_version(std::string_view body);

/// One AirflowTask of a list, as garbage collection needs it.
struct ListedTask {
  std::string namespace_;
  std::string name;
  std::string resource_version;
  bool managed = false;                 // carries app.kubernetes.io/managed-by=airflow-vpa-webhook
  std::optional<TimePoint> last_seen;   // status.lastSeen, when present and valid
  std::optional<TimePoint> created;     // metadata.creationTimestamp, when present and valid
};

struct TaskListPage {
  std::vector<ListedTask> items;
  std::string continue_token;       // empty: last page
  std::vector<std::string> errors;  // items skipped (no name, namespace or resourceVersion)
};

/// Decodes an AirflowTaskList page. nullopt and a reason in `error` when it is not a list.
std::optional<TaskListPage> parse_task_list(std::string_view body, std::string* error = nullptr);

/// What the provisioner reads of a VPA: whether it made it, which recommender serves it and
/// whether that recommender has answered yet.
struct ListedVpa {
  std::string namespace_;
  std::string name;
  std::string resource_version;
  bool managed = false;                  // carries app.kubernetes.io/managed-by=airflow-vpa-webhook
  std::vector<std::string> recommenders;  // spec.recommenders[].name; empty: the default recommender
  bool has_recommendation = false;       // status.recommendation has a container recommendation
  std::optional<TimePoint> created;      // metadata.creationTimestamp, when present and valid

  /// True when spec.recommenders says what `recommender` (empty: none) asks for.
  bool names(std::string_view recommender) const;
  /// The recommender that serves it: the first one named, else "default" (the name of the
  /// recommender that serves VPAs naming none).
  std::string served_by() const;
};

struct VpaListPage {
  std::vector<ListedVpa> items;
  std::string continue_token;       // empty: last page
  std::vector<std::string> errors;  // items skipped (no name, namespace or resourceVersion, bad fields)
};

/// Decodes one VPA as the API server serves it. nullopt and a reason in `error` when it is not
/// a VPA object this can read (no metadata, name or resourceVersion; spec.recommenders not a
/// list of {name}). Fields it does not use, such as those of newer VPA releases, are ignored.
std::optional<ListedVpa> parse_vpa(std::string_view body, std::string* error = nullptr);

/// Decodes a VerticalPodAutoscalerList page. nullopt and a reason in `error` when it is not a list.
std::optional<VpaListPage> parse_vpa_list(std::string_view body, std::string* error = nullptr);

/// True when the task was last seen (or, never seen, created) `forget_after` or longer before
/// `now`. Without either time it is kept: in doubt, nothing is deleted.
bool is_stale(const ListedTask& task, TimePoint now, std::chrono::seconds forget_after);

}  // namespace avw::provision
