// File: resource_objects.hpp
//
// The objects of one watched collection (VPAs in one namespace, say), as its kube::Reflector
// reports them: list pages are gathered aside and replace the whole map once the list is
// complete, so a relist also forgets what was deleted while no watch ran; watch events
// update the map one object at a time. Every change is reported to the SnapshotAggregator,
// which coalesces them into snapshots.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <variant>

#include "avw/core/objects.hpp"
#include "avw/core/store.hpp"
#include "avw/kube/reflector.hpp"

namespace avw::source {

class SnapshotAggregator;

enum class Kind : std::uint8_t { Vpa, AirflowTask, LimitRange, Checkpoint, Namespace };
inline constexpr std::size_t kKinds = 5;

// VPAs, targets and checkpoints (most of a cluster's objects: one each per task, one per task
// container) are kept packed; the few LimitRanges and Namespaces decoded, on the heap so
// that the map's nodes stay small.
using Object = std::variant<core::PackedObject, std::unique_ptr<const core::LimitRange>,
                            std::unique_ptr<const core::NamespaceInfo>>;
using ObjectMap = std::unordered_map<std::string, Object>;  // "namespace/name" -> object

class ResourceObjects final : public kube::ReflectorHandler {
 public:
  /// `aggregator` owns this collection and outlives it.
  ResourceObjects(Kind kind, SnapshotAggregator& aggregator) : kind_(kind), aggregator_(aggregator) {}

  Kind kind() const { return kind_; }
  const ObjectMap& items() const { return items_; }
  /// A complete list arrived at least once (or the collection was found missing).
  bool listed() const { return listed_; }

  // kube::ReflectorHandler
  void on_list_started() override;
  void on_objects(core::DecodedObjects& objects, bool listed) override;
  void on_deleted(core::DecodedObjects& objects) override;
  void on_listed() override;
  void on_progress() override;

 private:
  Kind kind_;
  SnapshotAggregator& aggregator_;
  ObjectMap items_;
  ObjectMap fresh_;  // the pages of the list in progress
  bool listed_ = false;
};

}  // namespace avw::source
