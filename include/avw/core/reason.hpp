// File: reason.hpp
//
// The one vocabulary every admission decision explains itself in. Each code has one fixed
// phrasing, defined once here; the variable parts (names, quantities, counts) fill its `{}`
// slots in order:
//
//   say(Reason::NoVpa, {"airflow/etl/load/PodOperator"})  // "no VPA governs task airflow/etl/load/PodOperator"
//
// The same text reaches the audit annotations, the decision's log line, the dry-run warnings
// and `review`'s output, so what a platform engineer greps for in one is what the others say.
// The codes (`to_string`) are stable identifiers for logs and tools; the phrasings are what
// docs/operations.md quotes.
//
// Three scopes use the codes: the whole decision (`Decision::code`), a container or one
// resource of one container left as the pod asked (`Decision::notes`), and what bent a change
// away from the recommendation (`ResourceChange::notes`).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace avw::core {

enum class Reason : std::uint8_t {
  // The decision.
  InternalError,     // internal error, pod allowed unchanged
  NotCreate,         // operation {} is not a CREATE
  NotPod,            // not a v1 Pod
  MirrorPod,         // mirror pod
  OptedOut,          // opted out by annotation {}
  NotTaskPod,        // not an Airflow task pod (no {} labels)
  NoVpa,             // no VPA governs task {}
  NoRecommendation,  // VPA {} has no recommendation yet
  AlreadyMatch,      // requests already match VPA {}
  LeftAsAsked,       // VPA {} changes nothing: {}
  Changed,           // VPA {}: {}
  // A container, or one resource of one container, left as the pod asked.
  NotInRecommendation,  // not in the recommendation
  NotControlled,        // not in the VPA's controlledResources
  PolicyOff,            // left alone: container policy mode Off
  InvalidQuantity,      // left alone: its resources hold an invalid quantity
  HistoryGate,          // held back by the history gate: {}
  Equal,                // already as recommended
  RequestAboveLimit,    // its request is above its limit
  ZeroRecommendation,   // the recommendation is zero
  LimitDoesNotFit,      // the scaled limit does not fit
  NoLimitRangeFit,      // no value satisfies the LimitRange
  PodLimitRange,        // the new total would break the pod LimitRange
  // What bent a change away from the recommendation.
  RetryKept,       // kept at the pod's request on retry {}
  RetryRaised,     // raised for retry {}
  MaxDecrease,     // limited by max-decrease {}
  MaxIncrease,     // limited by max-increase {}
  OomFloor,        // raised to the OOM floor {} (OOMKilled with {} on try {} at {})
  OomLimitFloor,   // limit raised to the OOM floor {} (OOMKilled with {} on try {} at {})
  MinAllowed,      // raised to minAllowed {}
  MaxAllowed,      // capped to maxAllowed {}
  WebhookMin,      // raised to the webhook minimum {}
  WebhookMax,      // capped to the webhook maximum {}
  ContainerLimit,  // capped to the container limit {}
  LimitRangeMin,   // raised to fit the LimitRange min {}
  LimitRangeMax,   // capped to fit the LimitRange max {}
};
inline constexpr std::size_t kReasonCount = static_cast<std::size_t>(Reason::LimitRangeMax) + 1;

/// The stable code: `no-vpa`, `history-gate`, `max-allowed`, ...
std::string_view to_string(Reason r);
/// The fixed phrasing, with a `{}` slot for each variable part.
std::string_view phrase(Reason r);

/// The phrasing with its slots filled by `parts` in order. A missing part leaves its slot
/// empty and a surplus part is dropped: the text must never fail a decision.
std::string say(Reason r, std::initializer_list<std::string_view> parts = {});

/// One reason with its text: `{MaxAllowed, "capped to maxAllowed 512Mi"}`.
struct Note {
  Reason code = Reason::Equal;
  std::string text;
};

inline Note note(Reason r, std::initializer_list<std::string_view> parts = {}) { return {r, say(r, parts)}; }

/// Appends the notes' texts to `out`, `separator` between them.
void append_notes(std::string& out, const std::vector<Note>& notes, std::string_view separator);

}  // namespace avw::core
