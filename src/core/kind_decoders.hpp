// File: kind_decoders.hpp (private to the core)
//
// Decoders of the kinds that have a file of their own, called by decode_one() in objects.cpp.
// They throw json_fields::ObjectError for an object that cannot be understood.
#pragma once

#include <vector>

#include "avw/core/oom_kill.hpp"
#include "avw/core/run_stats.hpp"
#include "avw/core/task_pod.hpp"
#include "json_fields.hpp"

namespace avw::core {

/// A v1 Pod (task_pod.cpp).
TaskPod decode_task_pod(const json_fields::Value& object);
/// An AirflowTask's status.oomKills (oom_kill.cpp); `list` may be nullptr.
std::vector<OomKill> decode_oom_kills(const json_fields::Value* list, std::string_view path);
/// An AirflowTask's status.runs (run_stats.cpp); `runs` may be nullptr. Never throws: a
/// malformed record is RunStats{}, no runs observed.
RunStats decode_run_stats(const json_fields::Value* runs);

}  // namespace avw::core
