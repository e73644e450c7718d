// File: snapshot_builder.cpp
//
// Building a Snapshot (see avw/core/store/snapshot_builder.hpp).
//
// add() packs each object into a record in the snapshot's arena at once (the layouts are
// records.hpp's), interning its namespace and (group, kind), so a source never holds a list's
// decoded objects. finish() then does, once, everything the workers would otherwise do per
// pod: it resolves each VPA to its target, drops those that can govern nothing, and sorts the
// rest into runs, oldest first, either by index group or by namespace. find_vpa() is then a
// hash lookup plus a short scan, and allocates nothing for ordinary label values.
#include "avw/core/store/snapshot_builder.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "avw/core/store/snapshot.hpp"
#include "byte_format.hpp"
#include "record_keys.hpp"
#include "record_table.hpp"
#include "records.hpp"
#include "snapshot_data.hpp"

namespace avw::core {

using packed::Candidate;
using packed::parse_vpa;
using packed::RecordTable;
using packed::VpaHeader;

struct SnapshotBuilder::State {
  StoreOptions options;
  RecordTable<> vpas;                            // by (namespace, name): the last one added wins
  RecordTable<packed::name_key_of> checkpoints;  // by (namespace, name): the last one added wins
  std::uint32_t checkpoints_added = 0;
  std::vector<LimitRange> limit_ranges;
  std::vector<NamespaceInfo> namespaces;
  std::string scratch;  // the record being packed
};

SnapshotBuilder::SnapshotBuilder(const StoreOptions& options)
    : snapshot_(new Snapshot()), state_(std::make_unique<State>()) {
  state_->options = options;
  snapshot_->data_->index_key_a = options.index_key_a;
  snapshot_->data_->index_key_b = options.index_key_b;
  snapshot_->data_->has_checkpoints = options.checkpoints_authoritative;
}

SnapshotBuilder::~SnapshotBuilder() = default;

namespace {

// The value of a `key=value` (or `key in (value)`) requirement of a packed selector, as
// Selector::equality_value() answers it.
std::optional<std::string_view> equality_value_in(const char* selector, std::string_view key) {
  packed::Reader in(selector);
  std::optional<std::string_view> found;
  for (std::size_t n = in.size(); n > 0; --n) {
    const auto op = static_cast<Requirement::Operator>(in.u8());
    const std::string_view k = in.string();
    const std::size_t m = in.size();
    std::string_view first;
    for (std::size_t i = 0; i < m; ++i) {
      const std::string_view v = in.string();
      if (i == 0) first = v;
    }
    if (k != key || m != 1) continue;
    if (op != Requirement::Operator::Equals && op != Requirement::Operator::In) continue;
    // `k=a,k=b` can match nothing; no single value to index it under.
    if (found && *found != first) return std::nullopt;
    found = first;
  }
  return found;
}

// Keeps the last object for each key, at the position of the first (input order otherwise).
template <class T, class KeyOf>
std::vector<T> last_wins(std::vector<T> objects, KeyOf key_of_object) {
  std::vector<T> out;
  out.reserve(objects.size());
  packed::StringMap<std::size_t> position;
  position.reserve(objects.size());
  for (auto& object : objects) {
    auto [it, inserted] = position.try_emplace(key_of_object(object), out.size());
    if (inserted) {
      out.push_back(std::move(object));
    } else {
      out[it->second] = std::move(object);
    }
  }
  return out;
}

}  // namespace

void SnapshotBuilder::add(const Vpa& vpa) { add(PackedObject::pack(vpa)); }
void SnapshotBuilder::add(const ScaleTarget& target) { add(PackedObject::pack(target)); }
void SnapshotBuilder::add(const Checkpoint& checkpoint) { add(PackedObject::pack(checkpoint)); }

void SnapshotBuilder::add(const PackedObject& object) {
  SnapshotData& data = *snapshot_->data_;
  State& s = *state_;
  packed::Reader in(object.bytes_.data() + 1);
  const std::uint32_t ns = data.intern_namespace(in.string());
  const std::string_view name = in.string();
  s.scratch.clear();
  packed::Writer out(s.scratch);
  switch (object.kind()) {
    case PackedObject::Kind::Vpa: {
      out.string(packed::name_key(ns, name));
      out.i64(in.i64());
      out.u8(in.u8());
      const std::string_view api_version = in.string();
      const std::string_view kind = in.string();
      out.varint(data.intern_kind(packed::group_of(api_version), kind));
      out.string(in.string());
      break;
    }
    case PackedObject::Kind::Target: {
      const std::string_view group = in.string();
      const std::string_view kind = in.string();
      out.string(packed::target_key(ns, data.intern_kind(group, kind), name));
      const bool nothing = in.u8() != 0;
      const char* selector = in.position();
      const auto a = nothing ? std::nullopt : equality_value_in(selector, s.options.index_key_a);
      const auto b = nothing ? std::nullopt : equality_value_in(selector, s.options.index_key_b);
      out.u8(static_cast<std::uint8_t>((nothing ? packed::kNothing : 0) | (a && b ? packed::kIndexed : 0)));
      if (a && b) {
        out.string(*a);
        out.string(*b);
      }
      break;
    }
    case PackedObject::Kind::Checkpoint: {
      const std::string_view vpa_name = in.string();
      const std::string_view container = in.string();
      out.string(packed::pair_key(ns, vpa_name, container));
      out.string(packed::name_key(ns, name));
      const std::uint32_t sequence = s.checkpoints_added++;
      s.scratch.append(reinterpret_cast<const char*>(&sequence), sizeof sequence);
      break;
    }
  }
  // The tail is the same in both layouts.
  const char* tail = in.position();
  s.scratch.append(tail, static_cast<std::size_t>(object.bytes_.data() + object.bytes_.size() - tail));
  const char* record = data.arena.store(s.scratch);
  // A replaced record stays in the arena: repeats of a name within one build are rare. The
  // last object of a name wins; a checkpoint keeps the position of the first (as LimitRanges
  // do), which decides between two for the same (VPA, container).
  switch (object.kind()) {
    case PackedObject::Kind::Vpa: s.vpas.put(record); break;
    case PackedObject::Kind::Target: data.targets.put(record); break;
    case PackedObject::Kind::Checkpoint:
      if (const char* replaced = s.checkpoints.put(record)) {
        std::memcpy(packed::sequence_of(record), packed::sequence_of(replaced), sizeof(std::uint32_t));
      }
      break;
  }
}

void SnapshotBuilder::add(DecodedObjects& batch) {
  for (const Vpa& vpa : batch.vpas) add(vpa);
  for (const ScaleTarget& target : batch.targets) add(target);
  for (const Checkpoint& checkpoint : batch.checkpoints) add(checkpoint);
  for (auto& range : batch.limit_ranges) state_->limit_ranges.push_back(std::move(range));
  for (auto& ns : batch.namespaces) state_->namespaces.push_back(std::move(ns));
  // Released, not just cleared: the point is that the decoded objects do not pile up.
  batch.vpas = {};
  batch.targets = {};
  batch.limit_ranges = {};
  batch.checkpoints = {};
  batch.namespaces = {};
  batch.pods = {};  // no snapshot keeps pods (a file may hold some: `kubectl get all`)
}

std::shared_ptr<const Snapshot> SnapshotBuilder::finish() {
  SnapshotData& data = *snapshot_->data_;
  State& s = *state_;
  data.vpa_count = s.vpas.size();
  data.checkpoint_count = s.checkpoints.size();
  if (s.checkpoints_added != 0) data.has_checkpoints = true;

  // Resolve each VPA to its target; sort those that may govern pods into their runs.
  std::vector<Candidate> indexed;
  indexed.reserve(s.vpas.size());
  std::vector<Candidate> fallback;
  const auto& allowed = s.options.allowed_update_modes;
  s.vpas.for_each([&](const char* record) {
    const VpaHeader h = parse_vpa(record);
    if (std::find(allowed.begin(), allowed.end(), h.update_mode) == allowed.end()) return;
    const char* target = data.targets.find(packed::target_key(h.namespace_id, h.target_kind, h.target_name));
    if (target == nullptr) return;
    std::uint8_t flags = 0;
    packed::Reader selector(packed::selector_of_target(target, nullptr, nullptr, &flags));
    // An empty selector would match every pod of the namespace (the recommender refuses such
    // a target too); one that matches nothing can never govern a pod.
    if ((flags & packed::kNothing) != 0 || selector.size() == 0) return;
    // A VPA whose creationTimestamp cannot be read sorts after every dated one
    // (ObjectMeta::kUnknownCreated): it should not win over VPAs whose age is known.
    ((flags & packed::kIndexed) != 0 ? indexed : fallback).push_back({record, target, h.created});
  });
  s.vpas = RecordTable<>();

  // Indexed: by group key, oldest first within a group. The keys are read from the records
  // as the sort compares them rather than built for all candidates at once.
  struct GroupOf {
    std::uint64_t namespace_id;
    std::string_view a;
    std::string_view b;
    auto operator<=>(const GroupOf&) const = default;
  };
  const auto group_of_candidate = [](const Candidate& c) {
    GroupOf g{parse_vpa(c.vpa).namespace_id, {}, {}};
    packed::selector_of_target(c.target, &g.a, &g.b);
    return g;
  };
  std::sort(indexed.begin(), indexed.end(), [&](const Candidate& x, const Candidate& y) {
    const GroupOf gx = group_of_candidate(x);
    const GroupOf gy = group_of_candidate(y);
    if (gx != gy) return gx < gy;
    return packed::older(x, y);
  });
  data.candidates = std::move(indexed);
  std::string group;
  for (std::size_t i = 0; i < data.candidates.size();) {
    const GroupOf g = group_of_candidate(data.candidates[i]);
    std::size_t j = i + 1;
    while (j < data.candidates.size() && group_of_candidate(data.candidates[j]) == g) ++j;
    group.clear();
    packed::Writer(group).string(packed::pair_key(g.namespace_id, g.a, g.b));
    const auto first = static_cast<std::uint32_t>(i);
    const auto count = static_cast<std::uint32_t>(j - i);
    group.append(reinterpret_cast<const char*>(&first), sizeof first);
    group.append(reinterpret_cast<const char*>(&count), sizeof count);
    data.groups.put(data.arena.store(group));
    i = j;
  }

  // Fallback: by namespace, oldest first.
  std::sort(fallback.begin(), fallback.end(), [](const Candidate& x, const Candidate& y) {
    const auto nx = parse_vpa(x.vpa).namespace_id;
    const auto ny = parse_vpa(y.vpa).namespace_id;
    if (nx != ny) return nx < ny;
    return packed::older(x, y);
  });
  data.fallback_runs.assign(data.namespace_names.size(), {0, 0});
  for (std::size_t i = 0; i < fallback.size();) {
    const auto ns = parse_vpa(fallback[i].vpa).namespace_id;
    std::size_t j = i;
    while (j < fallback.size() && parse_vpa(fallback[j].vpa).namespace_id == ns) ++j;
    data.fallback_runs[ns] = {static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(j - i)};
    i = j;
  }
  data.fallback = std::move(fallback);

  // The few objects that are not packed.
  data.limit_ranges = last_wins(std::move(s.limit_ranges), [](const LimitRange& l) {
    return packed::CompositeKey{l.meta.namespace_, l.meta.name}.str();
  });
  for (const auto& range : data.limit_ranges) {
    data.limit_ranges_by_namespace[range.meta.namespace_].push_back(&range);
  }
  data.namespaces = std::move(s.namespaces);
  for (const NamespaceInfo& ns : data.namespaces) {
    LabelSet& annotations = data.namespace_annotations[ns.meta.name];
    annotations = LabelSet();  // the last object of a name wins
    for (const auto& [key, value] : ns.annotations) annotations.set(key, value);
    LabelSet& labels = data.namespace_labels[ns.meta.name];
    labels = LabelSet();
    for (const auto& [key, value] : ns.labels) labels.set(key, value);
  }
  // Two checkpoints for the same (VPA, container) are not expected (the recommender names
  // them `<vpa>-<container>`); should it happen, the later one wins, as for names.
  std::vector<std::pair<std::uint32_t, const char*>> checkpoints;
  checkpoints.reserve(s.checkpoints.size());
  s.checkpoints.for_each([&](const char* record) {
    std::uint32_t sequence = 0;
    std::memcpy(&sequence, packed::sequence_of(record), sizeof sequence);
    checkpoints.emplace_back(sequence, record);
  });
  std::sort(checkpoints.begin(), checkpoints.end());
  for (const auto& [sequence, record] : checkpoints) data.checkpoints.put(record);
  state_.reset();
  return std::shared_ptr<const Snapshot>(snapshot_.release());
}

}  // namespace avw::core
