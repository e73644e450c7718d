// File: objects.hpp
//
// The Kubernetes objects the webhook reads, reduced to what the decision needs, and their
// decoding from JSON as the API server serves them:
//   - VerticalPodAutoscaler (autoscaling.k8s.io/v1): spec.targetRef, updatePolicy,
//     resourcePolicy.containerPolicies, status.recommendation.containerRecommendations;
//   - scale targets: any object with a selector, read from `status.selector` (the string
//     the /scale subresource reports, e.g. AirflowTask) or `spec.selector` (a structured
//     LabelSelector, e.g. a Deployment, or a string);
//   - LimitRange (v1): Container and Pod items;
//   - VerticalPodAutoscalerCheckpoint: history per (VPA, container);
//   - Namespace (v1): its annotations (gate overrides).
//
// decode_objects() takes a `List` (what `kubectl get vpa,airflowtasks -A -o json` prints, or an
// API list page such as `VerticalPodAutoscalerList`) or a single object, whole or pulled in chunks
// from a ChunkSource (a list's items are then decoded one at a time, so neither the whole
// document nor its DOM is ever held: a 100k-task file is 140 MB of JSON); decode_watch_event()
// one line of a watch stream. Objects that cannot be understood are skipped with a message in
// `errors`, never thrown: one bad object must not hide the others.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "avw/core/oom_kill.hpp"
#include "avw/core/resources.hpp"
#include "avw/core/selector.hpp"
#include "avw/core/task_pod.hpp"

namespace avw::core {

// metadata.uid and metadata.resourceVersion are checked (a malformed one skips the object, as
// before) but not kept: nothing downstream reads them, and with 100k VPAs and targets in a
// snapshot their strings cost about 200 bytes per task.
struct ObjectMeta {
  std::string namespace_;
  std::string name;
  /// metadata.creationTimestamp in seconds since the epoch (parse_rfc3339). When absent or
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

/// Decodes a List, an API list page (`*List`) or a single object. Throws DecodeError (from
/// admission.hpp) only when the document itself is not JSON or not an object.
DecodedObjects decode_objects(std::string_view json);

/// Supplies a document piece by piece: each call returns the next chunk, which must stay valid
/// until the next call; an empty chunk ends the document. It may throw (a read error): the
/// exception leaves decode_objects() unchanged.
using ChunkSource = std::function<std::string_view()>;

/// decode_objects() over a document pulled from `next_chunk`, with the same results and errors.
/// The items of a list whose `kind` (and, for a typed page, `apiVersion`) come before `items`,
/// as the API server and kubectl write them, are decoded as they arrive and then dropped; any
/// other document is held whole while it is decoded.
DecodedObjects decode_objects(const ChunkSource& next_chunk);

/// Called with the objects decoded so far after each streamed list item; it may move them out
/// (a SnapshotBuilder packs them), so that a long list is never held decoded.
using ItemSink = std::function<void(DecodedObjects&)>;

/// decode_objects() handing each streamed item's objects to `sink` as it is decoded. What the
/// sink leaves in place, and the objects of a document that is not streamed, are returned.
DecodedObjects decode_objects(const ChunkSource& next_chunk, const ItemSink& sink);

/// One event of a watch stream (one JSON line).
struct WatchEvent {
  enum class Type : std::uint8_t { Added, Modified, Deleted, Bookmark, Error };
  Type type = Type::Error;
  std::string resource_version;  // object.metadata.resourceVersion
  DecodedObjects objects;        // the one object (ADDED, MODIFIED, DELETED)
  int error_code = 0;            // ERROR: Status.code (410 for an expired resourceVersion)
  std::string error_message;     // ERROR: Status.message
};

/// Decodes one watch event line. Throws DecodeError when the line is not a watch event.
WatchEvent decode_watch_event(std::string_view line);

/// Seconds since the epoch of an RFC 3339 timestamp as the API server writes them
/// (`2026-11-23T17:09:07Z`, optional fraction, `Z` or `+hh:mm`); nullopt when malformed.
std::optional<std::int64_t> parse_rfc3339(std::string_view text);
/// RFC 3339 in UTC with seconds (`2026-12-06T18:26:27Z`), as the API server writes times.
std::string format_rfc3339(std::int64_t seconds_since_epoch);

}  // namespace avw::core
