// File: store.hpp
//
// The recommendation store: an immutable Snapshot of VPAs, their targets, LimitRanges and
// checkpoints, indexed for the admission hot path. Edges (file source, API watch) build a new
// Snapshot and publish it; readers hold a shared_ptr and never wait for a writer.
//
// Finding the VPA that governs a pod does not scan every VPA: targets whose selector requires
// `dag_id=<x>` and `task_id=<y>` (the index label keys) are indexed by (namespace, x, y); other
// selectors go to a per-namespace fallback list that is scanned. Among the VPAs whose update
// mode is allowed and whose target's selector matches the pod, the oldest wins
// (creationTimestamp, then name).
#pragma once

#include <cstddef>
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
  const Vpa* find_vpa(std::string_view namespace_, const LabelSet& labels) const;
  /// The target of a VPA (nullptr when it does not exist in the snapshot).
  const ScaleTarget* target_of(const Vpa& vpa) const;
  /// LimitRanges of a namespace (possibly none).
  const std::vector<const LimitRange*>& limit_ranges(std::string_view namespace_) const;
  /// The checkpoint of (VPA, container), or nullptr.
  const Checkpoint* checkpoint(std::string_view namespace_, std::string_view vpa_name,
                               std::string_view container) const;
  /// A namespace's annotations, or nullptr when the source does not know the namespace.
  const LabelSet* namespace_annotations(std::string_view namespace_) const;
  /// False when the source had no checkpoint objects at all and is not authoritative about
  /// them (StoreOptions::checkpoints_authoritative): the history gate is then off.
  bool has_checkpoints() const;

  std::size_t vpa_count() const;
  std::size_t target_count() const;
  std::size_t limit_range_count() const;
  std::size_t checkpoint_count() const;

 private:
  Snapshot();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace avw::core
