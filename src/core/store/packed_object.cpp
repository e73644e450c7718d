// File: packed_object.cpp
//
// One object packed on its own (see avw/core/store/packed_object.hpp).
//
// Layouts (str = varint length + bytes). Each ends in a tail that SnapshotBuilder::add() copies
// into the snapshot's record as it is, so packing happens once per object, here:
//   VPA         u8 kind, str namespace, str name, i64 created, u8 update mode,
//               str target apiVersion, str target kind, str target name, tail: the VPA record's
//   target      u8 kind, str namespace, str name, str group, str kind, tail: u8 nothing, selector,
//               OOM kills
//   checkpoint  u8 kind, str namespace, str name, str VPA, str container,
//               tail: i64 first sample, i64 last sample, varint total samples, u8 memory samples
#include "avw/core/store/packed_object.hpp"

#include <algorithm>
#include <cstdint>

#include "byte_format.hpp"
#include "record_keys.hpp"
#include "records.hpp"

namespace avw::core {

namespace {

void write_header(packed::Writer& out, PackedObject::Kind kind, const ObjectMeta& meta) {
  out.u8(static_cast<std::uint8_t>(kind));
  out.string(meta.namespace_);
  out.string(meta.name);
}

// Appends `entry` as a sized entry of a record: readers skip the entries they do not want.
void put_entry(std::string& record, const std::string& entry) {
  packed::Writer(record).varint(entry.size());
  record.append(entry);
}

}  // namespace

PackedObject PackedObject::pack(const Vpa& vpa) {
  PackedObject o;
  packed::Writer out(o.bytes_);
  write_header(out, Kind::Vpa, vpa.meta);
  out.i64(vpa.meta.created);
  out.u8(static_cast<std::uint8_t>(vpa.update_mode));
  out.string(vpa.target_ref.api_version);
  out.string(vpa.target_ref.kind);
  out.string(vpa.target_ref.name);
  std::string entry;
  out.varint(vpa.recommendations.size());
  for (const ContainerRecommendation& rec : vpa.recommendations) {
    entry.clear();
    packed::Writer e(entry);
    e.string(rec.container_name);
    e.values<4>({&rec.target, &rec.lower_bound, &rec.upper_bound, &rec.uncapped_target});
    put_entry(o.bytes_, entry);
  }
  out.varint(vpa.container_policies.size());
  for (const ContainerPolicy& policy : vpa.container_policies) {
    entry.clear();
    packed::Writer e(entry);
    e.string(policy.container_name);
    e.u8(static_cast<std::uint8_t>(policy.mode));
    std::uint8_t controlled = 3;
    if (policy.controlled_resources) {
      controlled = 0;
      for (Resource r : *policy.controlled_resources) controlled |= static_cast<std::uint8_t>(1U << static_cast<unsigned>(r));
    }
    e.u8(controlled);
    e.u8(static_cast<std::uint8_t>(policy.controlled_values));
    e.values<2>({&policy.min_allowed, &policy.max_allowed});
    put_entry(o.bytes_, entry);
  }
  return o;
}

PackedObject PackedObject::pack(const ScaleTarget& target) {
  PackedObject o;
  packed::Writer out(o.bytes_);
  write_header(out, Kind::Target, target.meta);
  out.string(packed::group_of(target.api_version));
  out.string(target.kind);
  out.u8(target.selector.is_nothing() ? 1 : 0);
  out.varint(target.selector.requirements().size());
  for (const Requirement& r : target.selector.requirements()) {
    out.u8(static_cast<std::uint8_t>(r.op));
    out.string(r.key);
    out.varint(r.values.size());
    for (const std::string& v : r.values) out.string(v);
  }
  const auto active = std::count_if(target.oom_kills.begin(), target.oom_kills.end(),
                                    [](const OomKill& k) { return k.active(); });
  out.varint(static_cast<UInt128>(active));
  for (const OomKill& k : target.oom_kills) {
    if (!k.active()) continue;
    out.string(k.container);
    ResourceValues request;
    ResourceValues limit;
    request[Resource::Memory] = k.memory_request;
    limit[Resource::Memory] = k.memory_limit;
    out.values<2>({&request, &limit});
    out.i64(k.killed_at);
    out.varint(static_cast<UInt128>(static_cast<std::uint64_t>(std::max<std::int64_t>(0, k.try_number))));
  }
  return o;
}

PackedObject PackedObject::pack(const Checkpoint& checkpoint) {
  PackedObject o;
  packed::Writer out(o.bytes_);
  write_header(out, Kind::Checkpoint, checkpoint.meta);
  out.string(checkpoint.vpa_name);
  out.string(checkpoint.container_name);
  // Decoding checked the timestamps: each is empty or valid.
  out.i64(parse_rfc3339(checkpoint.first_sample_start).value_or(packed::kNoTime));
  out.i64(parse_rfc3339(checkpoint.last_sample_start).value_or(packed::kNoTime));
  out.varint(static_cast<UInt128>(static_cast<std::uint64_t>(checkpoint.total_samples_count)));
  out.u8(checkpoint.has_memory_samples ? 1 : 0);
  return o;
}

PackedObject::Kind PackedObject::kind() const { return static_cast<Kind>(bytes_.front()); }

std::string_view PackedObject::namespace_() const { return packed::Reader(bytes_.data() + 1).string(); }

std::string_view PackedObject::name() const {
  packed::Reader in(bytes_.data() + 1);
  in.string();
  return in.string();
}

std::optional<PackedObject::TargetRefView> PackedObject::target_ref() const {
  if (kind() != Kind::Vpa) return std::nullopt;
  packed::Reader in(bytes_.data() + 1);
  in.string();
  in.string();
  in.i64();
  in.u8();
  TargetRefView ref;
  ref.api_version = in.string();
  ref.kind = in.string();
  ref.name = in.string();
  return ref;
}

}  // namespace avw::core
