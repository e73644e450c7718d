// The closed loop's memory floor (see oom_floor.hpp).
#include "avw/core/oom_floor.hpp"

#include <algorithm>

namespace avw::core {
namespace {

using Rounding = Quantity::Rounding;

OomKill* find_kill(std::vector<OomKill>& kills, std::string_view container) {
  auto it = std::find_if(kills.begin(), kills.end(), [container](const OomKill& k) { return k.container == container; });
  return it == kills.end() ? nullptr : &*it;
}

std::optional<Quantity> higher(const std::optional<Quantity>& a, const std::optional<Quantity>& b) {
  if (!a) return b;
  if (!b) return a;
  return std::max(*a, *b);
}

}  // namespace

Quantity oom_bumped(const Quantity& killed, const OomPolicy& policy) {
  const Quantity one = Quantity::from_units(1);
  const Quantity by_ratio =
      killed.scaled(policy.bump_ratio, one, kNanosPerUnit, Rounding::Up).value_or(killed);
  Int128 plus = 0;
  if (__builtin_add_overflow(killed.nanos(), policy.min_bump.nanos(), &plus)) plus = killed.nanos();
  const Quantity by_step = Quantity(plus, killed.format()).rounded_up(kNanosPerUnit);
  return std::max(by_ratio, by_step).with_format(Quantity::Format::BinarySI);
}

MemoryFloor memory_floor(const std::optional<Quantity>& killed_request, const std::optional<Quantity>& killed_limit,
                         const OomPolicy& policy) {
  MemoryFloor floor;
  // The API server defaults a missing request to the limit, so a killed pod has a request
  // whenever it had a limit; the limit alone is the request's best stand-in otherwise.
  if (const auto& base = killed_request ? killed_request : killed_limit) floor.request = oom_bumped(*base, policy);
  if (killed_limit) floor.limit = oom_bumped(*killed_limit, policy);
  return floor;
}

OomUpdate learn_from_pod_end(std::vector<OomKill> kills, const TaskPod& pod, std::string_view run_id,
                             std::int64_t try_number, const OomPolicy& policy,
                             const RecommendedMemory& recommended_memory, std::int64_t now) {
  OomUpdate update;
  bool any_kill = false;
  for (const TaskPodContainer& c : pod.containers) {
    const ContainerEnd* end = c.oom_kill();
    if (end == nullptr) continue;
    any_kill = true;
    const std::int64_t killed_at = end->finished_at.value_or(now);
    const std::optional<Quantity>& request = c.requests[Resource::Memory];
    const std::optional<Quantity>& limit = c.limits[Resource::Memory];
    if (!request && !limit) {
      update.unsized.push_back(c.name);
      continue;
    }
    OomKill* known = find_kill(kills, c.name);
    // Seen already (this replica before a restart, or another replica), or an older kill.
    if (known != nullptr && known->killed_at >= killed_at) {
      continue;
    }
    OomKill kill;
    kill.container = c.name;
    kill.memory_request = request;
    kill.memory_limit = limit;
    if (known != nullptr && known->active()) {
      // A pod admitted before the floor existed can die with less than the floor's basis;
      // the floor never goes down because of it.
      kill.memory_request = higher(known->memory_request, request);
      kill.memory_limit = higher(known->memory_limit, limit);
      kill.kills = known->kills + 1;
    }
    kill.killed_at = killed_at;
    kill.pod = pod.name;
    kill.run_id = std::string(run_id);
    kill.try_number = try_number;
    if (known != nullptr) {
      *known = std::move(kill);
    } else {
      kills.push_back(std::move(kill));
    }
    update.raised.push_back(c.name);
  }

  // A clean run: it completed, nothing in it was killed, and it was created after the kill
  // (so it was sized with the floor).
  if (!any_kill && pod.phase == PodPhase::Succeeded) {
    for (OomKill& k : kills) {
      if (!k.active() || pod.created <= k.killed_at) continue;
      // Counted once per run (two replicas, a relist), and no more than the rule needs; a
      // floor with enough clean runs may still end below, once the recommendation reaches it.
      const bool counted = std::find(k.clean_runs.begin(), k.clean_runs.end(), run_id) != k.clean_runs.end();
      if (!counted && static_cast<std::int64_t>(k.clean_runs.size()) < policy.clean_runs_to_lift) {
        k.clean_runs.emplace_back(run_id);
        update.counted_clean_run = true;
      }
      if (static_cast<std::int64_t>(k.clean_runs.size()) < policy.clean_runs_to_lift) continue;
      const MemoryFloor floor = memory_floor(k.memory_request, k.memory_limit, policy);
      const std::optional<Quantity> recommended = recommended_memory ? recommended_memory(k.container) : std::nullopt;
      if (floor.request && recommended && *recommended >= *floor.request) {
        k.lifted_at = now;
        update.lifted.push_back(k.container);
      }
    }
  }
  update.kills = std::move(kills);
  return update;
}

}  // namespace avw::core
