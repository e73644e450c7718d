// File: snapshot_data.hpp (private to the store)
//
// What a Snapshot holds, and the interning of the names that repeat across thousands of
// records. The builder fills it on the control thread; once the snapshot is published nothing
// writes to it again, so every worker reads it at once without locks. The packed parts (the
// arena, the record tables, the candidate runs) are most of its size; namespaces and
// (group, kind) pairs are interned to small ids that the records hold instead of the names,
// and LimitRanges and namespaces, few and read as they are, stay decoded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "arena.hpp"
#include "avw/core/objects.hpp"
#include "avw/core/selector.hpp"
#include "record_table.hpp"
#include "records.hpp"

namespace avw::core {

struct SnapshotData {
  std::string index_key_a;
  std::string index_key_b;

  packed::Arena arena;
  std::vector<std::string> namespace_names;  // by id
  packed::StringMap<std::uint32_t> namespace_ids;
  std::vector<std::pair<std::string, std::string>> kinds;  // (group, kind) by id
  packed::StringMap<std::uint32_t> kind_ids;               // CompositeKey{group, kind}

  std::size_t vpa_count = 0;
  packed::RecordTable<> targets;
  packed::RecordTable<> groups;              // (namespace, value a, value b) -> a run of `candidates`
  std::vector<packed::Candidate> candidates;  // indexed ones by group, oldest first in each
  std::vector<packed::Candidate> fallback;    // by namespace id, oldest first in each
  std::vector<std::pair<std::uint32_t, std::uint32_t>> fallback_runs;  // by namespace id: first, count

  std::vector<LimitRange> limit_ranges;
  packed::RecordTable<> checkpoints;  // by (namespace, VPA, container)
  std::size_t checkpoint_count = 0;
  bool has_checkpoints = false;
  packed::StringMap<std::vector<const LimitRange*>> limit_ranges_by_namespace;
  std::vector<NamespaceInfo> namespaces;
  packed::StringMap<LabelSet> namespace_annotations;  // views into `namespaces`
  packed::StringMap<LabelSet> namespace_labels;       // the same

  /// The id of a namespace some record holds, or nullopt.
  std::optional<std::uint32_t> namespace_id(std::string_view name) const {
    auto it = namespace_ids.find(name);
    if (it == namespace_ids.end()) return std::nullopt;
    return it->second;
  }
  /// The id of a (group, kind) some target holds, or nullopt.
  std::optional<std::uint32_t> kind_id(std::string_view group, std::string_view kind) const;

  /// The id of `name`, given one if it has none yet (the builder only).
  std::uint32_t intern_namespace(std::string_view name);
  /// The id of (group, kind), likewise.
  std::uint32_t intern_kind(std::string_view group, std::string_view kind);
};

}  // namespace avw::core
