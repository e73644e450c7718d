// File: record_keys.hpp (private to the store)
//
// The keys of packed records. Every record starts with its key (length-prefixed bytes), which
// is what lets RecordTable hold one pointer per slot. Keys are byte strings built from interned
// ids and names: (namespace id, name) for a VPA, (namespace id, kind id, name) for a target,
// (namespace id, a, b) for an index group or a checkpoint. Each part but the last is
// length-prefixed, so no choice of part contents (a label value may hold any byte once
// JSON-decoded) can make two different tuples collide.
//
// Lookups on the admission path build their key in a stack buffer (PairKey); input too long
// for it (label values are at most 63 characters when valid, but a pod's labels are not
// validated yet when we see them) falls back to a heap string rather than being truncated or
// refused.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>

#include "byte_format.hpp"

namespace avw::core::packed {

/// A record's key.
inline std::string_view key_of(const char* record) { return Reader(record).string(); }

/// What follows `in` in the key `k`: its last, unprefixed part.
inline std::string_view rest_of_key(std::string_view k, const Reader& in) {
  return k.substr(static_cast<std::size_t>(in.position() - k.data()));
}

/// Where a record's fields start, after its key.
inline const char* body_of(const char* record) {
  Reader in(record);
  in.string();
  return in.position();
}

/// A checkpoint record's second key: (namespace, name), which the last object of wins.
inline std::string_view name_key_of(const char* record) { return Reader(body_of(record)).string(); }

/// (namespace, kind, name): a target's key.
std::string target_key(std::uint64_t namespace_id, std::uint64_t kind_id, std::string_view name);

/// (namespace, name): a VPA's key, a checkpoint's second key.
std::string name_key(std::uint64_t namespace_id, std::string_view name);

/// (namespace, a, b): varint namespace id, str a, bytes b (a pod's group key, a checkpoint's
/// key), built where it is used, for lookups on the admission path.
class PairKey {
 public:
  PairKey(std::uint64_t namespace_id, std::string_view a, std::string_view b) {
    const std::size_t needed = 2 * kMaxVarint + a.size() + b.size();
    char* begin = buffer_.data();
    if (needed > buffer_.size()) {
      heap_.resize(needed);
      begin = heap_.data();
    }
    char* p = put_varint(begin, namespace_id);
    p = put_varint(p, a.size());
    if (!a.empty()) std::memcpy(p, a.data(), a.size());
    p += a.size();
    if (!b.empty()) std::memcpy(p, b.data(), b.size());
    p += b.size();
    view_ = std::string_view(begin, static_cast<std::size_t>(p - begin));
  }
  PairKey(const PairKey&) = delete;
  PairKey& operator=(const PairKey&) = delete;
  std::string_view view() const { return view_; }

 private:
  std::array<char, 256> buffer_;
  std::string heap_;
  std::string_view view_;
};

/// A PairKey that is kept.
std::string pair_key(std::uint64_t namespace_id, std::string_view a, std::string_view b);

/// A key made of several strings for the small interning maps (a (group, kind) pair), each
/// part prefixed with its fixed-width length.
class CompositeKey {
 public:
  CompositeKey(std::initializer_list<std::string_view> parts);
  CompositeKey(const CompositeKey&) = delete;
  CompositeKey& operator=(const CompositeKey&) = delete;

  std::string_view view() const { return view_; }
  std::string str() const { return std::string(view_); }

 private:
  std::array<char, 512> buffer_;
  std::string heap_;
  std::string_view view_;
};

/// The group of an apiVersion ("" for the core group's "v1").
std::string_view group_of(std::string_view api_version);

}  // namespace avw::core::packed
