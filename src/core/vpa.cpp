// Decoding of a VerticalPodAutoscaler (autoscaling.k8s.io/v1): spec.targetRef, updatePolicy,
// resourcePolicy.containerPolicies and status.recommendation, and what a Vpa answers. A VPA
// that is only partly understood (an unknown update mode, a policy we cannot read) is skipped
// whole: applying its recommendation while ignoring, say, a `mode: Off` policy would be worse
// than applying nothing.
#include "avw/core/objects.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "json_fields.hpp"
#include "kind_decoders.hpp"

namespace avw::core {

using rapidjson::SizeType;
using rapidjson::Value;
using namespace json_fields;

namespace {

ContainerPolicy decode_container_policy(const Value& item, const std::string& path) {
  if (!item.IsObject()) fail(path, std::string("expected an object, got ") + type_name(item));
  ContainerPolicy policy;
  // The CRD makes containerName optional; a nameless policy matches no container.
  policy.container_name = opt_string(item, "containerName", path).value_or("");

  if (auto mode = opt_string(item, "mode", path)) {
    if (*mode == "Auto") {
      policy.mode = ContainerScalingMode::Auto;
    } else if (*mode == "Off") {
      policy.mode = ContainerScalingMode::Off;
    } else {
      fail(join_path(path, "mode"), "unknown mode " + quoted(*mode));
    }
  }

  if (const Value* resources = opt_array(item, "controlledResources", path)) {
    std::vector<Resource> controlled;
    for (SizeType i = 0; i < resources->Size(); ++i) {
      const Value& r = (*resources)[i];
      std::string where = indexed_path(join_path(path, "controlledResources"), i);
      if (!r.IsString()) fail(where, std::string("expected a string, got ") + type_name(r));
      auto resource = resource_from_string(view_of(r));
      // The VPA itself only controls cpu and memory; anything else means we misread the
      // policy's intent, so the whole VPA is skipped rather than half-applied.
      if (!resource) fail(where, "unsupported resource " + quoted(view_of(r)));
      if (std::find(controlled.begin(), controlled.end(), *resource) == controlled.end()) {
        controlled.push_back(*resource);
      }
    }
    policy.controlled_resources = std::move(controlled);
  }

  if (auto values = opt_string(item, "controlledValues", path)) {
    if (*values == "RequestsAndLimits") {
      policy.controlled_values = ControlledValues::RequestsAndLimits;
    } else if (*values == "RequestsOnly") {
      policy.controlled_values = ControlledValues::RequestsOnly;
    } else {
      fail(join_path(path, "controlledValues"), "unknown value " + quoted(*values));
    }
  }

  policy.min_allowed = decode_resources(find(item, "minAllowed"), join_path(path, "minAllowed"));
  policy.max_allowed = decode_resources(find(item, "maxAllowed"), join_path(path, "maxAllowed"));
  return policy;
}

ContainerRecommendation decode_recommendation(const Value& item, const std::string& path) {
  if (!item.IsObject()) fail(path, std::string("expected an object, got ") + type_name(item));
  ContainerRecommendation rec;
  rec.container_name = req_string(item, "containerName", path);
  rec.target = decode_resources(find(item, "target"), join_path(path, "target"));
  rec.lower_bound = decode_resources(find(item, "lowerBound"), join_path(path, "lowerBound"));
  rec.upper_bound = decode_resources(find(item, "upperBound"), join_path(path, "upperBound"));
  rec.uncapped_target =
      decode_resources(find(item, "uncappedTarget"), join_path(path, "uncappedTarget"));
  return rec;
}

}  // namespace

Vpa decode_vpa(const Value& object) {
  Vpa vpa;
  vpa.meta = decode_meta(object);
  const Value& spec = req_object(object, "spec", "");

  const Value& ref = req_object(spec, "targetRef", "spec");
  vpa.target_ref.api_version = opt_string(ref, "apiVersion", "spec.targetRef").value_or("");
  vpa.target_ref.kind = req_string(ref, "kind", "spec.targetRef");
  vpa.target_ref.name = req_string(ref, "name", "spec.targetRef");

  if (const Value* update = opt_object(spec, "updatePolicy", "spec")) {
    if (auto mode = opt_string(*update, "updateMode", "spec.updatePolicy")) {
      auto parsed = update_mode_from_string(*mode);
      if (!parsed) fail("spec.updatePolicy.updateMode", "unknown update mode " + quoted(*mode));
      vpa.update_mode = *parsed;
    }
  }

  if (const Value* policy = opt_object(spec, "resourcePolicy", "spec")) {
    if (const Value* list =
            opt_array(*policy, "containerPolicies", "spec.resourcePolicy")) {
      vpa.container_policies.reserve(list->Size());
      for (SizeType i = 0; i < list->Size(); ++i) {
        vpa.container_policies.push_back(decode_container_policy(
            (*list)[i], indexed_path("spec.resourcePolicy.containerPolicies", i)));
      }
    }
  }

  if (const Value* status = opt_object(object, "status", "")) {
    if (const Value* recommendation = opt_object(*status, "recommendation", "status")) {
      if (const Value* list = opt_array(*recommendation, "containerRecommendations",
                                        "status.recommendation")) {
        vpa.recommendations.reserve(list->Size());
        for (SizeType i = 0; i < list->Size(); ++i) {
          vpa.recommendations.push_back(decode_recommendation(
              (*list)[i], indexed_path("status.recommendation.containerRecommendations", i)));
        }
      }
    }
  }
  return vpa;
}

std::string_view to_string(UpdateMode m) {
  switch (m) {
    case UpdateMode::Off: return "Off";
    case UpdateMode::Initial: return "Initial";
    case UpdateMode::Recreate: return "Recreate";
    case UpdateMode::Auto: return "Auto";
    case UpdateMode::InPlaceOrRecreate: return "InPlaceOrRecreate";
    case UpdateMode::InPlace: return "InPlace";
  }
  return "Unknown";
}

std::optional<UpdateMode> update_mode_from_string(std::string_view s) {
  for (UpdateMode m : {UpdateMode::Off, UpdateMode::Initial, UpdateMode::Recreate,
                       UpdateMode::Auto, UpdateMode::InPlaceOrRecreate, UpdateMode::InPlace}) {
    if (to_string(m) == s) return m;
  }
  return std::nullopt;
}

const ContainerPolicy* Vpa::policy_for(std::string_view container) const {
  const ContainerPolicy* wildcard = nullptr;
  for (const auto& policy : container_policies) {
    if (policy.container_name == container) return &policy;
    if (wildcard == nullptr && policy.container_name == "*") wildcard = &policy;
  }
  return wildcard;
}

const ContainerRecommendation* Vpa::recommendation_for(std::string_view container) const {
  for (const auto& rec : recommendations) {
    if (rec.container_name == container) return &rec;
  }
  return nullptr;
}

}  // namespace avw::core
