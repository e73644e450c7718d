// File: store/views.hpp
//
// How a snapshot's VPAs and scale targets are read. A snapshot does not keep the decoded
// objects: each is a packed record in its arena, and a view is a handle to one, decoding a
// field when it is asked for. Views are two or three pointers, copied freely on the
// admission path, valid while the snapshot lives; a worker holds the snapshot's shared_ptr
// for the whole request, so no lock is needed. What a view decodes (a recommendation, a
// policy) is returned by value in the small structs below.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "avw/core/objects.hpp"
#include "avw/core/selector.hpp"

namespace avw::core {

/// A container's recommendation as the snapshot keeps it (the container name is the key).
struct RecommendedResources {
  ResourceValues target;
  ResourceValues lower_bound;
  ResourceValues upper_bound;
  ResourceValues uncapped_target;
};

/// A container policy as the snapshot keeps it (the container name is the key).
struct ResourcePolicy {
  ContainerScalingMode mode = ContainerScalingMode::Auto;
  /// controlledResources; both when the VPA leaves it out.
  std::array<bool, 2> controlled = {true, true};
  ControlledValues controlled_values = ControlledValues::RequestsAndLimits;
  ResourceValues min_allowed;
  ResourceValues max_allowed;

  bool controls(Resource r) const { return controlled[static_cast<std::size_t>(r)]; }
};

/// A checkpoint as the snapshot keeps it: what the history gate reads.
struct CheckpointSummary {
  std::optional<std::int64_t> first_sample_start;  // seconds since the epoch
  std::optional<std::int64_t> last_sample_start;
  std::int64_t total_samples_count = 0;
  bool has_memory_samples = false;
};

/// An active OOM kill as the snapshot keeps it: what the `oom` gate reads (oom_kill.hpp has
/// the whole record).
struct OomKillSummary {
  std::optional<Quantity> memory_request;
  std::optional<Quantity> memory_limit;
  std::int64_t killed_at = 0;  // seconds since the epoch
  std::int64_t try_number = 0;
};

struct SnapshotData;
class TargetView;

/// A VPA held by a snapshot: a handle to its packed record, valid while the snapshot lives.
/// It behaves like a pointer (`find_vpa(...) == nullptr`, `vpa->name()`).
class VpaView {
 public:
  VpaView() = default;
  VpaView(std::nullptr_t) {}  // NOLINT(google-explicit-constructor): reads as a null pointer

  std::string_view namespace_() const;
  std::string_view name() const;
  /// metadata.creationTimestamp in seconds (ObjectMeta::kUnknownCreated when unknown).
  std::int64_t created() const;
  UpdateMode update_mode() const;
  bool has_recommendations() const;
  /// The recommendation for `container`, decoded from the record.
  std::optional<RecommendedResources> recommendation_for(std::string_view container) const;
  /// The policy for `container`: exact name first, else "*", else nullopt.
  std::optional<ResourcePolicy> policy_for(std::string_view container) const;
  /// The scale target this VPA refers to, or nullptr when the snapshot has none.
  TargetView target() const;

  const VpaView* operator->() const { return this; }
  explicit operator bool() const { return record_ != nullptr; }
  friend bool operator==(const VpaView& v, std::nullptr_t) { return v.record_ == nullptr; }
  friend bool operator==(const VpaView& a, const VpaView& b) { return a.record_ == b.record_; }

 private:
  friend class Snapshot;
  VpaView(const SnapshotData* data, const char* record, const char* target)
      : data_(data), record_(record), target_(target) {}
  const SnapshotData* data_ = nullptr;
  const char* record_ = nullptr;
  const char* target_ = nullptr;  // resolved when the snapshot was built
};

/// A scale target held by a snapshot: its OOM kills (the planner's floor, the watch loop)
/// and what identifies and selects it.
class TargetView {
 public:
  TargetView() = default;
  TargetView(std::nullptr_t) {}  // NOLINT(google-explicit-constructor)

  std::string_view namespace_() const;
  std::string_view name() const;
  std::string_view kind() const;
  std::string_view group() const;
  /// The selector, rebuilt from the record.
  Selector selector() const;
  /// The active OOM kill of `container` (an AirflowTask's status.oomKills), or nullopt.
  std::optional<OomKillSummary> oom_kill(std::string_view container) const;
  bool has_oom_kills() const;

  const TargetView* operator->() const { return this; }
  explicit operator bool() const { return record_ != nullptr; }
  friend bool operator==(const TargetView& t, std::nullptr_t) { return t.record_ == nullptr; }

 private:
  friend class Snapshot;
  friend class VpaView;
  TargetView(const SnapshotData* data, const char* record) : data_(data), record_(record) {}
  const SnapshotData* data_ = nullptr;
  const char* record_ = nullptr;
};

}  // namespace avw::core
