// File: decision.hpp
//
// The admission decision: a pure function of the request, a store snapshot and the config.
//
//   Decision d = decide(review.request(), *snapshot, config, Mode::Enforce);
//
// It never denies: any doubt is "allowed, no patch" with the reason in `reason`. In
// Mode::DryRun the same plan is made but the patch goes to the audit annotations and
// warnings instead of the response.
//
// Every outcome explains itself in the vocabulary of reason.hpp: `code` and `reason` for the
// whole pod, `notes` for each container or resource left as the pod asked (with what it asked
// and what the recommendation said), each change's `notes` for the gates and bounds that bent
// it. The audit annotations (`decision`, `reason`, ...) carry them for every outcome.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "avw/core/admission.hpp"
#include "avw/core/gates.hpp"
#include "avw/core/objects.hpp"
#include "avw/core/oom_floor.hpp"
#include "avw/core/patch.hpp"
#include "avw/core/reason.hpp"
#include "avw/core/resources.hpp"
#include "avw/core/store.hpp"
#include "avw/core/task.hpp"

namespace avw::core {

enum class Mode : std::uint8_t { Enforce, DryRun };
std::string_view to_string(Mode m);

/// Which field of a container recommendation becomes the request.
enum class RecommendationField : std::uint8_t { Target, LowerBound, UpperBound, UncappedTarget };
std::string_view to_string(RecommendationField f);
std::optional<RecommendationField> recommendation_field_from_string(std::string_view s);

struct Config {
  TaskLabelKeys keys;
  RecommendationField field = RecommendationField::Target;
  /// The webhook's own bounds on any request it writes, applied after the VPA policy.
  ResourceValues min_request;
  ResourceValues max_request;
  /// At most this many warnings (the last one then says how many more there were), each at
  /// most this many bytes, cut at a word (the API server truncates past 256 and the docs ask
  /// for 120).
  std::size_t max_warnings = 4;
  std::size_t max_warning_length = 120;
  /// Safety gates; namespace and pod annotations override them.
  Gates gates;
  /// The closed loop's OOM floor (bump and how it ends).
  OomPolicy oom;
  /// Prefix of the pod annotations read and written.
  std::string annotation_prefix = "airflow-vpa-webhook.io/";
};

/// What happened to one resource of one container.
struct ResourceChange {
  Resource resource = Resource::Cpu;
  std::optional<Quantity> old_request;
  std::optional<Quantity> new_request;
  std::optional<Quantity> old_limit;
  std::optional<Quantity> new_limit;
  /// What the recommendation's chosen field said (before rounding and bounds), when it said.
  std::optional<Quantity> recommended;
  /// Each gate or bound that moved the request away from `recommended`, in the order applied.
  std::vector<Note> notes;
};

struct ContainerPlan {
  std::size_t index = 0;  // position in spec.containers
  std::string_view name;
  std::vector<ResourceChange> changes;
};

enum class Outcome : std::uint8_t {
  Patched,    // Enforce: the response carries a patch
  Audited,    // DryRun: a patch would have been sent; reported in audit annotations
  Unchanged,  // a governing VPA was found but nothing needed to change
  Skipped,    // not a task pod CREATE, no VPA, no recommendation, opted out, ...
};
std::string_view to_string(Outcome o);

struct Decision {
  bool allowed = true;
  Outcome outcome = Outcome::Skipped;
  Reason code = Reason::InternalError;  // why, as a code (decide() always sets it)
  std::string reason;               // why, one line: the same text in logs, annotations and review
  std::optional<TaskKey> task;
  std::string vpa_name;       // the governing VPA, when found
  std::vector<ContainerPlan> containers;  // the containers that change
  /// Containers and resources left as the pod asked, each with why: "sidecar: not in the
  /// recommendation", "base: memory request 1Gi kept (target 600Mi): held back by ...".
  std::vector<Note> notes;
  std::vector<Gate> gates;     // the gates that held a change back, each once
  std::string summary;        // "base: cpu request 500m -> 250m, memory request 1Gi -> 600Mi"
  std::vector<PatchOp> patch;  // sent (Enforce) or reported (DryRun)
  std::vector<std::string> warnings;
  std::vector<std::pair<std::string, std::string>> audit_annotations;

  /// True when the response carries the patch.
  bool sends_patch() const { return outcome == Outcome::Patched; }
};

Decision decide(const AdmissionRequest& request, const Snapshot& snapshot, const Config& config,
                Mode mode);

/// Bounds `warnings` in place: each at most `max_length` bytes, cut after a whole word with
/// "..." (mid-word only for a single word longer than the bound, and never inside a UTF-8
/// sequence); at most `max_count`, the last of which then says "+N more" for the N left out.
void bound_warnings(std::vector<std::string>& warnings, std::size_t max_count, std::size_t max_length);

}  // namespace avw::core
