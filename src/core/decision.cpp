#include "avw/core/decision.hpp"

#include <algorithm>
#include <iterator>

#include "avw/core/json_pointer.hpp"
#include "avw/core/planner.hpp"

namespace avw::core {
namespace {

constexpr std::string_view kTrue = "true";

Decision skipped(Reason why, std::initializer_list<std::string_view> parts = {}) {
  Decision d;
  d.outcome = Outcome::Skipped;
  d.code = why;
  d.reason = say(why, parts);
  return d;
}

/// `base: cpu request 500m -> 250m, memory request 1Gi -> 512Mi (target 600Mi, capped to
/// maxAllowed 512Mi)`: what the recommendation said shows where a gate or bound moved it.
/// resource_time.cpp reads the requests back from this text: a note never holds "; ".
std::string summarize(const std::vector<ContainerPlan>& plans, RecommendationField field) {
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
        if (ch.recommended) {
          out += to_string(field);
          out += ' ';
          ch.recommended->append_to(out);
          out += ", ";
        }
        append_notes(out, ch.notes, ", ");
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

constexpr std::string_view kWarningPrefix = "airflow-vpa-webhook: ";
constexpr std::string_view kEllipsis = "...";

bool continues_utf8(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

/// `text` cut to at most `max` bytes: after the last whole word that fits with "...", else
/// (one word longer than that) at the last whole UTF-8 character, so the response stays
/// valid UTF-8.
void shorten(std::string& text, std::size_t max) {
  if (text.size() <= max) return;
  if (max < kEllipsis.size()) {
    text.clear();
    return;
  }
  const std::size_t room = max - kEllipsis.size();
  std::size_t cut = room;
  // A space at `room` itself means the word before it is whole.
  const std::size_t space = text.rfind(' ', room);
  if (space != std::string::npos && space > 0) {
    cut = space;
    // No "gate:..." or "1m,...": the ellipsis follows the last word, not its punctuation.
    while (cut > 0 && (text[cut - 1] == ' ' || text[cut - 1] == ',' || text[cut - 1] == ':' || text[cut - 1] == ';')) {
      --cut;
    }
  }
  if (cut == 0 || space == std::string::npos) {
    cut = room;
    while (cut > 0 && continues_utf8(text[cut])) --cut;
  }
  text.resize(cut);
  text += kEllipsis;
}

void warn(Decision& d, std::string_view text) {
  std::string w(kWarningPrefix);
  w += text;
  d.warnings.push_back(std::move(w));
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

/// Dry-run warnings after the changes' own: what was left alone and why (a value already as
/// recommended is news to nobody), or the reason when that says it all.
void explain_in_warnings(Decision& d) {
  if (d.notes.empty() || d.code == Reason::AlreadyMatch) {
    if (d.outcome != Outcome::Audited) warn(d, d.reason);
    return;
  }
  for (const Note& n : d.notes) {
    if (n.code != Reason::Equal) warn(d, n.text);
  }
}

/// The decision for a task pod that a VPA governs: plan, then say what it comes to.
void decide_governed(Decision& d, const PlanInput& input, Mode mode) {
  Plan plan = plan_pod(input);
  d.containers = std::move(plan.containers);
  d.notes = std::move(plan.notes);
  d.gates = std::move(plan.gates);
  if (!d.gates.empty()) {
    std::string held;
    for (Gate g : d.gates) {
      if (!held.empty()) held += ", ";
      held += to_string(g);
    }
    d.audit_annotations.emplace_back("gates", std::move(held));
  }
  std::string notes;
  append_notes(notes, d.notes, "; ");
  if (d.containers.empty()) {
    d.outcome = Outcome::Unchanged;
    const bool all_equal =
        std::all_of(d.notes.begin(), d.notes.end(), [](const Note& n) { return n.code == Reason::Equal; });
    d.code = all_equal ? Reason::AlreadyMatch : Reason::LeftAsAsked;
    d.reason = all_equal ? say(d.code, {d.vpa_name}) : say(d.code, {d.vpa_name, notes});
    return;
  }

  d.summary = summarize(d.containers, input.field);
  d.patch = build_patch(input.pod, d.containers, input.config.annotation_prefix, d.vpa_name, d.summary);
  d.code = Reason::Changed;
  if (!notes.empty()) notes.insert(0, "; ");
  d.reason = say(d.code, {d.vpa_name, d.summary + notes});
  d.audit_annotations.emplace_back("updates", d.summary);
  if (mode == Mode::Enforce) {
    d.outcome = Outcome::Patched;
  } else {
    d.outcome = Outcome::Audited;
    d.audit_annotations.emplace_back("would-patch", patch_to_json(d.patch));
    for (const ContainerPlan& changed : d.containers) warn(d, "dry-run: " + summarize({changed}, input.field));
  }
}

Decision decide_pod(const AdmissionRequest& request, const Snapshot& snapshot, const Config& config, Mode mode) {
  if (request.operation != "CREATE") return skipped(Reason::NotCreate, {request.operation});
  if (!request.has_pod) return skipped(Reason::NotPod);
  const Pod& pod = request.pod;
  const std::string_view ns = request.namespace_.empty() ? pod.namespace_ : request.namespace_;

  // Static pods mirrored by the kubelet must never be mutated.
  if (pod.annotations.contains("kubernetes.io/config.mirror")) return skipped(Reason::MirrorPod);
  const std::string skip_key = config.annotation_prefix + "skip";
  if (pod.annotations.get(skip_key) == kTrue) return skipped(Reason::OptedOut, {skip_key});

  const auto task = task_key_of(pod.labels, ns, config.keys);
  if (!task) return skipped(Reason::NotTaskPod, {config.keys.dag_id + "/" + config.keys.task_id});

  Decision d;
  d.task = task;
  RecommendationField field = config.field;
  const std::string field_key = config.annotation_prefix + "recommendation";
  if (auto wanted = pod.annotations.get(field_key)) {
    if (auto f = recommendation_field_from_string(*wanted)) {
      field = *f;
    } else {
      warn(d, "ignored " + field_key + "=" + std::string(*wanted) + " (target, lowerBound, upperBound or uncappedTarget)");
    }
  }

  const VpaView vpa = snapshot.find_vpa(ns, pod.labels);
  if (vpa == nullptr) {
    d.code = Reason::NoVpa;
    d.reason = say(d.code, {task_string(*task)});
    return d;
  }
  d.vpa_name = vpa->name();
  if (!vpa->has_recommendations() && !(vpa->target() && vpa->target().has_oom_kills())) {
    d.code = Reason::NoRecommendation;
    d.reason = say(d.code, {d.vpa_name});
    return d;
  }
  std::vector<std::string> problems;
  const Gates gates = gates_for(config.gates, snapshot.namespace_annotations(ns), pod.annotations,
                                config.annotation_prefix, problems);
  for (const std::string& p : problems) warn(d, p);
  decide_governed(d, {pod, ns, vpa, snapshot, field, config, gates, try_number_of(pod.labels, config.keys)}, mode);
  return d;
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
  Decision d = decide_pod(request, snapshot, config, mode);
  // Every outcome is reported alike, first: what happened, why, and the VPA by the name the
  // pod's annotation gives it (the namespace is the pod's).
  std::vector<std::pair<std::string, std::string>> why;
  why.reserve(3 + d.audit_annotations.size());
  why.emplace_back("decision", to_string(d.outcome));
  why.emplace_back("reason", d.reason);
  if (!d.vpa_name.empty()) why.emplace_back("vpa", d.vpa_name);
  std::move(d.audit_annotations.begin(), d.audit_annotations.end(), std::back_inserter(why));
  d.audit_annotations = std::move(why);
  if (mode == Mode::DryRun) explain_in_warnings(d);
  bound_warnings(d.warnings, config.max_warnings, config.max_warning_length);
  return d;
}

void bound_warnings(std::vector<std::string>& warnings, std::size_t max_count, std::size_t max_length) {
  if (warnings.size() > max_count) {
    if (max_count == 0) {
      warnings.clear();
      return;
    }
    const std::size_t left_out = warnings.size() - (max_count - 1);
    warnings.resize(max_count - 1);
    std::string more(kWarningPrefix);
    more += '+';
    more += std::to_string(left_out);
    more += " more (the audit annotation `reason` has them all)";
    warnings.push_back(std::move(more));
  }
  for (std::string& w : warnings) shorten(w, max_length);
}

}  // namespace avw::core
