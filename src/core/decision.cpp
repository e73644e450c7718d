#include "avw/core/decision.hpp"

#include <algorithm>

#include "avw/core/json_pointer.hpp"
#include "avw/core/planner.hpp"

namespace avw::core {
namespace {

constexpr std::string_view kTrue = "true";

Decision skipped(std::string reason) {
  Decision d;
  d.outcome = Outcome::Skipped;
  d.reason = std::move(reason);
  return d;
}

/// `base: cpu request 500m -> 250m, memory request 1Gi -> 600Mi (capped to maxAllowed)`.
std::string summarize(const std::vector<ContainerPlan>& plans) {
  std::string out;
  auto item = [&out](Resource r, std::string_view what, const std::optional<Quantity>& from,
                     const std::optional<Quantity>& to) {
    if (from && to && *from == *to) return false;
    if (out.back() != ' ') out += ", ";
    out += to_string(r);
    out += what;
    if (from) from->append_to(out);
    else out += "unset";
    out += " -> ";
    if (to) to->append_to(out);
    return true;
  };
  for (const ContainerPlan& plan : plans) {
    if (!out.empty()) out += "; ";
    out += plan.name;
    out += ": ";
    for (const ResourceChange& ch : plan.changes) {
      item(ch.resource, " request ", ch.old_request, ch.new_request);
      if (ch.old_limit) item(ch.resource, " limit ", ch.old_limit, ch.new_limit);
      if (!ch.notes.empty()) {
        out += " (";
        for (std::size_t i = 0; i < ch.notes.size(); ++i) {
          if (i != 0) out += ", ";
          out += ch.notes[i];
        }
        out += ')';
      }
    }
  }
  return out;
}

// `prefix` and then each token as one more reference token, except that a token may come in
// pieces (`joined`: appended to the one before, for the annotation prefix and its name):
// escaping is per character, so the pieces escape as their concatenation would. One
// allocation for the path, the room for it reserved up front.
struct Token {
  std::string_view text;
  bool joined = false;
};
std::string pointer(std::string_view prefix, std::initializer_list<Token> tokens) {
  std::size_t size = prefix.size();
  for (const Token& t : tokens) size += 1 + t.text.size();
  std::string path;
  path.reserve(size + 8);  // and a few escapes
  path += prefix;
  for (const Token& t : tokens) {
    if (!t.joined) path += '/';
    append_json_pointer_token(path, t.text);
  }
  return path;
}

/// JSON Patch ops valid whether or not `resources`, `requests`, `limits` or
/// `metadata.annotations` exist: the empty objects are added first where they are missing
/// (`add` on an existing member would replace it, so they are added only then).
std::vector<PatchOp> build_patch(const Pod& pod, const std::vector<ContainerPlan>& plans,
                                 const std::string& annotation_prefix, std::string_view vpa_name,
                                 const std::string& summary) {
  std::vector<PatchOp> ops;
  // At most: the annotations map and its two members, and per container its resources, the
  // requests map and a request and a limit per resource.
  ops.reserve(3 + plans.size() * (2 + 2 * kResources.size()));
  if (!pod.has_annotations) ops.push_back({"/metadata/annotations", std::nullopt});
  for (const ContainerPlan& plan : plans) {
    const PodContainer& c = pod.containers[plan.index];
    const std::string index = std::to_string(plan.index);
    const std::string base = pointer("/spec/containers", {{index}, {"resources"}});
    if (!c.has_resources) ops.push_back({base, std::nullopt});
    bool requests_ready = c.has_requests;
    for (const ResourceChange& ch : plan.changes) {
      if (ch.new_request && (!ch.old_request || *ch.old_request != *ch.new_request)) {
        if (!requests_ready) {
          ops.push_back({pointer(base, {{"requests"}}), std::nullopt});
          requests_ready = true;
        }
        ops.push_back({pointer(base, {{"requests"}, {to_string(ch.resource)}}), ch.new_request->to_string()});
      }
      // Limits are only ever rescaled, never created, so the map exists when one changes.
      if (ch.old_limit && ch.new_limit && *ch.old_limit != *ch.new_limit) {
        ops.push_back({pointer(base, {{"limits"}, {to_string(ch.resource)}}), ch.new_limit->to_string()});
      }
    }
  }
  ops.push_back({pointer("/metadata/annotations", {{annotation_prefix}, {"vpa", true}}), std::string(vpa_name)});
  ops.push_back({pointer("/metadata/annotations", {{annotation_prefix}, {"updates", true}}), summary});
  return ops;
}

/// Bounded warnings: the API server truncates long ones and drops them past 4 KiB in total.
void add_warning(Decision& d, const Config& config, std::string text) {
  if (d.warnings.size() >= config.max_warnings) return;
  if (text.size() > config.max_warning_length) {
    std::size_t cut = config.max_warning_length >= 3 ? config.max_warning_length - 3 : 0;
    // Never inside a UTF-8 sequence: the response must stay valid UTF-8.
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text.resize(cut);
    text += "...";
  }
  d.warnings.push_back(std::move(text));
}

std::string task_string(const TaskKey& key) {
  std::string s(key.namespace_);
  s += '/';
  s += key.dag_id;
  s += '/';
  s += key.task_id;
  s += '/';
  s += to_string(key.launcher);
  return s;
}

}  // namespace

std::string_view to_string(Mode m) { return m == Mode::Enforce ? "enforce" : "dry-run"; }

std::string_view to_string(Outcome o) {
  switch (o) {
    case Outcome::Patched: return "patched";
    case Outcome::Audited: return "audited";
    case Outcome::Unchanged: return "unchanged";
    case Outcome::Skipped: break;
  }
  return "skipped";
}

std::string_view to_string(RecommendationField f) {
  switch (f) {
    case RecommendationField::LowerBound: return "lowerBound";
    case RecommendationField::UpperBound: return "upperBound";
    case RecommendationField::UncappedTarget: return "uncappedTarget";
    case RecommendationField::Target: break;
  }
  return "target";
}

std::optional<RecommendationField> recommendation_field_from_string(std::string_view s) {
  for (auto f : {RecommendationField::Target, RecommendationField::LowerBound, RecommendationField::UpperBound,
                 RecommendationField::UncappedTarget}) {
    if (s == to_string(f)) return f;
  }
  return std::nullopt;
}

Decision decide(const AdmissionRequest& request, const Snapshot& snapshot, const Config& config, Mode mode) {
  if (request.operation != "CREATE") {
    return skipped("operation " + std::string(request.operation) + " is not a CREATE");
  }
  if (!request.has_pod) return skipped("not a v1 Pod");
  const Pod& pod = request.pod;
  const std::string_view ns = request.namespace_.empty() ? pod.namespace_ : request.namespace_;

  // Static pods mirrored by the kubelet must never be mutated.
  if (pod.annotations.contains("kubernetes.io/config.mirror")) return skipped("mirror pod");
  const std::string skip_key = config.annotation_prefix + "skip";
  if (pod.annotations.get(skip_key) == kTrue) return skipped("opted out by annotation " + skip_key);

  const auto task = task_key_of(pod.labels, ns, config.keys);
  if (!task) return skipped("not an Airflow task pod (no " + config.keys.dag_id + "/" + config.keys.task_id + " labels)");

  Decision d;
  d.task = task;
  RecommendationField field = config.field;
  const std::string field_key = config.annotation_prefix + "recommendation";
  if (auto wanted = pod.annotations.get(field_key)) {
    if (auto f = recommendation_field_from_string(*wanted)) {
      field = *f;
    } else {
      add_warning(d, config, "airflow-vpa-webhook: ignored " + field_key + "=" + std::string(*wanted) +
                                 " (target, lowerBound, upperBound or uncappedTarget)");
    }
  }

  const VpaView vpa = snapshot.find_vpa(ns, pod.labels);
  if (vpa == nullptr) {
    d.reason = "no VPA governs task " + task_string(*task);
    return d;
  }
  d.vpa_name = vpa->name();
  if (!vpa->has_recommendations() && !(vpa->target() && vpa->target().has_oom_kills())) {
    d.reason = "VPA " + d.vpa_name + " has no recommendation yet";
    return d;
  }

  std::vector<std::string> problems;
  const Gates gates = gates_for(config.gates, snapshot.namespace_annotations(ns), pod.annotations,
                                config.annotation_prefix, problems);
  for (std::string& p : problems) add_warning(d, config, "airflow-vpa-webhook: " + std::move(p));
  Plan plan = plan_pod({pod, ns, vpa, snapshot, field, config, gates, try_number_of(pod.labels, config.keys)});
  d.containers = std::move(plan.containers);
  d.gates = std::move(plan.gates);
  if (!d.gates.empty()) {
    std::string held;
    for (Gate g : d.gates) {
      if (!held.empty()) held += ", ";
      held += to_string(g);
    }
    d.audit_annotations.emplace_back("gates", std::move(held));
  }
  if (d.containers.empty()) {
    d.outcome = Outcome::Unchanged;
    d.reason = plan.notes.empty() ? "requests already match VPA " + d.vpa_name : plan.notes.front();
    for (std::size_t i = 1; i < plan.notes.size(); ++i) d.reason += "; " + plan.notes[i];
    d.audit_annotations.emplace_back("decision", d.reason);
    return d;
  }

  d.summary = summarize(d.containers);
  d.patch = build_patch(pod, d.containers, config.annotation_prefix, d.vpa_name, d.summary);
  d.reason = "VPA " + d.vpa_name + ": " + d.summary;
  for (const std::string& note : plan.notes) d.reason += "; " + note;

  d.audit_annotations.emplace_back("vpa", std::string(ns) + "/" + d.vpa_name);
  d.audit_annotations.emplace_back("updates", d.summary);
  if (mode == Mode::Enforce) {
    d.outcome = Outcome::Patched;
  } else {
    d.outcome = Outcome::Audited;
    d.audit_annotations.emplace_back("would-patch", patch_to_json(d.patch));
    for (const ContainerPlan& plan_item : d.containers) {
      add_warning(d, config, "airflow-vpa-webhook dry-run: " + summarize({plan_item}));
    }
  }
  return d;
}

}  // namespace avw::core
