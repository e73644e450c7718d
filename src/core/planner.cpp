#include "avw/core/planner.hpp"

#include <algorithm>
#include <array>

namespace avw::core {
namespace {

using Format = Quantity::Format;

/// Memory is written in binary units when exact (`600Mi`, else bytes), cpu in SI (`250m`).
Quantity in_output_format(const Quantity& q, Resource r) {
  return q.with_format(r == Resource::Memory ? Format::BinarySI : Format::DecimalSI);
}

using Rounding = Quantity::Rounding;

/// value * numerator / denominator in whole steps of the resource, in its output format.
std::optional<Quantity> scale_by(const Quantity& value, const Quantity& numerator,
                                 const Quantity& denominator, Resource r, Rounding rounding) {
  auto q = value.scaled(numerator, denominator, rounding_step(r), rounding);
  if (!q || q->is_negative()) return std::nullopt;
  return in_output_format(*q, r);
}

/// limit <= request * ratio, where ratio is a plain number (maxLimitRequestRatio).
bool within_ratio(const Quantity& request, const Quantity& limit, const Quantity& ratio) {
  const auto most = request.scaled(ratio, Quantity::from_units(1), 1, Rounding::Down);
  return !most || limit <= *most;  // beyond Int128, any limit fits
}

/// The smallest request that keeps limit / request <= ratio (a plain number), in whole steps.
std::optional<Quantity> min_request_for_ratio(const Quantity& limit, const Quantity& ratio, Resource r) {
  if (ratio.nanos() <= 0) return std::nullopt;
  return scale_by(limit, Quantity::from_units(1), ratio, r, Rounding::Up);
}

bool controls(const ResourcePolicy* policy, Resource r) { return policy == nullptr || policy->controls(r); }

std::string note_for(std::string_view container, Resource r, std::string_view what) {
  std::string s(container);
  s += ": ";
  s += to_string(r);
  s += ' ';
  s += what;
  return s;
}

/// True when (request, limit) satisfies a merged Container LimitRange. A limit that the
/// change leaves untouched and already breaks a max is the pod's own problem, so `limit` may
/// be absent even when a max is set.
bool satisfies(const Quantity& request, const std::optional<Quantity>& limit, const MergedLimits& lr,
               Resource r) {
  if (request.is_negative()) return false;
  if (limit && request > *limit) return false;
  if (const auto& min = lr.min[r]; min && (request < *min || (limit && *limit < *min))) return false;
  if (const auto& max = lr.max[r]; max && (request > *max || (limit && *limit > *max))) return false;
  if (const auto& ratio = lr.max_limit_request_ratio[r]; ratio && limit && !within_ratio(request, *limit, *ratio))
    return false;
  return true;
}

/// A container's OOM floor, with what the notes say of the kill behind it.
struct OomContext {
  MemoryFloor floor;
  OomKillSummary kill;
};

struct ResourceContext {
  const PodContainer& container;
  Resource resource;
  const ResourcePolicy* policy;
  const Config& config;
  const Gates& gates;
  std::optional<std::int64_t> try_number;
  const MergedLimits& limits;
  std::vector<Gate>& engaged;
  const OomContext* oom = nullptr;  // memory of a container the task lost to an OOM kill
};

void engage(std::vector<Gate>& engaged, Gate g) {
  if (std::find(engaged.begin(), engaged.end(), g) == engaged.end()) engaged.push_back(g);
}

/// Retry gate: on try N > 1 memory never drops below the pod's request, raised by
/// factor^(N-1) (at most 8 compounding steps: a task retried more often needs a human).
void apply_retry_gate(const ResourceContext& ctx, Quantity& request, ResourceChange& change) {
  if (ctx.resource != Resource::Memory || !ctx.try_number || *ctx.try_number <= 1 || !change.old_request) return;
  Quantity floor = *change.old_request;
  const std::int64_t raises = std::min<std::int64_t>(*ctx.try_number - 1, 8);
  for (std::int64_t i = 0; i < raises && ctx.gates.retry_memory_factor > Quantity::from_units(1); ++i) {
    auto next = floor.scaled(ctx.gates.retry_memory_factor, Quantity::from_units(1), rounding_step(Resource::Memory));
    if (!next) break;
    floor = *next;
  }
  if (request >= floor) return;
  request = in_output_format(floor, Resource::Memory);
  change.notes.push_back(floor == *change.old_request ? "kept at the pod's request on retry " + std::to_string(*ctx.try_number)
                                                      : "raised for retry " + std::to_string(*ctx.try_number));
  engage(ctx.engaged, Gate::Retry);
}

/// Step gate: the request moves at most max_decrease / max_increase of the pod's request.
void apply_step_gate(const ResourceContext& ctx, Quantity& request, ResourceChange& change) {
  if (!change.old_request || change.old_request->is_zero()) return;
  const Quantity& old = *change.old_request;
  const Resource r = ctx.resource;
  const Quantity one = Quantity::from_units(1);
  if (const auto& dec = ctx.gates.max_decrease[r]; dec && *dec <= one) {
    const Quantity keep(one.nanos() - dec->nanos(), Quantity::Format::DecimalSI);
    if (auto low = scale_by(old, keep, one, r, Rounding::Up); low && request < *low) {
      request = *low;
      change.notes.push_back("limited by max-decrease");
      engage(ctx.engaged, Gate::Step);
    }
  }
  if (const auto& inc = ctx.gates.max_increase[r]) {
    const Quantity grow(one.nanos() + inc->nanos(), Quantity::Format::DecimalSI);
    if (auto high = scale_by(old, grow, one, r, Rounding::Down); high && request > *high) {
      request = *high;
      change.notes.push_back("limited by max-increase");
      engage(ctx.engaged, Gate::Step);
    }
  }
}

std::string oom_note(const OomContext& oom, std::string_view what, const Quantity& floor) {
  std::string note = what == "request" ? "raised to the OOM floor " : "limit raised to the OOM floor ";
  floor.append_to(note);
  note += " (OOMKilled with ";
  const auto& killed = what == "request" && oom.kill.memory_request ? oom.kill.memory_request : oom.kill.memory_limit;
  if (killed) killed->append_to(note);
  note += what == "request" && oom.kill.memory_request ? " request" : " limit";
  note += " on try ";
  note += std::to_string(oom.kill.try_number);
  note += " at ";
  note += format_rfc3339(oom.kill.killed_at);
  note += ')';
  return note;
}

/// OOM gate, request: memory never below the floor the task's last OOM kill set. After the
/// step gate, which must not hold the fix back; before the policy's bounds, within which it
/// stays.
void apply_oom_floor(const ResourceContext& ctx, Quantity& request, ResourceChange& change) {
  if (ctx.oom == nullptr || ctx.resource != Resource::Memory || !ctx.oom->floor.request) return;
  const Quantity& floor = *ctx.oom->floor.request;
  if (request >= floor) return;
  request = floor;
  change.notes.push_back(oom_note(*ctx.oom, "request", floor));
  engage(ctx.engaged, Gate::Oom);
}

/// OOM gate, limit: the kernel kills at the limit, so a container killed with one gets a limit
/// of at least the floor's. When the policy (maxAllowed) kept the request below the floor, the
/// limit's floor shrinks by the same factor; a LimitRange max caps it as it caps any limit.
std::optional<Quantity> oom_limit_floor(const ResourceContext& ctx, const Quantity& request) {
  if (ctx.oom == nullptr || ctx.resource != Resource::Memory || !ctx.oom->floor.limit) return std::nullopt;
  std::optional<Quantity> floor = ctx.oom->floor.limit;
  const auto& request_floor = ctx.oom->floor.request;
  if (request_floor && request < *request_floor && !request_floor->is_zero()) {
    floor = scale_by(*floor, request, *request_floor, Resource::Memory, Rounding::Up);
  }
  if (floor && ctx.limits.max[Resource::Memory] && *floor > *ctx.limits.max[Resource::Memory]) {
    floor = in_output_format(*ctx.limits.max[Resource::Memory], Resource::Memory);
  }
  return floor;
}

void raise_limit_to_oom_floor(const ResourceContext& ctx, const std::optional<Quantity>& floor, Quantity& limit,
                              ResourceChange& change) {
  if (!floor || limit >= *floor) return;
  limit = *floor;
  change.notes.push_back(oom_note(*ctx.oom, "limit", *floor));
  engage(ctx.engaged, Gate::Oom);
}

std::string describe_seconds(std::int64_t s) {
  if (s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

/// History gate for one container: which of its resources may use the recommendation.
/// Returns {cpu allowed, memory allowed}; notes say why not.
std::array<bool, 2> history_gate(const PlanInput& input, const PodContainer& container, Plan& plan) {
  const Gates& gates = input.gates;
  if (!input.snapshot.has_checkpoints() || (gates.min_history_seconds <= 0 && gates.min_samples <= 0)) {
    return {true, true};
  }
  const auto cp = input.snapshot.checkpoint(input.namespace_, input.vpa.name(), container.name);
  std::string why;
  if (!cp) {
    why = "no checkpoint yet";
  } else {
    const auto first = cp->first_sample_start;
    const auto last = cp->last_sample_start;
    const std::int64_t span = first && last && *last > *first ? *last - *first : 0;
    if (span < gates.min_history_seconds || cp->total_samples_count < gates.min_samples) {
      why = describe_seconds(span) + " of history and " + std::to_string(cp->total_samples_count) + " samples, " +
            describe_seconds(gates.min_history_seconds) + " and " + std::to_string(gates.min_samples) + " required";
    } else if (!cp->has_memory_samples) {
      plan.notes.push_back(std::string(container.name) +
                           ": memory held back by the history gate: no memory history checkpointed yet");
      engage(plan.gates, Gate::History);
      return {true, false};
    } else {
      return {true, true};
    }
  }
  plan.notes.push_back(std::string(container.name) + ": held back by the history gate: " + why);
  engage(plan.gates, Gate::History);
  return {false, false};
}

/// Plans one resource of one container; nullopt (with a note) when it must stay as it is.
std::optional<ResourceChange> plan_resource(const ResourceContext& ctx, const Quantity& value,
                                            std::vector<std::string>& notes) {
  const Resource r = ctx.resource;
  const PodContainer& c = ctx.container;
  ResourceChange change;
  change.resource = r;
  change.old_request = c.requests[r];
  change.old_limit = c.limits[r];

  if (change.old_request && change.old_limit && *change.old_request > *change.old_limit) {
    // The API server rejects this pod on its own; repairing it is not the webhook's call.
    notes.push_back(note_for(c.name, r, "left alone: its request is above its limit"));
    return std::nullopt;
  }
  if (value.is_negative() || value.is_zero()) {
    notes.push_back(note_for(c.name, r, "left alone: the recommendation is zero"));
    return std::nullopt;
  }
  Quantity request = in_output_format(value.rounded_up(rounding_step(r)), r);
  apply_retry_gate(ctx, request, change);
  apply_step_gate(ctx, request, change);
  apply_oom_floor(ctx, request, change);

  auto clamp = [&](const std::optional<Quantity>& low, const std::optional<Quantity>& high,
                   std::string_view low_note, std::string_view high_note) {
    if (low && !low->is_zero() && request < *low) {
      request = in_output_format(*low, r);
      change.notes.emplace_back(low_note);
    }
    if (high && !high->is_zero() && request > *high) {
      request = in_output_format(*high, r);
      change.notes.emplace_back(high_note);
    }
  };
  if (ctx.policy != nullptr) {
    clamp(ctx.policy->min_allowed[r], ctx.policy->max_allowed[r], "capped to minAllowed", "capped to maxAllowed");
  }
  clamp(ctx.config.min_request[r], ctx.config.max_request[r], "raised to the webhook minimum",
        "capped to the webhook maximum");

  const ControlledValues controlled =
      ctx.policy != nullptr ? ctx.policy->controlled_values : ControlledValues::RequestsAndLimits;
  std::optional<Quantity> limit = change.old_limit;
  const std::optional<Quantity> limit_floor = oom_limit_floor(ctx, request);
  // The limit/request ratio the pod asked for, when the limit moves with the request.
  std::optional<Quantity> ratio_base;
  if (limit) {
    const Quantity base = change.old_request.value_or(*limit);
    if (controlled == ControlledValues::RequestsAndLimits && !base.is_zero() && base <= *limit) {
      ratio_base = base;
    } else {
      // RequestsOnly, or no request to scale the limit from: the limit stays (raised only to
      // an OOM floor), so must the request fit under it.
      raise_limit_to_oom_floor(ctx, limit_floor, *limit, change);
      if (request > *limit) {
        request = in_output_format(*limit, r);
        change.notes.emplace_back("capped to container limit");
      }
    }
  }

  // Container LimitRange: clamp the request into the range that keeps both request and the
  // (scaled or fixed) limit valid, as the VPA does with its boundary requests.
  const MergedLimits& lr = ctx.limits;
  std::optional<Quantity> low = lr.min[r];
  std::optional<Quantity> high = lr.max[r];
  if (limit && ratio_base && high) {
    high = scale_by(*high, *ratio_base, *limit, r, Rounding::Down);  // request * ratio <= max
  }
  if (limit && !ratio_base && lr.max_limit_request_ratio[r]) {
    // A fixed limit: the request may not drop below limit / maxLimitRequestRatio.
    if (auto floor = min_request_for_ratio(*limit, *lr.max_limit_request_ratio[r], r); floor && (!low || *floor > *low)) {
      low = floor;
    }
  }
  if (low && request < *low) {
    request = in_output_format(*low, r);
    change.notes.emplace_back("raised to fit the LimitRange min");
  }
  if (high && request > *high) {
    request = in_output_format(*high, r);
    change.notes.emplace_back("capped to fit the LimitRange max");
  }

  if (limit && ratio_base) {
    limit = scale_by(*limit, request, *ratio_base, r, Rounding::Up);
    if (!limit) {
      notes.push_back(note_for(c.name, r, "left alone: the scaled limit does not fit"));
      return std::nullopt;
    }
    raise_limit_to_oom_floor(ctx, limit_floor, *limit, change);
    if (lr.max[r] && *limit > *lr.max[r]) limit = in_output_format(*lr.max[r], r);
  }

  if (!satisfies(request, limit, lr, r)) {
    notes.push_back(note_for(c.name, r, "left alone: no value satisfies the LimitRange"));
    return std::nullopt;
  }
  change.new_request = request;
  change.new_limit = limit;
  return change;
}

bool changes_anything(const ResourceChange& ch) {
  const bool request_changed = !ch.old_request || !ch.new_request || *ch.old_request != *ch.new_request;
  const bool limit_changed = ch.old_limit && ch.new_limit && *ch.old_limit != *ch.new_limit;
  return request_changed || limit_changed;
}

/// Pod LimitRange: min/max apply to the sums over the pod's containers. The planner does not
/// redistribute; a resource whose new sums break the pod range is left as the pod asked.
void enforce_pod_limits(const Pod& pod, const MergedLimits& lr, std::vector<ContainerPlan>& plans,
                        std::vector<std::string>& notes) {
  for (Resource r : kResources) {
    if (!lr.min[r] && !lr.max[r]) continue;
    Int128 requests = 0;
    Int128 limits = 0;
    bool all_limits = true;
    bool overflow = false;
    for (std::size_t i = 0; i < pod.containers.size(); ++i) {
      std::optional<Quantity> req = pod.containers[i].requests[r];
      std::optional<Quantity> lim = pod.containers[i].limits[r];
      for (const ContainerPlan& p : plans) {
        if (p.index != i) continue;
        for (const ResourceChange& ch : p.changes) {
          if (ch.resource != r) continue;
          req = ch.new_request;
          lim = ch.new_limit;
        }
      }
      if (req) overflow = overflow || __builtin_add_overflow(requests, req->nanos(), &requests);
      if (lim) overflow = overflow || __builtin_add_overflow(limits, lim->nanos(), &limits);
      else all_limits = false;
    }
    const bool too_low = lr.min[r] && requests < lr.min[r]->nanos();
    const bool too_high = overflow || (lr.max[r] && (requests > lr.max[r]->nanos() ||
                                                     (all_limits && limits > lr.max[r]->nanos())));
    if (!too_low && !too_high) continue;
    bool reverted = false;
    for (ContainerPlan& p : plans) {
      const auto before = p.changes.size();
      std::erase_if(p.changes, [r](const ResourceChange& ch) { return ch.resource == r; });
      reverted = reverted || p.changes.size() != before;
    }
    if (reverted) {
      std::string note("pod: ");
      note += to_string(r);
      note += " left alone: the new total would break the pod LimitRange";
      notes.push_back(std::move(note));
    }
  }
  std::erase_if(plans, [](const ContainerPlan& p) { return p.changes.empty(); });
}

}  // namespace

const std::optional<Quantity>& recommended(const RecommendedResources& rec, RecommendationField f, Resource r) {
  switch (f) {
    case RecommendationField::LowerBound: return rec.lower_bound[r];
    case RecommendationField::UpperBound: return rec.upper_bound[r];
    case RecommendationField::UncappedTarget: return rec.uncapped_target[r];
    case RecommendationField::Target: break;
  }
  return rec.target[r];
}

MergedLimits merge_limit_ranges(std::span<const LimitRange* const> ranges, LimitRangeItem::Type type) {
  MergedLimits merged;
  auto keep = [](std::optional<Quantity>& current, const std::optional<Quantity>& candidate, bool highest) {
    if (!candidate) return;
    if (!current || (highest ? *candidate > *current : *candidate < *current)) current = candidate;
  };
  for (const LimitRange* range : ranges) {
    for (const LimitRangeItem& item : range->items) {
      if (item.type != type) continue;
      for (Resource r : kResources) {
        keep(merged.min[r], item.min[r], true);
        keep(merged.max[r], item.max[r], false);
        keep(merged.max_limit_request_ratio[r], item.max_limit_request_ratio[r], false);
      }
    }
  }
  return merged;
}

Plan plan_pod(const PlanInput& input) {
  Plan plan;
  const auto& limit_ranges = input.snapshot.limit_ranges(input.namespace_);
  const MergedLimits container_limits = merge_limit_ranges(limit_ranges, LimitRangeItem::Type::Container);
  const TargetView target = input.vpa.target();
  for (std::size_t i = 0; i < input.pod.containers.size(); ++i) {
    const PodContainer& container = input.pod.containers[i];
    const std::optional<RecommendedResources> rec = input.vpa.recommendation_for(container.name);
    std::optional<OomContext> oom;
    if (target) {
      if (auto kill = target.oom_kill(container.name)) {
        oom = OomContext{memory_floor(kill->memory_request, kill->memory_limit, input.config.oom), *kill};
      }
    }
    if (!rec && !oom) continue;
    const std::optional<ResourcePolicy> policy_of_container = input.vpa.policy_for(container.name);
    const ResourcePolicy* policy = policy_of_container ? &*policy_of_container : nullptr;
    if (policy != nullptr && policy->mode == ContainerScalingMode::Off) {
      plan.notes.push_back(std::string(container.name) + ": left alone: container policy mode Off");
      continue;
    }
    if (container.has_invalid_quantity) {
      plan.notes.push_back(std::string(container.name) + ": left alone: its resources hold an invalid quantity");
      continue;
    }
    const std::array<bool, 2> trusted = rec ? history_gate(input, container, plan) : std::array<bool, 2>{false, false};
    ContainerPlan cp;
    cp.index = i;
    cp.name = container.name;
    for (Resource r : kResources) {
      if (!controls(policy, r)) continue;
      std::optional<Quantity> value;
      if (rec && trusted[static_cast<std::size_t>(r)]) value = recommended(*rec, input.field, r);
      if (!value && oom && r == Resource::Memory) {
        // Nothing trusted to size it by, but an OOM floor to hold: start from what the pod asks.
        value = container.requests[r] ? container.requests[r] : container.limits[r] ? container.limits[r]
                                                                                   : oom->floor.request;
      }
      if (!value) continue;
      const ResourceContext ctx{container, r, policy, input.config, input.gates, input.try_number,
                                container_limits, plan.gates, oom ? &*oom : nullptr};
      auto change = plan_resource(ctx, *value, plan.notes);
      if (!change) continue;
      if (changes_anything(*change)) {
        cp.changes.push_back(std::move(*change));
      } else {
        // Nothing changes, but why may matter (a gate or a cap kept the pod's value).
        for (const std::string& note : change->notes) plan.notes.push_back(note_for(container.name, r, note));
      }
    }
    if (!cp.changes.empty()) plan.containers.push_back(std::move(cp));
  }
  const MergedLimits pod_limits = merge_limit_ranges(limit_ranges, LimitRangeItem::Type::Pod);
  enforce_pod_limits(input.pod, pod_limits, plan.containers, plan.notes);
  return plan;
}

}  // namespace avw::core
