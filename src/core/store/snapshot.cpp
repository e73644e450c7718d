// File: snapshot.cpp
//
// The Snapshot's lookups (see avw/core/store/snapshot.hpp). find_vpa() is on the admission
// path of every pod: it reads the index the builder sorted, compares keys in place in the
// records, and allocates nothing for ordinary label values.
#include "avw/core/store/snapshot.hpp"

#include <cstdint>
#include <cstring>

#include "avw/core/store/snapshot_builder.hpp"
#include "byte_format.hpp"
#include "record_keys.hpp"
#include "records.hpp"
#include "snapshot_data.hpp"

namespace avw::core {

using packed::Candidate;

Snapshot::Snapshot() : data_(std::make_unique<SnapshotData>()) {}
Snapshot::~Snapshot() = default;

std::shared_ptr<const Snapshot> Snapshot::empty() { return std::shared_ptr<const Snapshot>(new Snapshot()); }

std::shared_ptr<const Snapshot> Snapshot::build(DecodedObjects objects, const StoreOptions& options) {
  SnapshotBuilder builder(options);
  builder.add(objects);
  return builder.finish();
}

VpaView Snapshot::find_vpa(std::string_view namespace_, const LabelSet& labels) const {
  const SnapshotData& d = *data_;
  const auto ns = d.namespace_id(namespace_);
  if (!ns) return nullptr;
  const Candidate* best = nullptr;

  auto a = labels.get(d.index_key_a);
  auto b = labels.get(d.index_key_b);
  if (a && b && d.groups.size() != 0) {
    const packed::PairKey key(*ns, *a, *b);
    if (const char* group = d.groups.find(key.view())) {
      const char* run = packed::body_of(group);
      std::uint32_t first = 0;
      std::uint32_t count = 0;
      std::memcpy(&first, run, sizeof first);
      std::memcpy(&count, run + sizeof first, sizeof count);
      for (std::uint32_t i = first; i < first + count; ++i) {
        const Candidate& candidate = d.candidates[i];
        if (packed::selector_matches(packed::selector_of_target(candidate.target), labels)) {
          best = &candidate;
          break;
        }
      }
    }
  }

  if (*ns < d.fallback_runs.size()) {
    const auto [first, count] = d.fallback_runs[*ns];
    for (std::uint32_t i = first; i < first + count; ++i) {
      const Candidate& candidate = d.fallback[i];
      // Sorted oldest first: once a candidate is not older than the indexed winner, no later
      // one can be either.
      if (best != nullptr && !packed::older(candidate, *best)) break;
      if (packed::selector_matches(packed::selector_of_target(candidate.target), labels)) {
        best = &candidate;
        break;
      }
    }
  }
  return best == nullptr ? VpaView() : VpaView(data_.get(), best->vpa, best->target);
}

const std::vector<const LimitRange*>& Snapshot::limit_ranges(std::string_view namespace_) const {
  static const std::vector<const LimitRange*> kNone;
  auto it = data_->limit_ranges_by_namespace.find(namespace_);
  return it == data_->limit_ranges_by_namespace.end() ? kNone : it->second;
}

const LabelSet* Snapshot::namespace_labels(std::string_view namespace_) const {
  auto it = data_->namespace_labels.find(namespace_);
  return it == data_->namespace_labels.end() ? nullptr : &it->second;
}

const LabelSet* Snapshot::namespace_annotations(std::string_view namespace_) const {
  auto it = data_->namespace_annotations.find(namespace_);
  return it == data_->namespace_annotations.end() ? nullptr : &it->second;
}

std::optional<CheckpointSummary> Snapshot::checkpoint(std::string_view namespace_, std::string_view vpa_name,
                                                     std::string_view container) const {
  const auto ns = data_->namespace_id(namespace_);
  if (!ns || data_->checkpoints.size() == 0) return std::nullopt;
  const packed::PairKey key(*ns, vpa_name, container);
  const char* record = data_->checkpoints.find(key.view());
  if (record == nullptr) return std::nullopt;
  packed::Reader in(packed::sequence_of(record));
  in.skip(sizeof(std::uint32_t));
  CheckpointSummary out;
  if (const std::int64_t first = in.i64(); first != packed::kNoTime) out.first_sample_start = first;
  if (const std::int64_t last = in.i64(); last != packed::kNoTime) out.last_sample_start = last;
  out.total_samples_count = static_cast<std::int64_t>(static_cast<std::uint64_t>(in.varint()));
  out.has_memory_samples = in.u8() != 0;
  return out;
}

bool Snapshot::has_checkpoints() const { return data_->has_checkpoints; }

std::size_t Snapshot::vpa_count() const { return data_->vpa_count; }
std::size_t Snapshot::target_count() const { return data_->targets.size(); }
std::size_t Snapshot::limit_range_count() const { return data_->limit_ranges.size(); }
std::size_t Snapshot::checkpoint_count() const { return data_->checkpoint_count; }

TargetView Snapshot::target_for_test(std::string_view namespace_, const TargetRef& ref) const {
  const auto ns = data_->namespace_id(namespace_);
  const auto kind = data_->kind_id(packed::group_of(ref.api_version), ref.kind);
  if (!ns || !kind) return nullptr;
  const char* target = data_->targets.find(packed::target_key(*ns, *kind, ref.name));
  return target == nullptr ? TargetView() : TargetView(data_.get(), target);
}

std::size_t Snapshot::packed_bytes_for_test() const {
  const SnapshotData& d = *data_;
  return d.arena.reserved() + d.targets.bytes() + d.groups.bytes() + d.checkpoints.bytes() +
         (d.candidates.capacity() + d.fallback.capacity()) * sizeof(Candidate);
}

}  // namespace avw::core
