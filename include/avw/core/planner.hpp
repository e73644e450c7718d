// File: planner.hpp
//
// The patch planner: VPA admission-controller semantics applied to one pod and the VPA
// that governs it. Pure; decide() calls it and turns its plans into a JSON Patch.
//
// Per container of spec.containers with a recommendation (and no `mode: Off` policy), per
// controlled resource present in the chosen recommendation field:
//   1. the value is rounded up (cpu to millicores, memory to bytes), clamped to the policy's
//      minAllowed/maxAllowed, then to the webhook's safety bounds;
//   2. RequestsAndLimits scales an existing limit by new/old request; RequestsOnly keeps the
//      limit and caps the request to it;
//   0. the safety gates (gates.hpp) decide whether the recommendation is trusted and bound it
//      relative to the pod's own request (retries, step limits);
//   3. the namespace's LimitRanges cap the result (container min/max keeping the
//      limit/request ratio, maxLimitRequestRatio, pod min/max over the sum of containers).
// Anything that cannot be made valid is left as the pod asked, with a note: the patch must
// never be the reason the API server rejects a pod. Every container of spec.containers ends
// up either changed or in the notes, with what it asked and what the recommendation said.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "avw/core/admission.hpp"
#include "avw/core/decision.hpp"
#include "avw/core/gates.hpp"
#include "avw/core/objects.hpp"
#include "avw/core/store.hpp"

namespace avw::core {

/// LimitRange constraints of one type merged over every LimitRange of a namespace: the
/// highest min, the lowest max and the lowest maxLimitRequestRatio, as the API server
/// enforces all of them.
struct MergedLimits {
  ResourceValues min;
  ResourceValues max;
  ResourceValues max_limit_request_ratio;
};
MergedLimits merge_limit_ranges(std::span<const LimitRange* const> ranges, LimitRangeItem::Type type);

/// The value of field `f` of a container recommendation for resource `r`.
const std::optional<Quantity>& recommended(const RecommendedResources& rec, RecommendationField f, Resource r);

struct PlanInput {
  const Pod& pod;
  std::string_view namespace_;
  VpaView vpa;
  const Snapshot& snapshot;  // checkpoints (history gate) and LimitRanges
  RecommendationField field = RecommendationField::Target;
  const Config& config;
  const Gates& gates;        // config.gates with the namespace's and the pod's overrides
  std::optional<std::int64_t> try_number;
};

/// The changes to make, one ContainerPlan per container that changes. `notes` says, for every
/// other container and resource, why it stays as the pod asked (reason.hpp's vocabulary).
struct Plan {
  std::vector<ContainerPlan> containers;
  std::vector<Note> notes;
  std::vector<Gate> gates;  // each gate that held something back, once
};

Plan plan_pod(const PlanInput& input);

}  // namespace avw::core
