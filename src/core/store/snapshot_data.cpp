// File: snapshot_data.cpp
//
// Interning a snapshot's namespaces and (group, kind) pairs (see snapshot_data.hpp). Called
// by the builder only, on the control thread; the lookups by id are the workers'.
#include "snapshot_data.hpp"

namespace avw::core {

std::optional<std::uint32_t> SnapshotData::kind_id(std::string_view group, std::string_view kind) const {
  auto it = kind_ids.find(packed::CompositeKey{group, kind}.view());
  if (it == kind_ids.end()) return std::nullopt;
  return it->second;
}

std::uint32_t SnapshotData::intern_namespace(std::string_view name) {
  auto it = namespace_ids.find(name);
  if (it != namespace_ids.end()) return it->second;
  const auto id = static_cast<std::uint32_t>(namespace_names.size());
  namespace_names.emplace_back(name);
  namespace_ids.emplace(std::string(name), id);
  return id;
}

std::uint32_t SnapshotData::intern_kind(std::string_view group, std::string_view kind) {
  const packed::CompositeKey key{group, kind};
  auto it = kind_ids.find(key.view());
  if (it != kind_ids.end()) return it->second;
  const auto id = static_cast<std::uint32_t>(kinds.size());
  kinds.emplace_back(std::string(group), std::string(kind));
  kind_ids.emplace(key.str(), id);
  return id;
}

}  // namespace avw::core
