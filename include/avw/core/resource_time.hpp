// File: resource_time.hpp
//
// What a run really cost, and what sizing changed of it: resource-time. A thousand 5-minute
// pods each trimmed by one core release about 83 core-hours, not a thousand cores, so the
// closed loop weighs every finished task pod's requests by how long it ran:
//
//   core-seconds = sum over containers of cpu request (cores) x run seconds
//   byte-seconds = sum over containers of memory request (bytes) x run seconds
//
// once as the pod asked (original) and once as sized (new): for an enforced pod the sizes it
// ran with and, from its `updates` annotation, what it asked before the patch; for a dry-run
// pod what it asked and what enforcing would set (the decision made again on the ended pod).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "avw/core/decision.hpp"
#include "avw/core/resources.hpp"
#include "avw/core/task_pod.hpp"

namespace avw::core {

/// Requests per container, by name, in spec order.
using PodRequests = std::vector<std::pair<std::string, ResourceValues>>;

/// The requests the pod carries.
PodRequests requests_of(const TaskPod& pod);

/// The requests a patched pod asked for before the webhook changed them: its requests with
/// each `<container>: <resource> request <old> -> <new>` of the `updates` summary (as
/// decide() writes it) turned back. An item it cannot read is left as the pod carries it.
PodRequests requests_before_patch(const TaskPod& pod, std::string_view updates_summary);

/// The requests a decision sets: the pod's, with each planned change applied.
PodRequests requests_after(const TaskPod& pod, const Decision& decision);

struct ResourceSeconds {
  double cpu_core_seconds = 0;
  double memory_byte_seconds = 0;
};
ResourceSeconds resource_seconds(const PodRequests& requests, std::int64_t run_seconds);

/// The pod as a CREATE request (labels, annotations, containers' resources): what decide()
/// needs to size it again. Views into `pod`, valid while it lives.
AdmissionRequest creation_request_of(const TaskPod& pod);

}  // namespace avw::core
