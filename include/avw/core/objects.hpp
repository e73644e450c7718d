// File: objects.hpp
//
// The Kubernetes objects the webhook reads, reduced to what the decision needs of them as the
// API server serves them:
//   - VerticalPodAutoscaler (autoscaling.k8s.io/v1): spec.targetRef, updatePolicy,
//     resourcePolicy.containerPolicies, status.recommendation.containerRecommendations;
//   - scale targets: any object with a selector, read from `status.selector` (the string
//     the /scale subresource reports, e.g. AirflowTask) or `spec.selector` (a structured
//     LabelSelector, e.g. a Deployment, or a string);
//   - LimitRange (v1): Container and Pod items;
//   - VerticalPodAutoscalerCheckpoint: history per (VPA, container);
//   - Namespace (v1): its annotations (gate overrides).
//
// They are decoded by object_list.hpp (a list or one object, streamed) and watch_event.hpp (one
// line of a watch stream); each kind's decoder is private to the core (src/core/<kind>.cpp).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "avw/core/oom_kill.hpp"
#include "avw/core/resources.hpp"
#include "avw/core/rfc3339.hpp"
#include "avw/core/selector.hpp"
#include "avw/core/task_pod.hpp"

namespace avw::core {

// metadata.uid and metadata.resourceVersion are checked (a malformed one skips the object, as
// before) but not kept: nothing downstream reads them, and with 100k VPAs and targets in a
// snapshot their strings cost about 200 bytes per task.
struct ObjectMeta {
  std::string namespace_;
  std::string name;
  /// metadata.creationTimestamp in seconds since the epoch (rfc3339.hpp). When absent or
  /// unreadable it is kUnknownCreated, which sorts after every real time: such a VPA should not
  /// win over VPAs whose age is known.
  std::int64_t created = kUnknownCreated;

  static constexpr std::int64_t kUnknownCreated = std::numeric_limits<std::int64_t>::max();

  friend bool operator==(const ObjectMeta&, const ObjectMeta&) = default;
};

enum class UpdateMode : std::uint8_t { Off, Initial, Recreate, Auto, InPlaceOrRecreate, InPlace };
std::string_view to_string(UpdateMode m);
std::optional<UpdateMode> update_mode_from_string(std::string_view s);

enum class ContainerScalingMode : std::uint8_t { Auto, Off };
enum class ControlledValues : std::uint8_t { RequestsAndLimits, RequestsOnly };

struct ContainerPolicy {
  std::string container_name;  // exact name or "*"
  ContainerScalingMode mode = ContainerScalingMode::Auto;
  /// nullopt: the default (cpu and memory).
  std::optional<std::vector<Resource>> controlled_resources;
  ControlledValues controlled_values = ControlledValues::RequestsAndLimits;
  ResourceValues min_allowed;
  ResourceValues max_allowed;

  friend bool operator==(const ContainerPolicy&, const ContainerPolicy&) = default;
};

struct ContainerRecommendation {
  std::string container_name;
  ResourceValues target;
  ResourceValues lower_bound;
  ResourceValues upper_bound;
  ResourceValues uncapped_target;

  friend bool operator==(const ContainerRecommendation&, const ContainerRecommendation&) = default;
};

struct TargetRef {
  std::string api_version;  // "airflow-vpa-webhook.io/v1alpha1"
  std::string kind;         // "AirflowTask"
  std::string name;

  friend bool operator==(const TargetRef&, const TargetRef&) = default;
};

struct Vpa {
  ObjectMeta meta;
  TargetRef target_ref;
  UpdateMode update_mode = UpdateMode::Auto;  // the VPA default when updatePolicy is absent
  std::vector<ContainerPolicy> container_policies;
  std::vector<ContainerRecommendation> recommendations;

  /// The policy for `container`: exact name first, else "*", else nullptr.
  const ContainerPolicy* policy_for(std::string_view container) const;
  const ContainerRecommendation* recommendation_for(std::string_view container) const;

  friend bool operator==(const Vpa&, const Vpa&) = default;
};

/// Any object a VPA can target, with the selector of its pods.
struct ScaleTarget {
  ObjectMeta meta;
  std::string api_version;  // "airflow-vpa-webhook.io/v1alpha1"
  std::string kind;         // "AirflowTask"
  Selector selector;
  /// An AirflowTask's status.oomKills (empty for other kinds).
  std::vector<OomKill> oom_kills;

  friend bool operator==(const ScaleTarget&, const ScaleTarget&) = default;
};

struct LimitRangeItem {
  enum class Type : std::uint8_t { Container, Pod, Other };
  Type type = Type::Other;
  ResourceValues min;
  ResourceValues max;
  ResourceValues default_limit;    // "default"
  ResourceValues default_request;  // "defaultRequest"
  ResourceValues max_limit_request_ratio;

  friend bool operator==(const LimitRangeItem&, const LimitRangeItem&) = default;
};

struct LimitRange {
  ObjectMeta meta;
  std::vector<LimitRangeItem> items;

  friend bool operator==(const LimitRange&, const LimitRange&) = default;
};

struct Checkpoint {
  ObjectMeta meta;
  std::string vpa_name;        // spec.vpaObjectName
  std::string container_name;  // spec.containerName
  std::string first_sample_start;  // RFC 3339, may be empty
  std::string last_sample_start;   // RFC 3339, may be empty
  std::int64_t total_samples_count = 0;
  /// True when the memory histogram holds samples (bucketWeights non-empty).
  bool has_memory_samples = false;

  friend bool operator==(const Checkpoint&, const Checkpoint&) = default;
};

/// A namespace's annotations (per-namespace overrides of the safety gates) and labels.
struct NamespaceInfo {
  ObjectMeta meta;
  std::vector<std::pair<std::string, std::string>> annotations;
  std::vector<std::pair<std::string, std::string>> labels;  // the closed loop reads the mode

  friend bool operator==(const NamespaceInfo&, const NamespaceInfo&) = default;
};

/// Everything decoded from one document.
struct DecodedObjects {
  std::vector<Vpa> vpas;
  std::vector<ScaleTarget> targets;
  std::vector<LimitRange> limit_ranges;
  std::vector<Checkpoint> checkpoints;
  std::vector<NamespaceInfo> namespaces;
  std::vector<TaskPod> pods;          // v1 Pods (the closed loop's watch; no snapshot keeps them)
  std::string list_resource_version;  // metadata.resourceVersion of a list
  std::string list_continue;          // metadata.continue of a list page
  std::vector<std::string> errors;    // one line per skipped object

  friend bool operator==(const DecodedObjects&, const DecodedObjects&) = default;
};

}  // namespace avw::core
