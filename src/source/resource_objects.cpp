// One watched collection's objects (see resource_objects.hpp).
#include "resource_objects.hpp"

#include <type_traits>
#include <utility>

#include "snapshot_aggregator.hpp"

namespace avw::source {
namespace {

std::string object_key(const core::ObjectMeta& meta) { return meta.namespace_ + "/" + meta.name; }

// Moves the objects of `kind` from a decoded document into `map`, replacing same-named ones.
// Objects of other kinds are ignored: a collection only owns what it lists.
std::size_t take_objects(Kind kind, core::DecodedObjects& objects, ObjectMap& map) {
  auto move_all = [&map](auto& list) {
    for (auto& o : list) {
      std::string key = object_key(o.meta);
      using T = std::decay_t<decltype(o)>;
      if constexpr (std::is_same_v<T, core::LimitRange> || std::is_same_v<T, core::NamespaceInfo>) {
        map.insert_or_assign(std::move(key), Object(std::make_unique<const T>(std::move(o))));
      } else {
        map.insert_or_assign(std::move(key), Object(core::PackedObject::pack(o)));
      }
    }
    return list.size();
  };
  switch (kind) {
    case Kind::Vpa: return move_all(objects.vpas);
    case Kind::AirflowTask: return move_all(objects.targets);
    case Kind::LimitRange: return move_all(objects.limit_ranges);
    case Kind::Checkpoint: return move_all(objects.checkpoints);
    case Kind::Namespace: return move_all(objects.namespaces);
  }
  return 0;
}

std::size_t erase_objects(Kind kind, const core::DecodedObjects& objects, ObjectMap& map) {
  auto erase_all = [&map](const auto& list) {
    for (const auto& o : list) map.erase(object_key(o.meta));
    return list.size();
  };
  switch (kind) {
    case Kind::Vpa: return erase_all(objects.vpas);
    case Kind::AirflowTask: return erase_all(objects.targets);
    case Kind::LimitRange: return erase_all(objects.limit_ranges);
    case Kind::Checkpoint: return erase_all(objects.checkpoints);
    case Kind::Namespace: return erase_all(objects.namespaces);
  }
  return 0;
}

}  // namespace

void ResourceObjects::on_list_started() { fresh_.clear(); }

void ResourceObjects::on_objects(core::DecodedObjects& objects, bool listed) {
  if (listed) {
    take_objects(kind_, objects, fresh_);
  } else if (take_objects(kind_, objects, items_) > 0) {
    aggregator_.mark_dirty();
  }
}

void ResourceObjects::on_deleted(core::DecodedObjects& objects) {
  if (erase_objects(kind_, objects, items_) > 0) aggregator_.mark_dirty();
}

void ResourceObjects::on_listed() {
  // An empty list of a collection already empty (a CRD still missing) changes nothing.
  const bool changed = !listed_ || !items_.empty() || !fresh_.empty();
  items_ = std::move(fresh_);
  fresh_ = ObjectMap();
  listed_ = true;
  if (changed) aggregator_.mark_dirty();
}

void ResourceObjects::on_progress() { aggregator_.touch_sync(); }

}  // namespace avw::source
