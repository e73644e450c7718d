// File: kind_decoders.hpp (private to the core)
//
// The decoder of each kind, one file each (src/core/<kind>.cpp), called by decode_object()
// (object_dispatch.cpp). They throw json_fields::ObjectError for an object that cannot be
// understood, which skips that object alone.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "avw/core/objects.hpp"
#include "avw/core/oom_kill.hpp"
#include "avw/core/run_stats.hpp"
#include "avw/core/task_pod.hpp"
#include "json_fields.hpp"

namespace avw::core {

/// A VerticalPodAutoscaler (vpa.cpp).
Vpa decode_vpa(const json_fields::Value& object);
/// A VerticalPodAutoscalerCheckpoint (checkpoint.cpp).
Checkpoint decode_checkpoint(const json_fields::Value& object);
/// A v1 LimitRange (limit_range.cpp).
LimitRange decode_limit_range(const json_fields::Value& object);
/// A v1 Namespace (namespace_info.cpp).
NamespaceInfo decode_namespace(const json_fields::Value& object);
/// Any other object, as a scale target (scale_target.cpp); nullopt when it has no selector of
/// pods where the VPA would look for one (a ConfigMap, a Status): it is then not ours.
std::optional<ScaleTarget> decode_scale_target(const json_fields::Value& object, std::string_view api_version,
                                               std::string_view kind);
/// A v1 Pod (task_pod.cpp).
TaskPod decode_task_pod(const json_fields::Value& object);
/// An AirflowTask's status.oomKills (oom_kill.cpp); `list` may be nullptr.
std::vector<OomKill> decode_oom_kills(const json_fields::Value* list, std::string_view path);
/// An AirflowTask's status.runs (run_stats.cpp); `runs` may be nullptr. Never throws: a
/// malformed record is RunStats{}, no runs observed.
RunStats decode_run_stats(const json_fields::Value* runs);

}  // namespace avw::core
