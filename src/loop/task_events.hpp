// File: task_events.hpp (private to the loop)
//
// Kubernetes Events on an AirflowTask, so that `kubectl describe airflowtask` says why its
// pods' memory went up (or came down again):
//
//   Type     Reason          From                            Message
//   Warning  OOMKilled       airflow-vpa-webhook.io/webhook  container base of pod etl-load-oom ...
//
// Written through events.k8s.io/v1 (GA since Kubernetes 1.19): `regarding` the AirflowTask,
// reportingController and reportingInstance, action, a microsecond eventTime. Its
// generateName ends in "-": that API refuses one that ends in "." (the fixtures show it).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "avw/kube/client.hpp"

namespace avw::loop {

inline constexpr std::string_view kReportingController = "airflow-vpa-webhook.io/webhook";

struct TaskEvent {
  std::string namespace_;
  std::string task_name;       // the AirflowTask
  std::string task_uid;
  std::string task_resource_version;
  std::string type;    // Normal, Warning
  std::string reason;  // OOMKilled, OOMFloorLifted
  std::string action;  // RaiseMemoryFloor, LiftMemoryFloor
  std::string note;    // at most 1 KiB (the API's limit), cut on a UTF-8 boundary
  std::string instance;
  std::int64_t event_time = 0;  // seconds since the epoch
};

/// The events.k8s.io/v1 Event, as JSON.
std::string event_json(const TaskEvent& event);

/// POSTs it; the response (201 or why not).
boost::asio::awaitable<kube::Response> post_event(kube::Client& client, const TaskEvent& event);

}  // namespace avw::loop
