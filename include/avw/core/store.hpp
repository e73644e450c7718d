// File: store.hpp
//
// The recommendation store: an immutable Snapshot of VPAs, their targets, LimitRanges and
// checkpoints, indexed for the admission hot path. Edges (file source, API watch) build a new
// Snapshot and publish it; readers hold a shared_ptr and never wait for a writer.
//
// A snapshot does not keep the decoded objects: each VPA and scale target is packed into a
// record of a few hundred bytes (names interned, quantities as varints) and read back through
// VpaView and TargetView, so 100k tasks take about 35 MB rather than 220 MB. Checkpoints (one
// per VPA container in a live cluster) are packed too. LimitRanges and namespaces, few and
// read as they are, are kept decoded.
//
// Finding the VPA that governs a pod does not scan every VPA: targets whose selector requires
// `dag_id=<x>` and `task_id=<y>` (the index label keys) are indexed by (namespace, x, y); other
// selectors go to a per-namespace fallback list that is scanned. Among the VPAs whose update
// mode is allowed and whose target's selector matches the pod, the oldest wins
// (creationTimestamp, then name).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "avw/core/objects.hpp"
#include "avw/core/selector.hpp"

namespace avw::core {

struct StoreOptions {
  std::string index_key_a = "dag_id";   // label keys whose equality requirements index targets
  std::string index_key_b = "task_id";
  std::vector<UpdateMode> allowed_update_modes = {UpdateMode::Off, UpdateMode::Initial};
  /// The source reads checkpoints (the live API): a missing checkpoint means "no history yet"
  /// even when the source has none at all. A file without checkpoints leaves this false and
  /// turns the history gate off (its author vouches for it).
  bool checkpoints_authoritative = false;
};

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
  friend class SnapshotBuilder;
  VpaView(const SnapshotData* data, const char* record, const char* target)
      : data_(data), record_(record), target_(target) {}
  const SnapshotData* data_ = nullptr;
  const char* record_ = nullptr;
  const char* target_ = nullptr;  // resolved when the snapshot was built
};

/// A scale target held by a snapshot (tests and diagnostics read it; admission does not).
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

/// A VPA, scale target or checkpoint packed on its own, its names spelled out rather than
/// interned: what a source keeps per object between snapshots (the API source's caches of
/// its watches), at a fifth of the decoded object's size. SnapshotBuilder::add() copies it
/// into a snapshot without decoding it again.
class PackedObject {
 public:
  enum class Kind : std::uint8_t { Vpa, Target, Checkpoint };

  static PackedObject pack(const Vpa& vpa);
  static PackedObject pack(const ScaleTarget& target);
  static PackedObject pack(const Checkpoint& checkpoint);

  Kind kind() const;
  std::string_view namespace_() const;
  std::string_view name() const;
  /// A VPA's spec.targetRef, as views into this object (nullopt for the other kinds).
  struct TargetRefView {
    std::string_view api_version;
    std::string_view kind;
    std::string_view name;
  };
  std::optional<TargetRefView> target_ref() const;
  std::size_t size() const { return bytes_.size(); }

 private:
  friend class SnapshotBuilder;
  PackedObject() = default;
  std::string bytes_;
};

class Snapshot;

/// Builds a Snapshot from objects given in any number of batches. Each VPA and scale target is
/// packed into the snapshot's arena as it is added, so a source that decodes a list one item
/// at a time never holds more than one decoded object of those kinds: the snapshot of 100k
/// tasks takes about 300 bytes per task instead of the 2 KB its decoded objects do.
class SnapshotBuilder {
 public:
  explicit SnapshotBuilder(const StoreOptions& options);
  ~SnapshotBuilder();
  SnapshotBuilder(const SnapshotBuilder&) = delete;
  SnapshotBuilder& operator=(const SnapshotBuilder&) = delete;

  /// Takes the objects of `batch` (its vectors are left empty; list metadata and errors stay).
  void add(DecodedObjects& batch);
  void add(const Vpa& vpa);
  void add(const ScaleTarget& target);
  void add(const Checkpoint& checkpoint);
  void add(const PackedObject& object);
  /// The snapshot. The builder is spent afterwards.
  std::shared_ptr<const Snapshot> finish();

 private:
  std::unique_ptr<Snapshot> snapshot_;
  struct State;
  std::unique_ptr<State> state_;
};

class Snapshot {
 public:
  /// Builds a snapshot. VPAs whose target is missing, or whose target's selector is empty
  /// (it would match every pod: the recommender refuses it too), govern no pod. Objects with
  /// the same namespace/name: the last one wins.
  static std::shared_ptr<const Snapshot> build(DecodedObjects objects, const StoreOptions& options);
  static std::shared_ptr<const Snapshot> empty();

  ~Snapshot();
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  /// The VPA governing a pod with these labels in `namespace_`, or nullptr.
  VpaView find_vpa(std::string_view namespace_, const LabelSet& labels) const;
  /// The target a VPA of this snapshot refers to, or nullptr when it does not exist.
  TargetView target_of(const VpaView& vpa) const;
  /// The target `namespace_`/`ref` resolves to (the version of ref.api_version does not
  /// matter, only its group), or nullptr.
  TargetView target_of(std::string_view namespace_, const TargetRef& ref) const;
  /// LimitRanges of a namespace (possibly none).
  const std::vector<const LimitRange*>& limit_ranges(std::string_view namespace_) const;
  /// What the checkpoint of (VPA, container) says of its history, or nullopt.
  std::optional<CheckpointSummary> checkpoint(std::string_view namespace_, std::string_view vpa_name,
                                              std::string_view container) const;
  /// A namespace's annotations, or nullptr when the source does not know the namespace.
  const LabelSet* namespace_annotations(std::string_view namespace_) const;
  /// A namespace's labels (its mode: `airflow-vpa-webhook.io/mode`), or nullptr likewise.
  const LabelSet* namespace_labels(std::string_view namespace_) const;
  /// False when the source had no checkpoint objects at all and is not authoritative about
  /// them (StoreOptions::checkpoints_authoritative): the history gate is then off.
  bool has_checkpoints() const;

  std::size_t vpa_count() const;
  std::size_t target_count() const;
  std::size_t limit_range_count() const;
  std::size_t checkpoint_count() const;
  /// Bytes the packed VPAs, targets and index take (the arena and the tables).
  std::size_t packed_bytes() const;

 private:
  friend class SnapshotBuilder;
  Snapshot();
  std::unique_ptr<SnapshotData> data_;
};

}  // namespace avw::core
