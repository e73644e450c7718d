// File: store/packed_object.hpp
//
// A VPA, scale target or checkpoint packed on its own, its names spelled out rather than
// interned: what a source keeps per object between snapshots (the API source's caches of its
// watches), at a fifth of the decoded object's size, so that with 100,000 tasks the caches
// stay a small part of the RSS beside the snapshot. SnapshotBuilder::add() copies one into a
// snapshot without decoding it again.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "avw/core/objects.hpp"

namespace avw::core {

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

 private:
  friend class SnapshotBuilder;
  PackedObject() = default;
  std::string bytes_;
};

}  // namespace avw::core
