// File: records.hpp (private to the store)
//
// The layouts of the packed records a snapshot keeps in its arena, and the inline readers of
// their fields that the views and the lookups share. Reading a field means walking the record
// from its start: records are small (a few hundred bytes), and a walk costs less than the
// memory an index of offsets would take for 100,000 tasks. These readers are on the admission
// path (find_vpa, the views), so they live in this header, where the compiler can inline them.
//
// Record layouts (str = varint length + bytes; id = varint):
//   VPA     key: id namespace, bytes name
//           i64 created, u8 update mode, id target kind, str target name,
//           varint n, n x (varint size, str container, values: target, lower, upper, uncapped),
//           varint n, n x (varint size, str container, u8 mode, u8 controlled, u8 values, values: min, max)
//   target  key: id namespace, id kind, bytes name
//           u8 flags (nothing, indexed), [str value a, str value b when indexed], selector:
//           varint n, n x (u8 operator, str key, varint m, m x str value),
//           active OOM kills: varint n, n x (str container, values: request, limit,
//           i64 killed at, varint try number)
//   checkpoint  key: id namespace, str VPA, bytes container
//           str (id namespace, bytes name), u32 sequence, i64 first sample, i64 last sample,
//           varint total samples, u8 has memory samples
//   group   key: id namespace, str value a, bytes value b
//           u32 first candidate, u32 count
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

#include "avw/core/objects.hpp"
#include "avw/core/selector.hpp"
#include "byte_format.hpp"
#include "record_keys.hpp"

namespace avw::core::packed {

/// A target's flags: its selector matches nothing; it is indexed (values a and b follow).
inline constexpr std::uint8_t kNothing = 1;
inline constexpr std::uint8_t kIndexed = 2;

/// A checkpoint's timestamp that the object left out.
inline constexpr std::int64_t kNoTime = std::numeric_limits<std::int64_t>::min();

/// A VPA that may govern pods, with what ordering and matching need at hand.
struct Candidate {
  const char* vpa = nullptr;     // record
  const char* target = nullptr;  // record
  std::int64_t created = 0;      // seconds since the epoch
};

/// Fields of a VPA record, parsed.
struct VpaHeader {
  std::uint64_t namespace_id = 0;
  std::string_view name;
  std::int64_t created = 0;
  UpdateMode update_mode = UpdateMode::Auto;
  std::uint64_t target_kind = 0;
  std::string_view target_name;
  const char* recommendations = nullptr;  // varint n, then the entries
};

inline VpaHeader parse_vpa(const char* record) {
  VpaHeader h;
  Reader key(record);
  const std::string_view k = key.string();
  Reader in_key(k.data());
  h.namespace_id = static_cast<std::uint64_t>(in_key.varint());
  h.name = rest_of_key(k, in_key);
  Reader in(key.position());
  h.created = in.i64();
  h.update_mode = static_cast<UpdateMode>(in.u8());
  h.target_kind = static_cast<std::uint64_t>(in.varint());
  h.target_name = in.string();
  h.recommendations = in.position();
  return h;
}

/// The oldest VPA wins; the name breaks ties (timestamps have one-second resolution, and
/// VPAs created by one `kubectl apply` share them).
inline bool older(const Candidate& a, const Candidate& b) {
  if (a.created != b.created) return a.created < b.created;
  return parse_vpa(a.vpa).name < parse_vpa(b.vpa).name;
}

/// The key of a target record, parsed.
struct TargetKey {
  std::uint64_t namespace_id = 0;
  std::uint64_t kind_id = 0;
  std::string_view name;
};

inline TargetKey parse_target_key(const char* record) {
  const std::string_view k = key_of(record);
  Reader in(k.data());
  TargetKey out;
  out.namespace_id = static_cast<std::uint64_t>(in.varint());
  out.kind_id = static_cast<std::uint64_t>(in.varint());
  out.name = rest_of_key(k, in);
  return out;
}

/// Where a target record's selector starts; its flags and index values on the way.
inline const char* selector_of_target(const char* record, std::string_view* a = nullptr,
                                      std::string_view* b = nullptr, std::uint8_t* flags_out = nullptr) {
  Reader in(body_of(record));
  const std::uint8_t flags = in.u8();
  if (flags_out != nullptr) *flags_out = flags;
  if ((flags & kIndexed) != 0) {
    const std::string_view va = in.string();
    const std::string_view vb = in.string();
    if (a != nullptr) *a = va;
    if (b != nullptr) *b = vb;
  }
  return in.position();
}

/// Whether a packed selector matches `labels`, with Requirement::matches's semantics.
inline bool selector_matches(const char* selector, const LabelSet& labels) {
  Reader in(selector);
  for (std::size_t n = in.size(); n > 0; --n) {
    const auto op = static_cast<Requirement::Operator>(in.u8());
    const auto value = labels.get(in.string());
    bool has = false;
    for (std::size_t m = in.size(); m > 0; --m) {
      const std::string_view v = in.string();
      if (value && v == *value) has = true;
    }
    bool ok = false;
    switch (op) {
      case Requirement::Operator::Equals:
      case Requirement::Operator::In: ok = value && has; break;
      case Requirement::Operator::NotEquals:
      case Requirement::Operator::NotIn: ok = !value || !has; break;
      case Requirement::Operator::Exists: ok = value.has_value(); break;
      case Requirement::Operator::DoesNotExist: ok = !value.has_value(); break;
    }
    if (!ok) return false;
  }
  return true;
}

/// Where a checkpoint record's sequence number is, and the fields after it.
inline char* sequence_of(const char* record) {
  Reader in(body_of(record));
  in.string();
  return const_cast<char*>(in.position());  // records are written by the builder only
}

}  // namespace avw::core::packed
