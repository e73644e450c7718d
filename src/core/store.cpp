// The recommendation store (see store.hpp).
//
// Everything is resolved and sorted once, in build(), so that find_vpa() on the admission hot
// path is a hash lookup plus a short scan, and allocates nothing for ordinary label values.
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

// A VPA that may govern pods, with what ordering and matching need at hand.
struct Candidate {
  const Vpa* vpa = nullptr;
  const Selector* selector = nullptr;
  std::int64_t created = 0;  // seconds since the epoch
};

// The oldest VPA wins; the name breaks ties (timestamps have one-second resolution, and
// VPAs created by one `kubectl apply` share them).
bool older(const Candidate& a, const Candidate& b) {
  if (a.created != b.created) return a.created < b.created;
  return a.vpa->meta.name < b.vpa->meta.name;
}

// Keeps the last object for each key, at the position of the first (input order otherwise).
// `objects` is taken by value, so the input vector and the key map are freed on return rather
// than when build() ends: with 100k VPAs and targets that lowers the peak by tens of MB.
template <class T, class KeyOf>
std::vector<T> last_wins(std::vector<T> objects, KeyOf key_of) {
  std::vector<T> out;
  out.reserve(objects.size());
  StringMap<std::size_t> position;
  position.reserve(objects.size());
  for (auto& object : objects) {
    auto [it, inserted] = position.try_emplace(key_of(object), out.size());
    if (inserted) {
      out.push_back(std::move(object));
    } else {
      out[it->second] = std::move(object);
    }
  }
  return out;
}

std::string target_key(std::string_view namespace_, std::string_view group, std::string_view kind,
                       std::string_view name) {
  return CompositeKey{namespace_, group, kind, name}.str();
}

}  // namespace

struct Snapshot::Impl {
  std::string index_key_a;
  std::string index_key_b;

  std::vector<Vpa> vpas;
  std::vector<ScaleTarget> targets;
  std::vector<LimitRange> limit_ranges;
  std::vector<Checkpoint> checkpoints;
  bool has_checkpoints = false;

  std::vector<const ScaleTarget*> target_of_vpa;  // parallel to `vpas`
  StringMap<const ScaleTarget*> targets_by_key;   // (namespace, group, kind, name)
  StringMap<std::vector<Candidate>> indexed;      // (namespace, value a, value b), oldest first
  StringMap<std::vector<Candidate>> fallback;     // namespace, oldest first
  StringMap<std::vector<const LimitRange*>> limit_ranges_by_namespace;
  StringMap<const Checkpoint*> checkpoints_by_key;  // (namespace, VPA, container)
  std::vector<NamespaceInfo> namespaces;
  StringMap<LabelSet> namespace_annotations;         // views into `namespaces`

  const ScaleTarget* resolve(const Vpa& vpa) const {
    CompositeKey key{vpa.meta.namespace_, group_of(vpa.target_ref.api_version),
                     vpa.target_ref.kind, vpa.target_ref.name};
    auto it = targets_by_key.find(key.view());
    return it == targets_by_key.end() ? nullptr : it->second;
  }
};

Snapshot::Snapshot() : impl_(std::make_unique<Impl>()) {}
Snapshot::~Snapshot() = default;

std::shared_ptr<const Snapshot> Snapshot::empty() {
  return std::shared_ptr<const Snapshot>(new Snapshot());
}

std::shared_ptr<const Snapshot> Snapshot::build(DecodedObjects objects,
                                                const StoreOptions& options) {
  std::shared_ptr<Snapshot> snapshot(new Snapshot());
  Impl& impl = *snapshot->impl_;
  impl.index_key_a = options.index_key_a;
  impl.index_key_b = options.index_key_b;
  impl.has_checkpoints = options.checkpoints_authoritative || !objects.checkpoints.empty();

  // The vectors are final after this point: the maps below hold pointers into them.
  impl.vpas = last_wins(std::move(objects.vpas), [](const Vpa& v) {
    return CompositeKey{v.meta.namespace_, v.meta.name}.str();
  });
  // Targets of different kinds (or API groups) may share a name: they are different objects.
  impl.targets = last_wins(std::move(objects.targets), [](const ScaleTarget& t) {
    return target_key(t.meta.namespace_, group_of(t.api_version), t.kind, t.meta.name);
  });
  impl.limit_ranges = last_wins(std::move(objects.limit_ranges), [](const LimitRange& l) {
    return CompositeKey{l.meta.namespace_, l.meta.name}.str();
  });
  impl.checkpoints = last_wins(std::move(objects.checkpoints), [](const Checkpoint& c) {
    return CompositeKey{c.meta.namespace_, c.meta.name}.str();
  });

  impl.targets_by_key.reserve(impl.targets.size());
  for (const auto& target : impl.targets) {
    impl.targets_by_key.emplace(
        target_key(target.meta.namespace_, group_of(target.api_version), target.kind,
                   target.meta.name),
        &target);
  }

  impl.target_of_vpa.reserve(impl.vpas.size());
  impl.indexed.reserve(impl.vpas.size());
  for (const auto& vpa : impl.vpas) {
    const ScaleTarget* target = impl.resolve(vpa);
    impl.target_of_vpa.push_back(target);
    if (target == nullptr) continue;
    const auto& allowed = options.allowed_update_modes;
    if (std::find(allowed.begin(), allowed.end(), vpa.update_mode) == allowed.end()) continue;
    // An empty selector would match every pod of the namespace (the recommender refuses such
    // a target too); one that matches nothing can never govern a pod.
    const Selector& selector = target->selector;
    if (selector.empty() || selector.is_nothing()) continue;

    // A VPA whose creationTimestamp cannot be read sorts after every dated one
    // (ObjectMeta::kUnknownCreated): it should not win over VPAs whose age is known.
    Candidate candidate{&vpa, &selector, vpa.meta.created};
    auto a = selector.equality_value(options.index_key_a);
    auto b = selector.equality_value(options.index_key_b);
    if (a && b) {
      CompositeKey key{vpa.meta.namespace_, *a, *b};
      auto it = impl.indexed.find(key.view());
      if (it == impl.indexed.end()) it = impl.indexed.emplace(key.str(), std::vector<Candidate>{}).first;
      it->second.push_back(candidate);
    } else {
      auto it = impl.fallback.find(std::string_view(vpa.meta.namespace_));
      if (it == impl.fallback.end()) {
        it = impl.fallback.emplace(vpa.meta.namespace_, std::vector<Candidate>{}).first;
      }
      it->second.push_back(candidate);
    }
  }
  for (auto& [key, candidates] : impl.indexed) std::sort(candidates.begin(), candidates.end(), older);
  for (auto& [key, candidates] : impl.fallback) std::sort(candidates.begin(), candidates.end(), older);

  for (const auto& range : impl.limit_ranges) {
    impl.limit_ranges_by_namespace[range.meta.namespace_].push_back(&range);
  }

  impl.namespaces = std::move(objects.namespaces);
  for (const NamespaceInfo& ns : impl.namespaces) {
    LabelSet& annotations = impl.namespace_annotations[ns.meta.name];
    annotations = LabelSet();  // the last object of a name wins
    for (const auto& [key, value] : ns.annotations) annotations.set(key, value);
  }

  impl.checkpoints_by_key.reserve(impl.checkpoints.size());
  for (const auto& checkpoint : impl.checkpoints) {
    // Two checkpoints for the same (VPA, container) are not expected (the recommender names
    // them `<vpa>-<container>`); should it happen, the later one wins, as for names.
    impl.checkpoints_by_key.insert_or_assign(
        CompositeKey{checkpoint.meta.namespace_, checkpoint.vpa_name, checkpoint.container_name}
            .str(),
        &checkpoint);
  }
  return snapshot;
}

const Vpa* Snapshot::find_vpa(std::string_view namespace_, const LabelSet& labels) const {
  const Candidate* best = nullptr;

  auto a = labels.get(impl_->index_key_a);
  auto b = labels.get(impl_->index_key_b);
  if (a && b) {
    CompositeKey key{namespace_, *a, *b};
    if (auto it = impl_->indexed.find(key.view()); it != impl_->indexed.end()) {
      for (const auto& candidate : it->second) {
        if (candidate.selector->matches(labels)) {
          best = &candidate;
          break;
        }
      }
    }
  }

  if (auto it = impl_->fallback.find(namespace_); it != impl_->fallback.end()) {
    for (const auto& candidate : it->second) {
      // Sorted oldest first: once a candidate is not older than the indexed winner, no later
      // one can be either.
      if (best != nullptr && !older(candidate, *best)) break;
      if (candidate.selector->matches(labels)) {
        best = &candidate;
        break;
      }
    }
  }
  return best == nullptr ? nullptr : best->vpa;
}

const ScaleTarget* Snapshot::target_of(const Vpa& vpa) const {
  const auto& vpas = impl_->vpas;
  // A VPA of this snapshot has its target resolved already; any other is looked up.
  if (!vpas.empty() && std::greater_equal<const Vpa*>{}(&vpa, vpas.data()) &&
      std::less<const Vpa*>{}(&vpa, vpas.data() + vpas.size())) {
    return impl_->target_of_vpa[static_cast<std::size_t>(&vpa - vpas.data())];
  }
  return impl_->resolve(vpa);
}

const std::vector<const LimitRange*>& Snapshot::limit_ranges(std::string_view namespace_) const {
  static const std::vector<const LimitRange*> kNone;
  auto it = impl_->limit_ranges_by_namespace.find(namespace_);
  return it == impl_->limit_ranges_by_namespace.end() ? kNone : it->second;
}

const LabelSet* Snapshot::namespace_annotations(std::string_view namespace_) const {
  auto it = impl_->namespace_annotations.find(namespace_);
  return it == impl_->namespace_annotations.end() ? nullptr : &it->second;
}

const Checkpoint* Snapshot::checkpoint(std::string_view namespace_, std::string_view vpa_name,
                                       std::string_view container) const {
  CompositeKey key{namespace_, vpa_name, container};
  auto it = impl_->checkpoints_by_key.find(key.view());
  return it == impl_->checkpoints_by_key.end() ? nullptr : it->second;
}

bool Snapshot::has_checkpoints() const { return impl_->has_checkpoints; }

std::size_t Snapshot::vpa_count() const { return impl_->vpas.size(); }
std::size_t Snapshot::target_count() const { return impl_->targets.size(); }
std::size_t Snapshot::limit_range_count() const { return impl_->limit_ranges.size(); }
std::size_t Snapshot::checkpoint_count() const { return impl_->checkpoints.size(); }

}  // namespace avw::core
