// AirflowTasks and VPA container names for the fleet report (see fleet_tasks.hpp).
#include "avw/core/fleet_tasks.hpp"

#include "avw/core/decode_error.hpp"
#include "avw/core/object_list.hpp"
#include "kind_decoders.hpp"

namespace avw::core {
namespace {

using namespace json_fields;
using rapidjson::SizeType;

constexpr std::string_view kTaskGroup = "airflow-vpa-webhook.io";
constexpr std::string_view kVpaGroup = "autoscaling.k8s.io";

// The launcher a selector spells out (task_selector() writes `<label>=True` for the two
// launchers and negates both for the rest).
Launcher launcher_of_selector(std::string_view text, const TaskLabelKeys& keys) {
  const auto selector = Selector::parse(text);
  if (!selector) return Launcher::Other;
  auto requires_true = [&](const std::string& key) {
    for (const Requirement& r : selector->requirements()) {
      const bool equals = r.op == Requirement::Operator::Equals || r.op == Requirement::Operator::In;
      if (r.key == key && equals && r.values.size() == 1 && r.values.front() == "True") return true;
    }
    return false;
  };
  if (requires_true(keys.pod_operator)) return Launcher::PodOperator;
  if (requires_true(keys.executor)) return Launcher::Executor;
  return Launcher::Other;
}

FleetTask decode_task(const Value& object, const TaskLabelKeys& keys) {
  const ObjectMeta meta = decode_meta(object);
  FleetTask task;
  task.namespace_ = meta.namespace_;
  task.name = meta.name;
  const Value& spec = req_object(object, "spec", "");
  task.dag_id = req_string(spec, "dagId", "spec");
  task.task_id = req_string(spec, "taskId", "spec");
  const Value* status = opt_object(object, "status", "");
  if (const auto launcher = opt_string(spec, "launcher", "spec")) {
    if (*launcher == "PodOperator") task.launcher = Launcher::PodOperator;
    else if (*launcher == "Executor") task.launcher = Launcher::Executor;
    else if (*launcher != "Other") fail("spec.launcher", quoted(*launcher) + " is not PodOperator, Executor or Other");
  } else {
    std::optional<std::string_view> selector = status != nullptr ? opt_string(*status, "selector", "status") : std::nullopt;
    if (!selector) selector = opt_string(spec, "selector", "spec");
    task.launcher = launcher_of_selector(selector.value_or(""), keys);
  }
  if (status != nullptr) {
    if (const std::string seen = decode_timestamp(*status, "lastSeen", "status"); !seen.empty()) {
      task.last_seen = parse_rfc3339(seen);
    }
    task.oom_kills = decode_oom_kills(find(*status, "oomKills"), "status.oomKills");
    task.runs = decode_run_stats(find(*status, "runs"));
  }
  return task;
}

// A VPA's recommended containers. Only the names are read: the store decodes the rest, and
// judges the VPA; one it skips governs no task, so a name read here is never shown for it.
void add_vpa(const Value& object, FleetObjects& out) {
  const Value* md = find(object, "metadata");
  if (md == nullptr || !md->IsObject()) return;
  const Value* name = find(*md, "name");
  const Value* namespace_ = find(*md, "namespace");
  if (name == nullptr || !name->IsString() || namespace_ == nullptr || !namespace_->IsString()) return;
  VpaContainers vpa{std::string(view_of(*namespace_)), std::string(view_of(*name)), {}};
  const Value* status = find(object, "status");
  const Value* rec = status != nullptr && status->IsObject() ? find(*status, "recommendation") : nullptr;
  const Value* list = rec != nullptr && rec->IsObject() ? find(*rec, "containerRecommendations") : nullptr;
  if (list != nullptr && list->IsArray()) {
    for (const Value& item : list->GetArray()) {
      const Value* container = item.IsObject() ? find(item, "containerName") : nullptr;
      if (container != nullptr && container->IsString()) vpa.containers.emplace_back(view_of(*container));
    }
  }
  out.vpas.push_back(std::move(vpa));
}

// `kind` and the group of `api_version` name an object; a typed list page's items carry
// neither, and take the page's.
void add_object(const Value& object, std::string_view kind, std::string_view group, const TaskLabelKeys& keys,
                std::string_view where, FleetObjects& out) {
  if (!object.IsObject()) return;
  if (const Value* k = find(object, "kind"); k != nullptr && k->IsString()) kind = view_of(*k);
  if (const Value* v = find(object, "apiVersion"); v != nullptr && v->IsString()) group = group_of(view_of(*v));
  if (kind == "AirflowTask" && group == kTaskGroup) {
    try {
      out.tasks.push_back(decode_task(object, keys));
    } catch (const ObjectError& e) {
      out.errors.push_back(std::string(where) + " (AirflowTask): " + e.what());
    }
  } else if (kind == "VerticalPodAutoscaler" && group == kVpaGroup) {
    add_vpa(object, out);
  }
}

}  // namespace

FleetObjects decode_fleet_objects(std::string_view json, const TaskLabelKeys& keys) {
  rapidjson::Document document;
  document.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (document.HasParseError()) throw DecodeError("not JSON");
  if (!document.IsObject()) throw DecodeError("expected a JSON object");
  FleetObjects out;
  const Value* kind = find(document, "kind");
  const std::string_view list_kind = kind != nullptr && kind->IsString() ? view_of(*kind) : std::string_view{};
  const Value* items = find(document, "items");
  if (!list_kind.ends_with("List") || items == nullptr || !items->IsArray()) {
    add_object(document, {}, {}, keys, "object", out);
    return out;
  }
  // `AirflowTaskList` items are AirflowTasks of the page's apiVersion; a `List`'s name themselves.
  const std::string_view item_kind = list_kind == "List" ? std::string_view{} : list_kind.substr(0, list_kind.size() - 4);
  const Value* version = find(document, "apiVersion");
  const std::string_view group = version != nullptr && version->IsString() ? group_of(view_of(*version)) : "";
  for (SizeType i = 0; i < items->Size(); ++i) {
    add_object((*items)[i], item_kind, group, keys, indexed_path("items", i), out);
  }
  return out;
}

}  // namespace avw::core
