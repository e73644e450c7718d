// File: store/snapshot.hpp
//
// An immutable Snapshot of VPAs, their targets, LimitRanges, checkpoints and namespaces,
// indexed for the admission hot path. The control thread builds it (SnapshotBuilder) and
// publishes a shared_ptr to every worker; nothing writes to it afterwards, so workers read it
// at once without locks and never wait for a writer.
//
// Finding the VPA that governs a pod does not scan every VPA: targets whose selector requires
// `dag_id=<x>` and `task_id=<y>` (the index label keys) are indexed by (namespace, x, y); other
// selectors go to a per-namespace fallback list that is scanned. Among the VPAs whose update
// mode is allowed and whose target's selector matches the pod, the oldest wins
// (creationTimestamp, then name).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "avw/core/objects.hpp"
#include "avw/core/selector.hpp"
#include "avw/core/store/options.hpp"
#include "avw/core/store/views.hpp"

namespace avw::core {

class SnapshotBuilder;

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

  /// For tests: the target `namespace_`/`ref` resolves to (the version of ref.api_version
  /// does not matter, only its group), or nullptr; whether or not any VPA may govern a pod.
  TargetView target_for_test(std::string_view namespace_, const TargetRef& ref) const;
  /// For tests: bytes the packed VPAs, targets and index take (the arena and the tables).
  std::size_t packed_bytes_for_test() const;

 private:
  friend class SnapshotBuilder;
  Snapshot();
  std::unique_ptr<SnapshotData> data_;
};

}  // namespace avw::core
