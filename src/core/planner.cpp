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

/// `base: not in the recommendation`: a whole container left as the pod asked.
Note container_note(std::string_view container, Reason why) {
  Note n{why, std::string(container)};
  n.text += ": ";
  n.text += phrase(why);
  return n;
}

/// `base: memory request 1Gi kept (target 600Mi): held back by the history gate: ...`: one
/// resource left as the pod asked, what it asked, what the recommendation said, and why.
Note kept_note(std::string_view container, const ResourceChange& ch, RecommendationField field,
               const std::vector<Note>& why) {
  Note n{why.empty() ? Reason::Equal : why.back().code, std::string(container)};
  n.text += ": ";
  n.text += to_string(ch.resource);
  n.text += " request ";
  if (ch.old_request) ch.old_request->append_to(n.text);
  else n.text += "unset";
  n.text += " kept";
  if (ch.recommended) {
    n.text += " (";
    n.text += to_string(field);
    n.text += ' ';
    ch.recommended->append_to(n.text);
    n.text += ')';
  }
  n.text += ": ";
  if (why.empty()) n.text += phrase(Reason::Equal);
  else append_notes(n.text, why, ", ");
  return n;
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
  const std::string try_number = std::to_string(*ctx.try_number);
  change.notes.push_back(note(floor == *change.old_request ? Reason::RetryKept : Reason::RetryRaised, {try_number}));
  engage(ctx.engaged, Gate::Retry);
}

/// `50%`, `12.5%`: a fraction of the step gate as its annotations spell it.
std::string percent(const Quantity& fraction) {
  constexpr Int128 kNanosPerPercent = kNanosPerUnit / 100;
  const Int128 n = fraction.nanos();
  std::string out = std::to_string(static_cast<long long>(n / kNanosPerPercent));
  if (const Int128 rest = n % kNanosPerPercent; rest != 0) {
    std::string digits = std::to_string(static_cast<long long>(rest));
    digits.insert(0, 7 - digits.size(), '0');  // a percent is 10^7 nanos
    while (digits.back() == '0') digits.pop_back();
    out += '.';
    out += digits;
  }
  out += '%';
  return out;
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
      change.notes.push_back(note(Reason::MaxDecrease, {percent(*dec)}));
      engage(ctx.engaged, Gate::Step);
    }
  }
  if (const auto& inc = ctx.gates.max_increase[r]) {
    const Quantity grow(one.nanos() + inc->nanos(), Quantity::Format::DecimalSI);
    if (auto high = scale_by(old, grow, one, r, Rounding::Down); high && request > *high) {
      request = *high;
      change.notes.push_back(note(Reason::MaxIncrease, {percent(*inc)}));
      engage(ctx.engaged, Gate::Step);
    }
  }
}

/// `raised to the OOM floor 400Mi (OOMKilled with 300Mi request on try 1 at ...)`, or the
/// limit's (`Reason::OomLimitFloor`).
Note oom_note(const OomContext& oom, Reason which, const Quantity& floor) {
  const bool by_request = which == Reason::OomFloor && oom.kill.memory_request;
  const auto& killed = by_request ? oom.kill.memory_request : oom.kill.memory_limit;
  std::string with = killed ? killed->to_string() : std::string();
  with += by_request ? " request" : " limit";
  return note(which, {floor.to_string(), with, std::to_string(oom.kill.try_number), format_rfc3339(oom.kill.killed_at)});
}

/// OOM gate, request: memory never below the floor the task's last OOM kill set. After the
/// step gate, which must not hold the fix back; before the policy's bounds, within which it
/// stays.
void apply_oom_floor(const ResourceContext& ctx, Quantity& request, ResourceChange& change) {
  if (ctx.oom == nullptr || ctx.resource != Resource::Memory || !ctx.oom->floor.request) return;
  const Quantity& floor = *ctx.oom->floor.request;
  if (request >= floor) return;
  request = floor;
  change.notes.push_back(oom_note(*ctx.oom, Reason::OomFloor, floor));
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
  change.notes.push_back(oom_note(*ctx.oom, Reason::OomLimitFloor, *floor));
  engage(ctx.engaged, Gate::Oom);
}

std::string describe_seconds(std::int64_t s) {
  if (s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

/// The history gate's verdict on one container: which of its resources may use the
/// recommendation, and the gate's note for those that may not.
struct HistoryVerdict {
  std::array<bool, 2> trusted{true, true};  // by Resource
  Note held;
};

HistoryVerdict history_gate(const PlanInput& input, const PodContainer& container) {
  const Gates& gates = input.gates;
  if (!input.snapshot.has_checkpoints() || (gates.min_history_seconds <= 0 && gates.min_samples <= 0)) return {};
  const auto cp = input.snapshot.checkpoint(input.namespace_, input.vpa.name(), container.name);
  if (!cp) return {{false, false}, note(Reason::HistoryGate, {"no checkpoint yet"})};
  const auto first = cp->first_sample_start;
  const auto last = cp->last_sample_start;
  const std::int64_t span = first && last && *last > *first ? *last - *first : 0;
  if (span < gates.min_history_seconds || cp->total_samples_count < gates.min_samples) {
    const std::string why = describe_seconds(span) + " of history and " + std::to_string(cp->total_samples_count) +
                            " samples, " + describe_seconds(gates.min_history_seconds) + " and " +
                            std::to_string(gates.min_samples) + " required";
    return {{false, false}, note(Reason::HistoryGate, {why})};
  }
  if (!cp->has_memory_samples) return {{true, false}, note(Reason::HistoryGate, {"no memory history checkpointed yet"})};
  return {};
}

/// Plans one resource of one container into `change` (its old values already set); the
/// reason when it must stay as the pod asked.
std::optional<Reason> plan_resource(const ResourceContext& ctx, const Quantity& value, ResourceChange& change) {
  const Resource r = ctx.resource;
  // The API server rejects this pod on its own; repairing it is not the webhook's call.
  if (change.old_request && change.old_limit && *change.old_request > *change.old_limit) return Reason::RequestAboveLimit;
  if (value.is_negative() || value.is_zero()) return Reason::ZeroRecommendation;
  Quantity request = in_output_format(value.rounded_up(rounding_step(r)), r);
  apply_retry_gate(ctx, request, change);
  apply_step_gate(ctx, request, change);
  apply_oom_floor(ctx, request, change);

  // The request becomes `bound`, and the note says which bound and its value.
  auto bind = [&](const Quantity& bound, Reason why) {
    request = in_output_format(bound, r);
    change.notes.push_back(note(why, {request.to_string()}));
  };
  auto clamp = [&](const std::optional<Quantity>& low, const std::optional<Quantity>& high, Reason low_why,
                   Reason high_why) {
    if (low && !low->is_zero() && request < *low) bind(*low, low_why);
    if (high && !high->is_zero() && request > *high) bind(*high, high_why);
  };
  if (ctx.policy != nullptr) {
    clamp(ctx.policy->min_allowed[r], ctx.policy->max_allowed[r], Reason::MinAllowed, Reason::MaxAllowed);
  }
  clamp(ctx.config.min_request[r], ctx.config.max_request[r], Reason::WebhookMin, Reason::WebhookMax);

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
      if (request > *limit) bind(*limit, Reason::ContainerLimit);
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
  if (low && request < *low) bind(*low, Reason::LimitRangeMin);
  if (high && request > *high) bind(*high, Reason::LimitRangeMax);

  if (limit && ratio_base) {
    limit = scale_by(*limit, request, *ratio_base, r, Rounding::Up);
    if (!limit) return Reason::LimitDoesNotFit;
    raise_limit_to_oom_floor(ctx, limit_floor, *limit, change);
    if (lr.max[r] && *limit > *lr.max[r]) limit = in_output_format(*lr.max[r], r);
  }

  if (!satisfies(request, limit, lr, r)) return Reason::NoLimitRangeFit;
  change.new_request = request;
  change.new_limit = limit;
  return std::nullopt;
}

bool changes_anything(const ResourceChange& ch) {
  const bool request_changed = !ch.old_request || !ch.new_request || *ch.old_request != *ch.new_request;
  const bool limit_changed = ch.old_limit && ch.new_limit && *ch.old_limit != *ch.new_limit;
  return request_changed || limit_changed;
}

/// Pod LimitRange: min/max apply to the sums over the pod's containers. The planner does not
/// redistribute; a resource whose new sums break the pod range is left as the pod asked.
void enforce_pod_limits(const Pod& pod, const MergedLimits& lr, RecommendationField field,
                        std::vector<ContainerPlan>& plans, std::vector<Note>& notes) {
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
    const std::vector<Note> why{note(Reason::PodLimitRange)};
    for (ContainerPlan& p : plans) {
      std::erase_if(p.changes, [&](const ResourceChange& ch) {
        if (ch.resource != r) return false;
        notes.push_back(kept_note(p.name, ch, field, why));
        return true;
      });
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
    if (!rec && !oom) {
      plan.notes.push_back(container_note(container.name, Reason::NotInRecommendation));
      continue;
    }
    const std::optional<ResourcePolicy> policy_of_container = input.vpa.policy_for(container.name);
    const ResourcePolicy* policy = policy_of_container ? &*policy_of_container : nullptr;
    if (policy != nullptr && policy->mode == ContainerScalingMode::Off) {
      plan.notes.push_back(container_note(container.name, Reason::PolicyOff));
      continue;
    }
    if (container.has_invalid_quantity) {
      plan.notes.push_back(container_note(container.name, Reason::InvalidQuantity));
      continue;
    }
    const HistoryVerdict history = rec ? history_gate(input, container) : HistoryVerdict{};
    ContainerPlan cp;
    cp.index = i;
    cp.name = container.name;
    for (Resource r : kResources) {
      ResourceChange change;
      change.resource = r;
      change.old_request = container.requests[r];
      change.old_limit = container.limits[r];
      if (rec) change.recommended = recommended(*rec, input.field, r);
      auto keep = [&](std::vector<Note> why) {
        plan.notes.push_back(kept_note(container.name, change, input.field, why));
      };
      if (!controls(policy, r)) {
        if (change.recommended) keep({note(Reason::NotControlled)});
        continue;
      }
      const bool held = change.recommended && !history.trusted[static_cast<std::size_t>(r)];
      if (held) engage(plan.gates, Gate::History);
      std::optional<Quantity> value = held ? std::nullopt : change.recommended;
      if (!value && oom && r == Resource::Memory) {
        // Nothing trusted to size it by, but an OOM floor to hold: start from what the pod asks.
        value = container.requests[r] ? container.requests[r] : container.limits[r] ? container.limits[r]
                                                                                   : oom->floor.request;
        if (held) change.notes.push_back(history.held);
      }
      if (!value) {
        keep({held ? history.held : note(Reason::NotInRecommendation)});
        continue;
      }
      const ResourceContext ctx{container, r, policy, input.config, input.gates, input.try_number,
                                container_limits, plan.gates, oom ? &*oom : nullptr};
      if (const auto left_alone = plan_resource(ctx, *value, change)) {
        keep({note(*left_alone)});
      } else if (changes_anything(change)) {
        cp.changes.push_back(std::move(change));
      } else {
        // Nothing changes, but why matters: equal already, or a gate or a bound kept the pod's value.
        keep(std::move(change.notes));
      }
    }
    if (!cp.changes.empty()) plan.containers.push_back(std::move(cp));
  }
  const MergedLimits pod_limits = merge_limit_ranges(limit_ranges, LimitRangeItem::Type::Pod);
  enforce_pod_limits(input.pod, pod_limits, input.field, plan.containers, plan.notes);
  return plan;
}

}  // namespace avw::core
