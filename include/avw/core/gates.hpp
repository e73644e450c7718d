// File: gates.hpp
//
// Safety gates: how far a batch recommendation is trusted. The VPA recommender publishes a
// target after one sample, its bounds carry the confidence, and a restart while task pods
// run drops the memory target to its floor; applied blindly that shrinks a 4 GiB task to
// 250 MB. Each gate that holds a change back says so in the decision.
//
//   - history: a container's recommendation applies only when its VerticalPodAutoscalerCheckpoint
//     shows at least `min_history` between firstSampleStart and lastSampleStart and
//     `min_samples` samples; memory also needs a checkpointed memory histogram. A source
//     without any checkpoint (a recommendations file whose author vouches) turns it off.
//   - retry: when `try_number` > 1, memory never goes below the pod's own request, and is
//     raised by `retry_memory_factor` per extra try (1 = not raised), within the policy bounds.
//   - oom: a container the task lost to an OOM kill gets at least the floor that kill set
//     (oom_floor.hpp), request and limit, whatever the recommendation says.
//   - step: the new request stays within [request * (1 - max_decrease), request * (1 +
//     max_increase)] of what the pod asks for. Off by default.
//
// Defaults are overridden per namespace, then per pod, by annotations (prefix
// `airflow-vpa-webhook.io/`): `min-history` (`48h`, `90m`, `0`), `min-samples` (`10`),
// `retry-memory-factor` (`1.25`), `max-decrease-cpu`, `max-decrease-memory`,
// `max-increase-cpu`, `max-increase-memory` (`50%` or `0.5`; `off`).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "avw/core/resources.hpp"
#include "avw/core/selector.hpp"

namespace avw::core {

struct Gates {
  /// Two days of history: a daily task has run at least three times.
  std::int64_t min_history_seconds = 2 * 24 * 3600;
  /// Cpu samples (one a minute while a pod runs): a few runs of a short task.
  std::int64_t min_samples = 10;
  /// A plain number >= 1 (Quantity: exact).
  Quantity retry_memory_factor = Quantity::from_units(1);
  /// Fractions of the pod's request; unset: no limit.
  ResourceValues max_decrease;
  ResourceValues max_increase;
};

/// Which gate held a change back (for metrics and audit annotations).
enum class Gate : std::uint8_t { History, Retry, Step, Oom };
std::string_view to_string(Gate g);

/// `48h`, `90m`, `30s`, `2d`, combinations (`1h30m`) or `0`; seconds, nullopt when invalid.
std::optional<std::int64_t> parse_duration_seconds(std::string_view text);
/// `50%` or `0.5` as an exact plain number (0.5); nullopt when invalid or negative.
std::optional<Quantity> parse_fraction(std::string_view text);

/// `defaults` overridden by the namespace's annotations (when known), then the pod's. Invalid
/// values are ignored with a one-line message appended to `problems`.
Gates gates_for(const Gates& defaults, const LabelSet* namespace_annotations, const LabelSet& pod_annotations,
                std::string_view prefix, std::vector<std::string>& problems);

}  // namespace avw::core
