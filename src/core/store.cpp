// The recommendation store (see store.hpp).
//
// VPAs and scale targets are packed, as they are added, into records in one arena (the byte
// format is packed.hpp's): a record starts with its key (length-prefixed bytes), so the open
// addressing tables below hold one pointer per slot and read keys from the records. Namespace
// names and (group, kind) pairs repeat across thousands of objects and are interned to small
// ids. Everything is resolved and sorted once, in finish(), so that find_vpa() on the
// admission hot path is a hash lookup plus a short scan, and allocates nothing for ordinary
// label values.
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
#include "avw/core/store.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <unordered_map>
#include <utility>

#include "packed.hpp"

namespace avw::core {

namespace {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// Keyed by std::string, looked up by std::string_view without building a string.
template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// A composite key made of several strings. Each part is prefixed with its length, so no choice
// of part contents (a label value may hold any byte once JSON-decoded) can make two different
// tuples collide. Lookups build it in a stack buffer; input too long for the buffer (label
// values are at most 63 characters when valid, but the pod's labels are not validated yet when
// we see them) falls back to a heap string rather than being truncated or refused.
class CompositeKey {
 public:
  CompositeKey(std::initializer_list<std::string_view> parts) {
    std::size_t needed = 0;
    for (auto part : parts) needed += sizeof(std::uint64_t) + part.size();
    char* out = buffer_.data();
    if (needed > buffer_.size()) {
      heap_.resize(needed);
      out = heap_.data();
    }
    char* p = out;
    for (auto part : parts) {
      const std::uint64_t size = part.size();
      std::memcpy(p, &size, sizeof size);
      p += sizeof size;
      if (!part.empty()) std::memcpy(p, part.data(), part.size());
      p += part.size();
    }
    view_ = std::string_view(out, needed);
  }
  CompositeKey(const CompositeKey&) = delete;
  CompositeKey& operator=(const CompositeKey&) = delete;

  std::string_view view() const { return view_; }
  std::string str() const { return std::string(view_); }

 private:
  std::array<char, 512> buffer_;
  std::string heap_;
  std::string_view view_;
};

std::string_view group_of(std::string_view api_version) {
  auto slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string_view{} : api_version.substr(0, slash);
}

// Records are written once and never move: blocks are allocated as needed and kept.
class Arena {
 public:
  const char* store(std::string_view bytes) {
    if (bytes.size() > kBlock / 4) {
      blocks_.push_back(std::make_unique<char[]>(bytes.size()));
      reserved_ += bytes.size();
      std::memcpy(blocks_.back().get(), bytes.data(), bytes.size());
      return blocks_.back().get();
    }
    if (free_ < bytes.size()) {
      blocks_.push_back(std::make_unique<char[]>(kBlock));
      reserved_ += kBlock;
      next_ = blocks_.back().get();
      free_ = kBlock;
    }
    char* out = next_;
    std::memcpy(out, bytes.data(), bytes.size());
    next_ += bytes.size();
    free_ -= bytes.size();
    return out;
  }
  std::size_t reserved() const { return reserved_; }

 private:
  static constexpr std::size_t kBlock = 256 * 1024;
  std::vector<std::unique_ptr<char[]>> blocks_;
  char* next_ = nullptr;
  std::size_t free_ = 0;
  std::size_t reserved_ = 0;
};

std::string_view key_of(const char* record) { return packed::Reader(record).string(); }

// What follows `in` in the key `k`.
std::string_view rest_of_key(std::string_view k, const packed::Reader& in) {
  return k.substr(static_cast<std::size_t>(in.position() - k.data()));
}

// After the key.
const char* body_of(const char* record) {
  packed::Reader in(record);
  in.string();
  return in.position();
}

// A checkpoint record's second key: (namespace, name), which the last object of wins.
std::string_view name_key_of(const char* record) { return packed::Reader(body_of(record)).string(); }

// An open addressing table of records, keyed by a key each record holds (KeyOf).
template <std::string_view (*KeyOf)(const char*) = key_of>
class RecordTable {
 public:
  const char* find(std::string_view key) const {
    if (slots_.empty()) return nullptr;
    for (std::size_t i = hash(key) & mask();; i = (i + 1) & mask()) {
      const char* r = slots_[i];
      if (r == nullptr) return nullptr;
      if (KeyOf(r) == key) return r;
    }
  }
  /// Inserts or replaces; returns the record replaced, or nullptr.
  const char* put(const char* record) {
    if ((size_ + 1) * 4 > slots_.size() * 3) grow();
    const std::string_view key = KeyOf(record);
    for (std::size_t i = hash(key) & mask();; i = (i + 1) & mask()) {
      const char*& slot = slots_[i];
      if (slot == nullptr) {
        slot = record;
        ++size_;
        return nullptr;
      }
      if (KeyOf(slot) == key) return std::exchange(slot, record);
    }
  }
  template <class F>
  void for_each(F f) const {
    for (const char* r : slots_) {
      if (r != nullptr) f(r);
    }
  }
  std::size_t size() const { return size_; }
  std::size_t bytes() const { return slots_.capacity() * sizeof(const char*); }

 private:
  static std::size_t hash(std::string_view key) { return std::hash<std::string_view>{}(key); }
  std::size_t mask() const { return slots_.size() - 1; }
  void grow() {
    std::vector<const char*> old = std::move(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, nullptr);
    size_ = 0;
    for (const char* r : old) {
      if (r != nullptr) put(r);
    }
  }

  std::vector<const char*> slots_;
  std::size_t size_ = 0;
};

// A VPA that may govern pods, with what ordering and matching need at hand.
struct Candidate {
  const char* vpa = nullptr;     // record
  const char* target = nullptr;  // record
  std::int64_t created = 0;      // seconds since the epoch
};

// Fields of a VPA record, parsed.
struct VpaHeader {
  std::uint64_t namespace_id = 0;
  std::string_view name;
  std::int64_t created = 0;
  UpdateMode update_mode = UpdateMode::Auto;
  std::uint64_t target_kind = 0;
  std::string_view target_name;
  const char* recommendations = nullptr;  // varint n, then the entries
};

VpaHeader parse_vpa(const char* record) {
  VpaHeader h;
  packed::Reader key(record);
  const std::string_view k = key.string();
  packed::Reader in_key(k.data());
  h.namespace_id = static_cast<std::uint64_t>(in_key.varint());
  h.name = rest_of_key(k, in_key);
  packed::Reader in(key.position());
  h.created = in.i64();
  h.update_mode = static_cast<UpdateMode>(in.u8());
  h.target_kind = static_cast<std::uint64_t>(in.varint());
  h.target_name = in.string();
  h.recommendations = in.position();
  return h;
}

// The oldest VPA wins; the name breaks ties (timestamps have one-second resolution, and
// VPAs created by one `kubectl apply` share them).
bool older(const Candidate& a, const Candidate& b) {
  if (a.created != b.created) return a.created < b.created;
  return parse_vpa(a.vpa).name < parse_vpa(b.vpa).name;
}

// Selector requirements, packed. Same semantics as Requirement::matches.
const char* selector_of_target(const char* record, std::string_view* a = nullptr, std::string_view* b = nullptr,
                               std::uint8_t* flags_out = nullptr) {
  packed::Reader in(body_of(record));
  const std::uint8_t flags = in.u8();
  if (flags_out != nullptr) *flags_out = flags;
  if ((flags & 2U) != 0) {
    const std::string_view va = in.string();
    const std::string_view vb = in.string();
    if (a != nullptr) *a = va;
    if (b != nullptr) *b = vb;
  }
  return in.position();
}

constexpr std::uint8_t kNothing = 1;
constexpr std::uint8_t kIndexed = 2;

bool selector_matches(const char* selector, const LabelSet& labels) {
  packed::Reader in(selector);
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

// Keeps the last object for each key, at the position of the first (input order otherwise).
template <class T, class KeyOf>
std::vector<T> last_wins(std::vector<T> objects, KeyOf key_of_object) {
  std::vector<T> out;
  out.reserve(objects.size());
  StringMap<std::size_t> position;
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

struct SnapshotData {
  std::string index_key_a;
  std::string index_key_b;

  Arena arena;
  std::vector<std::string> namespace_names;  // by id
  StringMap<std::uint32_t> namespace_ids;
  std::vector<std::pair<std::string, std::string>> kinds;  // (group, kind) by id
  StringMap<std::uint32_t> kind_ids;                        // CompositeKey{group, kind}

  std::size_t vpa_count = 0;
  RecordTable<> targets;
  RecordTable<> groups;                    // (namespace, value a, value b) -> a run of `candidates`
  std::vector<Candidate> candidates;     // indexed ones by group, oldest first in each
  std::vector<Candidate> fallback;       // by namespace id, oldest first in each
  std::vector<std::pair<std::uint32_t, std::uint32_t>> fallback_runs;  // by namespace id: first, count

  std::vector<LimitRange> limit_ranges;
  RecordTable<> checkpoints;  // by (namespace, VPA, container)
  std::size_t checkpoint_count = 0;
  bool has_checkpoints = false;
  StringMap<std::vector<const LimitRange*>> limit_ranges_by_namespace;
  std::vector<NamespaceInfo> namespaces;
  StringMap<LabelSet> namespace_annotations;  // views into `namespaces`
  StringMap<LabelSet> namespace_labels;       // the same

  std::optional<std::uint32_t> namespace_id(std::string_view name) const {
    auto it = namespace_ids.find(name);
    if (it == namespace_ids.end()) return std::nullopt;
    return it->second;
  }
  std::optional<std::uint32_t> kind_id(std::string_view group, std::string_view kind) const {
    auto it = kind_ids.find(CompositeKey{group, kind}.view());
    if (it == kind_ids.end()) return std::nullopt;
    return it->second;
  }
};

// ---- views ---------------------------------------------------------------------------------

std::string_view VpaView::namespace_() const { return data_->namespace_names[parse_vpa(record_).namespace_id]; }
std::string_view VpaView::name() const { return parse_vpa(record_).name; }
std::int64_t VpaView::created() const { return parse_vpa(record_).created; }
UpdateMode VpaView::update_mode() const { return parse_vpa(record_).update_mode; }

bool VpaView::has_recommendations() const {
  return packed::Reader(parse_vpa(record_).recommendations).size() != 0;
}

std::optional<RecommendedResources> VpaView::recommendation_for(std::string_view container) const {
  packed::Reader in(parse_vpa(record_).recommendations);
  for (std::size_t n = in.size(); n > 0; --n) {
    const std::size_t size = in.size();
    packed::Reader entry(in.position());
    in.skip(size);
    if (entry.string() != container) continue;
    RecommendedResources out;
    entry.values<4>({&out.target, &out.lower_bound, &out.upper_bound, &out.uncapped_target});
    return out;
  }
  return std::nullopt;
}

std::optional<ResourcePolicy> VpaView::policy_for(std::string_view container) const {
  packed::Reader in(parse_vpa(record_).recommendations);
  for (std::size_t n = in.size(); n > 0; --n) in.skip(in.size());
  const char* wildcard = nullptr;
  const char* exact = nullptr;
  for (std::size_t n = in.size(); n > 0 && exact == nullptr; --n) {
    const std::size_t size = in.size();
    const char* entry = in.position();
    in.skip(size);
    const std::string_view name = packed::Reader(entry).string();
    if (name == container) exact = entry;
    if (wildcard == nullptr && name == "*") wildcard = entry;
  }
  const char* chosen = exact != nullptr ? exact : wildcard;
  if (chosen == nullptr) return std::nullopt;
  packed::Reader entry(chosen);
  entry.string();
  ResourcePolicy out;
  out.mode = static_cast<ContainerScalingMode>(entry.u8());
  const std::uint8_t controlled = entry.u8();
  out.controlled = {(controlled & 1U) != 0, (controlled & 2U) != 0};
  out.controlled_values = static_cast<ControlledValues>(entry.u8());
  entry.values<2>({&out.min_allowed, &out.max_allowed});
  return out;
}

namespace {

struct TargetKey {
  std::uint64_t namespace_id = 0;
  std::uint64_t kind_id = 0;
  std::string_view name;
};

TargetKey parse_target_key(const char* record) {
  const std::string_view k = key_of(record);
  packed::Reader in(k.data());
  TargetKey out;
  out.namespace_id = static_cast<std::uint64_t>(in.varint());
  out.kind_id = static_cast<std::uint64_t>(in.varint());
  out.name = rest_of_key(k, in);
  return out;
}

std::string target_key(std::uint64_t namespace_id, std::uint64_t kind_id, std::string_view name) {
  std::string key;
  packed::Writer out(key);
  out.varint(namespace_id);
  out.varint(kind_id);
  key.append(name);
  return key;
}

// (namespace, name): a VPA's key, a checkpoint's second key.
std::string name_key(std::uint64_t namespace_id, std::string_view name) {
  std::string key;
  packed::Writer(key).varint(namespace_id);
  key.append(name);
  return key;
}

// A (namespace, a, b) key: varint namespace id, str a, bytes b (a pod's group key, a
// checkpoint's key). Built in a stack buffer for lookups on the admission path: label values
// are at most 63 characters when valid, but the pod's labels are not validated yet when we see
// them, so longer input falls back to a heap string rather than being truncated or refused.
class PairKey {
 public:
  PairKey(std::uint64_t namespace_id, std::string_view a, std::string_view b) {
    const std::size_t needed = 2 * packed::kMaxVarint + a.size() + b.size();
    char* begin = buffer_.data();
    if (needed > buffer_.size()) {
      heap_.resize(needed);
      begin = heap_.data();
    }
    char* p = packed::put_varint(begin, namespace_id);
    p = packed::put_varint(p, a.size());
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

std::string pair_key(std::uint64_t namespace_id, std::string_view a, std::string_view b) {
  return std::string(PairKey(namespace_id, a, b).view());
}

}  // namespace

std::string_view TargetView::namespace_() const {
  return data_->namespace_names[parse_target_key(record_).namespace_id];
}
std::string_view TargetView::name() const { return parse_target_key(record_).name; }
std::string_view TargetView::kind() const { return data_->kinds[parse_target_key(record_).kind_id].second; }
std::string_view TargetView::group() const { return data_->kinds[parse_target_key(record_).kind_id].first; }

Selector TargetView::selector() const {
  std::uint8_t flags = 0;
  packed::Reader in(selector_of_target(record_, nullptr, nullptr, &flags));
  if ((flags & kNothing) != 0) return Selector::nothing();
  std::vector<Requirement> requirements;
  for (std::size_t n = in.size(); n > 0; --n) {
    Requirement r;
    r.op = static_cast<Requirement::Operator>(in.u8());
    r.key = in.string();
    for (std::size_t m = in.size(); m > 0; --m) r.values.emplace_back(in.string());
    requirements.push_back(std::move(r));
  }
  return Selector(std::move(requirements));
}

namespace {

// The OOM kills that follow a target's selector in its record.
packed::Reader oom_kills_of(const char* record) {
  packed::Reader in(selector_of_target(record));
  for (std::size_t n = in.size(); n > 0; --n) {
    in.u8();
    in.string();
    for (std::size_t m = in.size(); m > 0; --m) in.string();
  }
  return in;
}

}  // namespace

std::optional<OomKillSummary> TargetView::oom_kill(std::string_view container) const {
  packed::Reader in = oom_kills_of(record_);
  for (std::size_t n = in.size(); n > 0; --n) {
    const std::string_view name = in.string();
    ResourceValues request;
    ResourceValues limit;
    in.values<2>({&request, &limit});
    OomKillSummary out;
    out.killed_at = in.i64();
    out.try_number = static_cast<std::int64_t>(static_cast<std::uint64_t>(in.varint()));
    if (name != container) continue;
    out.memory_request = request[Resource::Memory];
    out.memory_limit = limit[Resource::Memory];
    return out;
  }
  return std::nullopt;
}

bool TargetView::has_oom_kills() const { return oom_kills_of(record_).size() != 0; }

TargetView VpaView::target() const { return target_ == nullptr ? TargetView() : TargetView(data_, target_); }

// ---- builder -------------------------------------------------------------------------------

struct SnapshotBuilder::State {
  StoreOptions options;
  RecordTable<> vpas;  // by (namespace, name): the last one added wins
  RecordTable<name_key_of> checkpoints;  // by (namespace, name): the last one added wins
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

std::uint32_t intern_namespace(SnapshotData& data, std::string_view name) {
  auto it = data.namespace_ids.find(name);
  if (it != data.namespace_ids.end()) return it->second;
  const auto id = static_cast<std::uint32_t>(data.namespace_names.size());
  data.namespace_names.emplace_back(name);
  data.namespace_ids.emplace(std::string(name), id);
  return id;
}

std::uint32_t intern_kind(SnapshotData& data, std::string_view group, std::string_view kind) {
  const CompositeKey key{group, kind};
  auto it = data.kind_ids.find(key.view());
  if (it != data.kind_ids.end()) return it->second;
  const auto id = static_cast<std::uint32_t>(data.kinds.size());
  data.kinds.emplace_back(std::string(group), std::string(kind));
  data.kind_ids.emplace(key.str(), id);
  return id;
}

// Appends `entry` as a sized entry of a record.
void put_entry(std::string& record, const std::string& entry) {
  packed::Writer(record).varint(entry.size());
  record.append(entry);
}

}  // namespace

namespace {

constexpr std::int64_t kNoTime = std::numeric_limits<std::int64_t>::min();

// Where a checkpoint record's sequence number is, and the fields after it.
char* sequence_of(const char* record) {
  packed::Reader in(body_of(record));
  in.string();
  return const_cast<char*>(in.position());  // records are written by the builder only
}

}  // namespace

// ---- packed objects ------------------------------------------------------------------------
//
// Layouts (the tails are copied into the snapshot's records as they are):
//   VPA         u8 kind, str namespace, str name, i64 created, u8 update mode,
//               str target apiVersion, str target kind, str target name, tail: the VPA record's
//   target      u8 kind, str namespace, str name, str group, str kind, tail: u8 nothing, selector,
//               OOM kills
//   checkpoint  u8 kind, str namespace, str name, str VPA, str container,
//               tail: i64 first sample, i64 last sample, varint total samples, u8 memory samples

namespace {

void write_header(packed::Writer& out, PackedObject::Kind kind, const ObjectMeta& meta) {
  out.u8(static_cast<std::uint8_t>(kind));
  out.string(meta.namespace_);
  out.string(meta.name);
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
  out.string(group_of(target.api_version));
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
  out.i64(parse_rfc3339(checkpoint.first_sample_start).value_or(kNoTime));
  out.i64(parse_rfc3339(checkpoint.last_sample_start).value_or(kNoTime));
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

}  // namespace

void SnapshotBuilder::add(const Vpa& vpa) { add(PackedObject::pack(vpa)); }
void SnapshotBuilder::add(const ScaleTarget& target) { add(PackedObject::pack(target)); }
void SnapshotBuilder::add(const Checkpoint& checkpoint) { add(PackedObject::pack(checkpoint)); }

void SnapshotBuilder::add(const PackedObject& object) {
  SnapshotData& data = *snapshot_->data_;
  State& s = *state_;
  packed::Reader in(object.bytes_.data() + 1);
  const std::uint32_t ns = intern_namespace(data, in.string());
  const std::string_view name = in.string();
  s.scratch.clear();
  packed::Writer out(s.scratch);
  switch (object.kind()) {
    case PackedObject::Kind::Vpa: {
      out.string(name_key(ns, name));
      out.i64(in.i64());
      out.u8(in.u8());
      const std::string_view api_version = in.string();
      const std::string_view kind = in.string();
      out.varint(intern_kind(data, group_of(api_version), kind));
      out.string(in.string());
      break;
    }
    case PackedObject::Kind::Target: {
      const std::string_view group = in.string();
      const std::string_view kind = in.string();
      out.string(target_key(ns, intern_kind(data, group, kind), name));
      const bool nothing = in.u8() != 0;
      const char* selector = in.position();
      const auto a = nothing ? std::nullopt : equality_value_in(selector, s.options.index_key_a);
      const auto b = nothing ? std::nullopt : equality_value_in(selector, s.options.index_key_b);
      out.u8(static_cast<std::uint8_t>((nothing ? kNothing : 0) | (a && b ? kIndexed : 0)));
      if (a && b) {
        out.string(*a);
        out.string(*b);
      }
      break;
    }
    case PackedObject::Kind::Checkpoint: {
      const std::string_view vpa_name = in.string();
      const std::string_view container = in.string();
      out.string(pair_key(ns, vpa_name, container));
      out.string(name_key(ns, name));
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
        std::memcpy(sequence_of(record), sequence_of(replaced), sizeof(std::uint32_t));
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
    const char* target = data.targets.find(target_key(h.namespace_id, h.target_kind, h.target_name));
    if (target == nullptr) return;
    std::uint8_t flags = 0;
    packed::Reader selector(selector_of_target(target, nullptr, nullptr, &flags));
    // An empty selector would match every pod of the namespace (the recommender refuses such
    // a target too); one that matches nothing can never govern a pod.
    if ((flags & kNothing) != 0 || selector.size() == 0) return;
    // A VPA whose creationTimestamp cannot be read sorts after every dated one
    // (ObjectMeta::kUnknownCreated): it should not win over VPAs whose age is known.
    ((flags & kIndexed) != 0 ? indexed : fallback).push_back({record, target, h.created});
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
    selector_of_target(c.target, &g.a, &g.b);
    return g;
  };
  std::sort(indexed.begin(), indexed.end(), [&](const Candidate& x, const Candidate& y) {
    const GroupOf gx = group_of_candidate(x);
    const GroupOf gy = group_of_candidate(y);
    if (gx != gy) return gx < gy;
    return older(x, y);
  });
  data.candidates = std::move(indexed);
  std::string group;
  for (std::size_t i = 0; i < data.candidates.size();) {
    const GroupOf g = group_of_candidate(data.candidates[i]);
    std::size_t j = i + 1;
    while (j < data.candidates.size() && group_of_candidate(data.candidates[j]) == g) ++j;
    group.clear();
    packed::Writer(group).string(pair_key(g.namespace_id, g.a, g.b));
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
    return older(x, y);
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
    return CompositeKey{l.meta.namespace_, l.meta.name}.str();
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
    std::memcpy(&sequence, sequence_of(record), sizeof sequence);
    checkpoints.emplace_back(sequence, record);
  });
  std::sort(checkpoints.begin(), checkpoints.end());
  for (const auto& [sequence, record] : checkpoints) data.checkpoints.put(record);
  state_.reset();
  return std::shared_ptr<const Snapshot>(snapshot_.release());
}

// ---- snapshot ------------------------------------------------------------------------------

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
    const PairKey key(*ns, *a, *b);
    if (const char* group = d.groups.find(key.view())) {
      const char* run = body_of(group);
      std::uint32_t first = 0;
      std::uint32_t count = 0;
      std::memcpy(&first, run, sizeof first);
      std::memcpy(&count, run + sizeof first, sizeof count);
      for (std::uint32_t i = first; i < first + count; ++i) {
        const Candidate& candidate = d.candidates[i];
        if (selector_matches(selector_of_target(candidate.target), labels)) {
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
      if (best != nullptr && !older(candidate, *best)) break;
      if (selector_matches(selector_of_target(candidate.target), labels)) {
        best = &candidate;
        break;
      }
    }
  }
  return best == nullptr ? VpaView() : VpaView(data_.get(), best->vpa, best->target);
}

TargetView Snapshot::target_of(const VpaView& vpa) const {
  if (!vpa) return nullptr;
  const VpaHeader h = parse_vpa(vpa.record_);
  const char* target = data_->targets.find(target_key(h.namespace_id, h.target_kind, h.target_name));
  return target == nullptr ? TargetView() : TargetView(data_.get(), target);
}

TargetView Snapshot::target_of(std::string_view namespace_, const TargetRef& ref) const {
  const auto ns = data_->namespace_id(namespace_);
  const auto kind = data_->kind_id(group_of(ref.api_version), ref.kind);
  if (!ns || !kind) return nullptr;
  const char* target = data_->targets.find(target_key(*ns, *kind, ref.name));
  return target == nullptr ? TargetView() : TargetView(data_.get(), target);
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
  const PairKey key(*ns, vpa_name, container);
  const char* record = data_->checkpoints.find(key.view());
  if (record == nullptr) return std::nullopt;
  packed::Reader in(sequence_of(record));
  in.skip(sizeof(std::uint32_t));
  CheckpointSummary out;
  if (const std::int64_t first = in.i64(); first != kNoTime) out.first_sample_start = first;
  if (const std::int64_t last = in.i64(); last != kNoTime) out.last_sample_start = last;
  out.total_samples_count = static_cast<std::int64_t>(static_cast<std::uint64_t>(in.varint()));
  out.has_memory_samples = in.u8() != 0;
  return out;
}

bool Snapshot::has_checkpoints() const { return data_->has_checkpoints; }

std::size_t Snapshot::vpa_count() const { return data_->vpa_count; }
std::size_t Snapshot::target_count() const { return data_->targets.size(); }
std::size_t Snapshot::limit_range_count() const { return data_->limit_ranges.size(); }
std::size_t Snapshot::checkpoint_count() const { return data_->checkpoint_count; }

std::size_t Snapshot::packed_bytes() const {
  const SnapshotData& d = *data_;
  return d.arena.reserved() + d.targets.bytes() + d.groups.bytes() + d.checkpoints.bytes() +
         (d.candidates.capacity() + d.fallback.capacity()) * sizeof(Candidate);
}

}  // namespace avw::core
