// A task pod's identity, requests and container ends (see task_pod.hpp).
#include "avw/core/task_pod.hpp"

#include <algorithm>

#include "avw/core/objects.hpp"
#include "kind_decoders.hpp"

namespace avw::core {
namespace {

using namespace json_fields;
using rapidjson::SizeType;

std::vector<std::pair<std::string, std::string>> decode_string_map(const Value* map, std::string_view path) {
  std::vector<std::pair<std::string, std::string>> out;
  if (map == nullptr) return out;
  if (!map->IsObject()) fail(path, std::string("expected an object, got ") + type_name(*map));
  for (const auto& m : map->GetObject()) {
    if (!m.value.IsString()) fail(join_path(path, view_of(m.name)), "expected a string");
    out.emplace_back(view_of(m.name), view_of(m.value));
  }
  return out;
}

std::optional<std::int64_t> decode_time(const Value& parent, const char* name, std::string_view path) {
  const std::string text = decode_timestamp(parent, name, path);
  if (text.empty()) return std::nullopt;
  return parse_rfc3339(text);
}

std::optional<ContainerEnd> decode_end(const Value* state, std::string_view path) {
  if (state == nullptr) return std::nullopt;
  if (!state->IsObject()) fail(path, std::string("expected an object, got ") + type_name(*state));
  const std::string where = join_path(path, "terminated");
  const Value* terminated = opt_object(*state, "terminated", path);
  if (terminated == nullptr) return std::nullopt;
  ContainerEnd end;
  end.reason = opt_string(*terminated, "reason", where).value_or("");
  if (const Value* code = find(*terminated, "exitCode")) {
    if (!code->IsInt64()) fail(join_path(where, "exitCode"), "expected an integer");
    end.exit_code = code->GetInt64();
  }
  end.started_at = decode_time(*terminated, "startedAt", where);
  end.finished_at = decode_time(*terminated, "finishedAt", where);
  return end;
}

PodPhase phase_from(std::string_view text) {
  if (text == "Pending") return PodPhase::Pending;
  if (text == "Running") return PodPhase::Running;
  if (text == "Succeeded") return PodPhase::Succeeded;
  if (text == "Failed") return PodPhase::Failed;
  return PodPhase::Unknown;
}

LabelSet view_set(const std::vector<std::pair<std::string, std::string>>& pairs) {
  LabelSet set;
  set.reserve(pairs.size());
  for (const auto& [k, v] : pairs) set.set(k, v);
  return set;
}

}  // namespace

const ContainerEnd* TaskPodContainer::oom_kill() const {
  if (terminated && terminated->oom_killed()) return &*terminated;
  if (last_terminated && last_terminated->oom_killed()) return &*last_terminated;
  return nullptr;
}

std::string_view to_string(PodPhase p) {
  switch (p) {
    case PodPhase::Pending: return "Pending";
    case PodPhase::Running: return "Running";
    case PodPhase::Succeeded: return "Succeeded";
    case PodPhase::Failed: return "Failed";
    case PodPhase::Unknown: break;
  }
  return "Unknown";
}

LabelSet TaskPod::label_set() const { return view_set(labels); }
LabelSet TaskPod::annotation_set() const { return view_set(annotations); }

std::optional<std::int64_t> TaskPod::run_seconds() const {
  std::optional<std::int64_t> first;
  std::optional<std::int64_t> last;
  for (const TaskPodContainer& c : containers) {
    if (!c.terminated || !c.terminated->finished_at) return std::nullopt;
    if (c.terminated->started_at) first = first ? std::min(*first, *c.terminated->started_at) : *c.terminated->started_at;
    last = last ? std::max(*last, *c.terminated->finished_at) : *c.terminated->finished_at;
  }
  if (!first) first = start_time;
  if (!first || !last || containers.empty()) return std::nullopt;
  return std::max<std::int64_t>(0, *last - *first);
}

TaskPod decode_task_pod(const Value& object) {
  TaskPod pod;
  const ObjectMeta meta = decode_meta(object);
  pod.namespace_ = meta.namespace_;
  pod.name = meta.name;
  pod.created = meta.created;
  const Value& md = req_object(object, "metadata", "");
  pod.uid = opt_string(md, "uid", "metadata").value_or("");
  pod.labels = decode_string_map(find(md, "labels"), "metadata.labels");
  pod.annotations = decode_string_map(find(md, "annotations"), "metadata.annotations");
  pod.deleting = opt_string(md, "deletionTimestamp", "metadata").has_value();

  const Value& spec = req_object(object, "spec", "");
  if (const Value* list = opt_array(spec, "containers", "spec")) {
    for (SizeType i = 0; i < list->Size(); ++i) {
      const std::string path = indexed_path("spec.containers", i);
      const Value& c = (*list)[i];
      if (!c.IsObject()) fail(path, std::string("expected an object, got ") + type_name(c));
      TaskPodContainer container;
      container.name = req_string(c, "name", path);
      if (const Value* resources = opt_object(c, "resources", path)) {
        const std::string where = join_path(path, "resources");
        container.requests = decode_resources(find(*resources, "requests"), join_path(where, "requests"));
        container.limits = decode_resources(find(*resources, "limits"), join_path(where, "limits"));
      }
      pod.containers.push_back(std::move(container));
    }
  }

  const Value* status = opt_object(object, "status", "");
  if (status == nullptr) return pod;
  pod.phase = phase_from(opt_string(*status, "phase", "status").value_or(""));
  pod.start_time = decode_time(*status, "startTime", "status");
  if (const Value* list = opt_array(*status, "containerStatuses", "status")) {
    for (SizeType i = 0; i < list->Size(); ++i) {
      const std::string path = indexed_path("status.containerStatuses", i);
      const Value& s = (*list)[i];
      if (!s.IsObject()) fail(path, std::string("expected an object, got ") + type_name(s));
      const std::string_view name = req_string(s, "name", path);
      auto it = std::find_if(pod.containers.begin(), pod.containers.end(),
                             [name](const TaskPodContainer& c) { return c.name == name; });
      // A status for a container the spec does not have (an init or ephemeral one) is not ours.
      if (it == pod.containers.end()) continue;
      it->terminated = decode_end(find(s, "state"), join_path(path, "state"));
      it->last_terminated = decode_end(find(s, "lastState"), join_path(path, "lastState"));
    }
  }
  return pod;
}

}  // namespace avw::core
