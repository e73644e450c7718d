// File: store/snapshot_builder.hpp
//
// Builds a Snapshot, on the control thread, from objects given in any number of batches. Each
// VPA and scale target is packed into the snapshot's arena as it is added, so a source that
// decodes a list one item at a time never holds more than one decoded object of those kinds:
// with 100,000 tasks, the decoded objects of a whole list would take several times the RSS the
// snapshot does. finish() resolves and sorts everything once, so that the workers' lookups are
// a hash and a short scan.
#pragma once

#include <memory>

#include "avw/core/objects.hpp"
#include "avw/core/store/options.hpp"
#include "avw/core/store/packed_object.hpp"

namespace avw::core {

class Snapshot;

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

}  // namespace avw::core
