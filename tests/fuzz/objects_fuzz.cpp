// Fuzzes core::decode_objects (what the recommendations file and API list pages go through)
// and core::Snapshot::build, then queries the snapshot.
//
// Checked for every input:
//   - decode_objects throws nothing but DecodeError, and each skipped object leaves one line;
//   - the snapshot never holds more than was decoded;
//   - find_vpa() agrees with a brute-force search over the decoded VPAs (last object of a
//     namespace/name kept; update mode allowed; target present with a selector that is
//     neither empty nor `nothing` and matches; the oldest by creationTimestamp, then name,
//     with an unreadable timestamp sorting last), for pods labelled after each target's
//     selector and for an unlabelled pod;
//   - the winner's packed record gives back exactly what was decoded: name, creation time,
//     update mode, every recommendation value (with its format) and the policy of each
//     container;
//   - a snapshot built item by item while decoding in chunks (the file source's way) agrees;
//   - the other lookups (target_for_test, limit_ranges, checkpoint, namespace_annotations) answer;
//   - a target's packed OOM kills give back the first active kill decoded for each container
//     (memory request and limit with their formats, time, try), and none for a container
//     whose kills are all lifted.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "avw/core/decode_error.hpp"
#include "avw/core/object_list.hpp"
#include "avw/core/objects.hpp"
#include "avw/core/store.hpp"
#include "fuzz_support.hpp"

using namespace avw::core;
using avw::fuzz::fuzz_require;

namespace {

constexpr std::size_t kMaxQueries = 64;

std::int64_t created_of(const Vpa& vpa) { return vpa.meta.created; }

// The VPA that should govern a pod, found the slow way.
const Vpa* brute_force(const std::vector<const Vpa*>& vpas, const Snapshot& snapshot, const StoreOptions& options,
                       std::string_view namespace_, const LabelSet& labels) {
  const Vpa* best = nullptr;
  for (const Vpa* vpa : vpas) {
    if (vpa->meta.namespace_ != namespace_) continue;
    const auto& allowed = options.allowed_update_modes;
    if (std::find(allowed.begin(), allowed.end(), vpa->update_mode) == allowed.end()) continue;
    const TargetView target = snapshot.target_for_test(vpa->meta.namespace_, vpa->target_ref);
    if (target == nullptr) continue;
    const Selector selector = target->selector();
    if (selector.empty() || selector.is_nothing() || !selector.matches(labels)) continue;
    if (best == nullptr || std::make_tuple(created_of(*vpa), std::string_view(vpa->meta.name)) <
                               std::make_tuple(created_of(*best), std::string_view(best->meta.name))) {
      best = vpa;
    }
  }
  return best;
}

// Labels that satisfy the positive requirements of a selector (views into the selector).
LabelSet labels_for(const Selector& selector) {
  LabelSet labels;
  for (const Requirement& r : selector.requirements()) {
    switch (r.op) {
      case Requirement::Operator::Equals:
      case Requirement::Operator::In: labels.set(r.key, r.values.front()); break;
      case Requirement::Operator::Exists: labels.set(r.key, "x"); break;
      default: break;
    }
  }
  return labels;
}

// The packed record of `got` holds what `want` was decoded with.
void check_record(const VpaView& got, const Vpa& want) {
  const std::string name(got->name());
  fuzz_require(got->created() == want.meta.created && got->update_mode() == want.update_mode,
               "the packed VPA lost its creation time or update mode", name);
  fuzz_require(got->has_recommendations() == !want.recommendations.empty(), "has_recommendations() is wrong", name);
  auto same = [](const ResourceValues& a, const ResourceValues& b) {
    for (std::size_t r = 0; r < 2; ++r) {
      if (a.values[r].has_value() != b.values[r].has_value()) return false;
      if (a.values[r] && (*a.values[r] != *b.values[r] || a.values[r]->format() != b.values[r]->format())) return false;
    }
    return true;
  };
  for (const ContainerRecommendation& r : want.recommendations) {
    const auto packed = got->recommendation_for(r.container_name);
    const ContainerRecommendation* first = want.recommendation_for(r.container_name);
    fuzz_require(packed.has_value(), "recommendation_for lost a container", r.container_name);
    fuzz_require(same(packed->target, first->target) && same(packed->lower_bound, first->lower_bound) &&
                     same(packed->upper_bound, first->upper_bound) &&
                     same(packed->uncapped_target, first->uncapped_target),
                 "a packed recommendation changed a value", r.container_name);
  }
  for (const ContainerPolicy& p : want.container_policies) {
    const auto packed = got->policy_for(p.container_name);
    const ContainerPolicy* chosen = want.policy_for(p.container_name);
    fuzz_require(packed.has_value(), "policy_for lost a container", p.container_name);
    bool controls_same = true;
    for (Resource r : kResources) {
      const bool wanted = !chosen->controlled_resources ||
                          std::find(chosen->controlled_resources->begin(), chosen->controlled_resources->end(), r) !=
                              chosen->controlled_resources->end();
      controls_same = controls_same && packed->controls(r) == wanted;
    }
    fuzz_require(controls_same && packed->mode == chosen->mode && packed->controlled_values == chosen->controlled_values &&
                     same(packed->min_allowed, chosen->min_allowed) && same(packed->max_allowed, chosen->max_allowed),
                 "a packed policy changed", p.container_name);
  }
}

void check_find_vpa(const std::vector<const Vpa*>& vpas, const Snapshot& snapshot, const StoreOptions& options,
                    std::string_view namespace_, const LabelSet& labels) {
  const VpaView got = snapshot.find_vpa(namespace_, labels);
  const Vpa* want = brute_force(vpas, snapshot, options, namespace_, labels);
  if (got == nullptr && want == nullptr) return;
  fuzz_require(got != nullptr, "find_vpa missed the governing VPA", std::string(namespace_) + "/" + want->meta.name);
  const std::string got_name(got->name());
  fuzz_require(want != nullptr, "find_vpa found a VPA that governs nothing", std::string(namespace_) + "/" + got_name);
  fuzz_require(got->namespace_() == want->meta.namespace_ && got_name == want->meta.name,
               "find_vpa did not pick the oldest VPA", got_name + " instead of " + want->meta.name);
  const TargetView target = got->target();
  fuzz_require(target != nullptr && target->selector().matches(labels), "the winner's target does not select the pod",
               got_name);
  const TargetView resolved = snapshot.target_for_test(want->meta.namespace_, want->target_ref);
  fuzz_require(resolved && resolved->name() == target->name() && resolved->kind() == target->kind(),
               "the winner's own target is not the one its targetRef resolves to", got_name);
  check_record(got, *want);
}

}  // namespace

// The document pulled in chunks whose sizes (1 to 64 bytes) come from its own bytes, as the
// file source pulls a file: the same objects, errors and messages as decoded whole.
ChunkSource chunks_of(std::string_view text) {
  std::size_t pos = 0;
  return [text, pos]() mutable {
    const std::size_t want = pos < text.size() ? 1 + static_cast<unsigned char>(text[pos]) % 64 : 0;
    const std::string_view chunk = text.substr(pos, std::min(want, text.size() - pos));
    pos += chunk.size();
    return chunk;
  };
}

DecodedObjects decode_in_chunks(std::string_view text) { return decode_objects(chunks_of(text)); }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = avw::fuzz::as_view(data, size);
  DecodedObjects objects;
  try {
    objects = decode_objects(text);
  } catch (const DecodeError& e) {
    fuzz_require(std::string_view(e.what()).size() > 0, "DecodeError without a message");
    std::string chunked_error;
    try {
      decode_in_chunks(text);
    } catch (const DecodeError& chunked) {
      chunked_error = chunked.what();
    }
    fuzz_require(chunked_error == e.what(), "decoding in chunks fails differently", chunked_error);
    return 0;
  }
  fuzz_require(decode_in_chunks(text) == objects, "decoding in chunks gives other objects");
  for (const std::string& error : objects.errors) {
    fuzz_require(!error.empty() && error.find('\n') == std::string::npos, "an object error is not one line", error);
  }

  const DecodedObjects decoded = objects;  // build() consumes its argument
  const StoreOptions options;
  const auto snapshot = Snapshot::build(std::move(objects), options);
  fuzz_require(snapshot != nullptr, "build returned no snapshot");
  fuzz_require(snapshot->vpa_count() <= decoded.vpas.size() && snapshot->target_count() <= decoded.targets.size() &&
                   snapshot->limit_range_count() <= decoded.limit_ranges.size() &&
                   snapshot->checkpoint_count() <= decoded.checkpoints.size(),
               "the snapshot holds more objects than were decoded");
  fuzz_require(snapshot->has_checkpoints() == !decoded.checkpoints.empty(), "has_checkpoints() is wrong");

  // The file source's way: each streamed item packed as it is decoded.
  SnapshotBuilder builder(options);
  DecodedObjects rest = decode_objects(chunks_of(text), [&builder](DecodedObjects& item) { builder.add(item); });
  fuzz_require(rest.errors == decoded.errors, "decoding into a builder reports other errors");
  builder.add(rest);
  const auto streamed_snapshot = builder.finish();
  fuzz_require(streamed_snapshot->vpa_count() == snapshot->vpa_count() &&
                   streamed_snapshot->target_count() == snapshot->target_count() &&
                   streamed_snapshot->limit_range_count() == snapshot->limit_range_count() &&
                   streamed_snapshot->checkpoint_count() == snapshot->checkpoint_count(),
               "the snapshot built while decoding in chunks holds other objects");

  // The last VPA of each namespace/name is the one the snapshot keeps.
  std::map<std::pair<std::string_view, std::string_view>, const Vpa*> last;
  for (const Vpa& vpa : decoded.vpas) last[{vpa.meta.namespace_, vpa.meta.name}] = &vpa;
  std::vector<const Vpa*> kept;
  kept.reserve(last.size());
  for (const auto& [key, vpa] : last) kept.push_back(vpa);

  // The last target of each namespace/kind/name, and its OOM kills as the oom gate reads them.
  std::map<std::tuple<std::string_view, std::string_view, std::string_view>, const ScaleTarget*> targets;
  for (const ScaleTarget& t : decoded.targets) targets[{t.meta.namespace_, t.kind, t.meta.name}] = &t;
  std::size_t kill_queries = 0;
  for (const auto& [key, t] : targets) {
    const TargetView view = snapshot->target_for_test(t->meta.namespace_, TargetRef{t->api_version, t->kind, t->meta.name});
    // Two targets of one name whose apiVersions differ only in version are one target.
    if (view == nullptr || view->name() != t->meta.name) continue;
    for (const OomKill& kill : t->oom_kills) {
      if (kill_queries++ == kMaxQueries) break;
      const OomKill* first_active = nullptr;
      for (const OomKill& k : t->oom_kills) {
        if (k.container == kill.container && k.active()) {
          first_active = &k;
          break;
        }
      }
      const auto packed = view->oom_kill(kill.container);
      fuzz_require(packed.has_value() == (first_active != nullptr), "oom_kill() lost or invented a kill", kill.container);
      if (!packed) continue;
      auto same = [](const std::optional<Quantity>& a, const std::optional<Quantity>& b) {
        return a.has_value() == b.has_value() && (!a || (*a == *b && a->format() == b->format()));
      };
      fuzz_require(same(packed->memory_request, first_active->memory_request) &&
                       same(packed->memory_limit, first_active->memory_limit) &&
                       packed->killed_at == first_active->killed_at &&
                       packed->try_number == std::max<std::int64_t>(0, first_active->try_number),
                   "a packed OOM kill changed", kill.container);
    }
  }

  std::size_t queries = 0;
  for (const Vpa* vpa : kept) {
    if (queries++ == kMaxQueries) break;
    check_find_vpa(kept, *snapshot, options, vpa->meta.namespace_, LabelSet{});
    if (const TargetView target = snapshot->target_for_test(vpa->meta.namespace_, vpa->target_ref)) {
      const Selector selector = target->selector();
      check_find_vpa(kept, *snapshot, options, vpa->meta.namespace_, labels_for(selector));
      const VpaView streamed = streamed_snapshot->find_vpa(vpa->meta.namespace_, labels_for(selector));
      const VpaView whole = snapshot->find_vpa(vpa->meta.namespace_, labels_for(selector));
      fuzz_require((streamed == nullptr) == (whole == nullptr) &&
                       (whole == nullptr || (streamed->name() == whole->name() && streamed->created() == whole->created())),
                   "the snapshot built while decoding in chunks governs otherwise", vpa->meta.name);
    }
    for (const ContainerRecommendation& r : vpa->recommendations) {
      (void)snapshot->checkpoint(vpa->meta.namespace_, vpa->meta.name, r.container_name);
    }
  }
  for (const LimitRange& range : decoded.limit_ranges) {
    const auto& ranges = snapshot->limit_ranges(range.meta.namespace_);
    fuzz_require(!ranges.empty(), "a namespace's LimitRange is missing", range.meta.namespace_);
  }
  // Checkpoints too: the last of a namespace/name replaces the others at the position of the
  // first; of those, the last for a (namespace, VPA, container) is the one found, with the
  // history it was decoded with.
  using NameKey = std::pair<std::string_view, std::string_view>;
  std::map<NameKey, std::pair<std::size_t, const Checkpoint*>> by_name;  // first position, last object
  for (std::size_t i = 0; i < decoded.checkpoints.size(); ++i) {
    const Checkpoint& c = decoded.checkpoints[i];
    auto [it, inserted] = by_name.try_emplace({c.meta.namespace_, c.meta.name}, i, &c);
    if (!inserted) it->second.second = &c;
  }
  using LookupKey = std::tuple<std::string_view, std::string_view, std::string_view>;
  std::map<LookupKey, std::pair<std::size_t, const Checkpoint*>> winners;
  for (const auto& [name, kept] : by_name) {
    const Checkpoint* c = kept.second;
    auto& winner = winners[{c->meta.namespace_, c->vpa_name, c->container_name}];
    if (winner.second == nullptr || kept.first > winner.first) winner = kept;
  }
  for (const auto& [key, winner] : winners) {
    const Checkpoint& c = *winner.second;
    const auto got = snapshot->checkpoint(c.meta.namespace_, c.vpa_name, c.container_name);
    fuzz_require(got.has_value(), "a checkpoint is missing", c.meta.name);
    const bool same = got->first_sample_start == parse_rfc3339(c.first_sample_start) &&
                      got->last_sample_start == parse_rfc3339(c.last_sample_start) &&
                      got->total_samples_count == c.total_samples_count &&
                      got->has_memory_samples == c.has_memory_samples;
    fuzz_require(same, "a packed checkpoint changed its history", c.meta.name);
  }
  for (const NamespaceInfo& ns : decoded.namespaces) {
    fuzz_require(snapshot->namespace_annotations(ns.meta.name) != nullptr, "a namespace is missing", ns.meta.name);
  }
  return 0;
}
