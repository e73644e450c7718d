// The fleet view's rows, totals, order and filters (see fleet_report.hpp).
#include "avw/core/fleet_report.hpp"

#include <algorithm>
#include <map>
#include <tuple>
#include <unordered_map>

#include "avw/core/planner.hpp"
#include "avw/core/resource_time.hpp"

namespace avw::core {
namespace {

constexpr double kSecondsPerHour = 3600;
constexpr double kBytesPerGiB = 1024.0 * 1024.0 * 1024.0;
constexpr std::string_view kTrue = "True";

using VpaIndex = std::unordered_map<std::string, const VpaContainers*>;  // "namespace/name"

std::string vpa_key(std::string_view namespace_, std::string_view name) {
  std::string key(namespace_);
  key += '/';
  key += name;
  return key;
}

// The pod the task's next run would bring: the labels its key spells out (and only those,
// as the selector the AirflowTask carries) and the containers of its last observed run.
TaskPod task_pod_of(const FleetTask& task, const TaskLabelKeys& keys) {
  TaskPod pod;
  pod.namespace_ = task.namespace_;
  pod.name = task.name;
  pod.labels = {{keys.dag_id, task.dag_id}, {keys.task_id, task.task_id}};
  if (task.launcher == Launcher::PodOperator) pod.labels.emplace_back(keys.pod_operator, kTrue);
  if (task.launcher == Launcher::Executor) pod.labels.emplace_back(keys.executor, kTrue);
  for (const auto& [name, requests] : task.runs.containers) {
    TaskPodContainer container;
    container.name = name;
    container.requests = requests;
    pod.containers.push_back(std::move(container));
  }
  return pod;
}

ResourceValues recommended_values(const VpaView& vpa, std::string_view container, RecommendationField field) {
  ResourceValues out;
  if (vpa == nullptr) return out;
  const auto rec = vpa->recommendation_for(container);
  if (!rec) return out;
  for (const Resource r : kResources) out[r] = recommended(*rec, field, r);
  return out;
}

// What the decision changed of `container`, and the notes it gave.
void apply_plan(FleetContainer& container, const Decision& decision) {
  for (const ContainerPlan& plan : decision.containers) {
    if (plan.name != container.name) continue;
    for (const ResourceChange& change : plan.changes) {
      if (change.new_request) container.would_set[change.resource] = change.new_request;
      for (const Note& note : change.notes) {
        container.notes.push_back(std::string(to_string(change.resource)) + ": " + note.text);
      }
    }
  }
}

FleetRow fleet_row(const FleetTask& task, const VpaIndex& vpas, const Snapshot& snapshot, const Config& config) {
  FleetRow row;
  row.namespace_ = task.namespace_;
  row.dag_id = task.dag_id;
  row.task_id = task.task_id;
  row.launcher = task.launcher;
  row.task_name = task.name;
  row.last_seen = task.last_seen;
  row.runs_observed = task.runs.observed;
  row.runs_per_day = task.runs.runs_per_day();
  row.mean_run_seconds = task.runs.mean_run_seconds();
  for (const OomKill& kill : task.oom_kills) {
    row.oom_kills += kill.kills;
    if (kill.active()) ++row.oom_floors;
  }

  const TaskPod pod = task_pod_of(task, config.keys);
  const LabelSet labels = pod.label_set();
  const VpaView vpa = snapshot.find_vpa(task.namespace_, labels);
  if (vpa != nullptr) row.vpa_name = vpa->name();

  if (!task.runs.any()) {
    row.why = kNoRunsObserved;
    if (vpa == nullptr) return row;
    if (const auto it = vpas.find(vpa_key(task.namespace_, vpa->name())); it != vpas.end()) {
      for (const std::string& name : it->second->containers) {
        FleetContainer container;
        container.name = name;
        container.recommended = recommended_values(vpa, name, config.field);
        row.containers.push_back(std::move(container));
      }
    }
    return row;
  }

  const Decision decision = decide(creation_request_of(pod), snapshot, config, Mode::DryRun);
  row.outcome = decision.outcome;
  row.why = decision.reason;
  row.gates = decision.gates;
  for (const TaskPodContainer& c : pod.containers) {
    FleetContainer container;
    container.name = c.name;
    container.asks = c.requests;
    container.would_set = c.requests;
    container.recommended = recommended_values(vpa, c.name, config.field);
    apply_plan(container, decision);
    row.containers.push_back(std::move(container));
  }

  // Resource-time of one second of run, as asked and as sized, then scaled to a day of runs.
  const ResourceSeconds before = resource_seconds(requests_of(pod), 1);
  const ResourceSeconds after = resource_seconds(requests_after(pod, decision), 1);
  const double seconds_per_day = task.runs.run_seconds_per_day();
  row.core_hours_per_day = (after.cpu_core_seconds - before.cpu_core_seconds) * seconds_per_day / kSecondsPerHour;
  row.gib_hours_per_day =
      (after.memory_byte_seconds - before.memory_byte_seconds) * seconds_per_day / kSecondsPerHour / kBytesPerGiB;
  return row;
}

bool matches(const FleetTask& task, const FleetQuery& query) {
  return (query.namespace_.empty() || task.namespace_ == query.namespace_) &&
         (query.dag_id.empty() || task.dag_id == query.dag_id);
}

void add_to(FleetTotal& total, const FleetRow& row) {
  ++total.tasks;
  if (row.runs_observed > 0) ++total.tasks_with_runs;
  total.runs_per_day += row.runs_per_day;
  total.oom_kills += row.oom_kills;
  total.core_hours_per_day += row.core_hours_per_day;
  total.gib_hours_per_day += row.gib_hours_per_day;
}

auto name_key(const FleetRow& r) { return std::tie(r.namespace_, r.dag_id, r.task_id, r.launcher, r.task_name); }

bool before(const FleetRow& a, const FleetRow& b, FleetSort sort) {
  switch (sort) {
    case FleetSort::CpuSavings:
      if (a.core_hours_per_day != b.core_hours_per_day) return a.core_hours_per_day < b.core_hours_per_day;
      if (a.gib_hours_per_day != b.gib_hours_per_day) return a.gib_hours_per_day < b.gib_hours_per_day;
      break;
    case FleetSort::MemorySavings:
      if (a.gib_hours_per_day != b.gib_hours_per_day) return a.gib_hours_per_day < b.gib_hours_per_day;
      if (a.core_hours_per_day != b.core_hours_per_day) return a.core_hours_per_day < b.core_hours_per_day;
      break;
    case FleetSort::LastSeen:
      if (a.last_seen != b.last_seen) return a.last_seen.value_or(-1) > b.last_seen.value_or(-1);
      break;
    case FleetSort::Runs:
      if (a.runs_per_day != b.runs_per_day) return a.runs_per_day > b.runs_per_day;
      break;
    case FleetSort::Name:
      break;
  }
  return name_key(a) < name_key(b);
}

}  // namespace

std::string_view to_string(FleetSort s) {
  switch (s) {
    case FleetSort::CpuSavings: return "cpu-savings";
    case FleetSort::MemorySavings: return "memory-savings";
    case FleetSort::LastSeen: return "last-seen";
    case FleetSort::Runs: return "runs";
    case FleetSort::Name: break;
  }
  return "name";
}

std::optional<FleetSort> fleet_sort_from_string(std::string_view s) {
  for (const FleetSort f :
       {FleetSort::Name, FleetSort::CpuSavings, FleetSort::MemorySavings, FleetSort::LastSeen, FleetSort::Runs}) {
    if (s == to_string(f)) return f;
  }
  return std::nullopt;
}

FleetReport build_fleet_report(const std::vector<FleetTask>& tasks, const std::vector<VpaContainers>& vpas,
                               const Snapshot& snapshot, const Config& config, const FleetQuery& query) {
  VpaIndex index;
  index.reserve(vpas.size());
  // The last of two same-named VPAs wins, as in the store.
  for (const VpaContainers& v : vpas) index[vpa_key(v.namespace_, v.name)] = &v;

  FleetReport report;
  for (const FleetTask& task : tasks) {
    if (matches(task, query)) report.rows.push_back(fleet_row(task, index, snapshot, config));
  }
  report.matched = report.rows.size();

  std::map<std::string, FleetTotal> namespaces;
  std::map<std::pair<std::string, std::string>, FleetTotal> dags;
  for (const FleetRow& row : report.rows) {
    FleetTotal& ns = namespaces[row.namespace_];
    ns.namespace_ = row.namespace_;
    add_to(ns, row);
    FleetTotal& dag = dags[{row.namespace_, row.dag_id}];
    dag.namespace_ = row.namespace_;
    dag.dag_id = row.dag_id;
    add_to(dag, row);
    add_to(report.total, row);
  }
  for (auto& [name, total] : namespaces) report.namespaces.push_back(std::move(total));
  for (auto& [key, total] : dags) report.dags.push_back(std::move(total));

  const auto order = [sort = query.sort](const FleetRow& a, const FleetRow& b) { return before(a, b, sort); };
  if (query.limit != 0 && query.limit < report.rows.size()) {
    const auto cut = report.rows.begin() + static_cast<std::ptrdiff_t>(query.limit);
    std::partial_sort(report.rows.begin(), cut, report.rows.end(), order);
    report.rows.erase(cut, report.rows.end());
  } else {
    std::sort(report.rows.begin(), report.rows.end(), order);
  }
  return report;
}

}  // namespace avw::core
