// File: run_watch.hpp
//
// The closed loop: the webhook sees a task pod's birth in its AdmissionReview; this watches
// its death. Off the admission path, on the control context:
//
//   auto loop = loop::make_run_watch(control, client /* shared_ptr */, options, registry);
//   loop->start();
//   loop->publish(snapshot);   // every snapshot the recommendation source publishes
//
// It lists and watches the pods that carry the task labels (a label selector on the dag and
// task keys; bookmarks; relist on 410) and keeps no pod: only the uids of the finished pods it
// has handled, so each is handled once. For every task pod that finished:
//   - its run is counted in the AirflowTask's status.runs (core/run_stats.hpp: runs, run
//     time, what it asked for), which the fleet report turns into resource-time per day;
//   - an OOMKilled container raises the task's memory floor (core/oom_floor.hpp) in
//     status.oomKills. Both are one merge patch with a resourceVersion precondition (a replica
//     that wrote first wins, the other reads again and finds nothing left to do); an Event
//     (events.k8s.io/v1, reason OOMKilled) on the AirflowTask says why, as `kubectl describe`
//     shows it;
//   - a clean run of a task with a floor counts towards lifting it, and the lift is announced
//     the same way (reason OOMFloorLifted);
//   - its run time turns its requests into resource-time (core/resource_time.hpp), counted as
//     the pod asked and as sized, by mode.
//
// Every replica watches every task pod, so every replica reports every run: aggregate the
// run metrics across replicas with max, not sum. Runs that ended before this process started
// are learnt from (idempotently) but not counted again.
//
// Metrics: avw_task_runs_total{phase}, avw_task_run_seconds, avw_task_oom_kills_total,
// avw_task_cpu_core_seconds_total{mode,requests}, avw_task_memory_byte_seconds_total{mode,requests},
// avw_oom_floor_changes_total{change}, avw_loop_status_writes_total{result},
// avw_loop_events_total{result}, avw_loop_dropped_total.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "avw/core/decision.hpp"
#include "avw/core/store.hpp"
#include "avw/kube/backoff.hpp"

namespace boost::asio {
class io_context;
}
namespace avw::kube {
class Client;
}
namespace avw::metrics {
class Registry;
}

namespace avw::loop {

struct RunWatchOptions {
  /// Off: nothing is watched.
  bool enabled = true;
  /// The decision's configuration: label keys, OOM policy, the recommendation field (a floor
  /// is lifted against it), and what a dry-run pod would have been sized to.
  core::Config decision;
  /// `--dry-run`: every namespace is audited, whatever its mode label says.
  bool dry_run = false;
  /// Names this replica in the Events it writes (reportingInstance): the pod's name.
  std::string instance = "airflow-vpa-webhook";
  /// The pod watch's timeouts (as the API source's).
  std::chrono::seconds watch_timeout{300};
  std::chrono::seconds resync{1800};
  kube::BackoffPolicy backoff;
  /// Finished pods waiting for a status write; more are dropped and counted.
  std::size_t max_pending = 10'000;
  /// Status writes that lose a race are tried again this many times.
  unsigned max_conflicts = 5;
  /// Wall clock: when a floor was lifted, which runs ended before this process started.
  std::function<std::chrono::system_clock::time_point()> clock;
};

class RunWatch {
 public:
  virtual ~RunWatch() = default;
  virtual void start() = 0;
  /// Stops watching; status writes in flight finish (close the client to cut them).
  virtual void stop() = 0;
  /// The snapshot the webhook decides with now (floors, recommendations, namespace modes).
  /// Control context only.
  virtual void publish(std::shared_ptr<const core::Snapshot> snapshot) = 0;
};

/// `client` runs on `control` and is shared with the watch's coroutines, which may outlive the
/// RunWatch until the io_context is destroyed; `registry` must outlive them all.
std::unique_ptr<RunWatch> make_run_watch(boost::asio::io_context& control, std::shared_ptr<kube::Client> client,
                                         RunWatchOptions options, metrics::Registry& registry);

}  // namespace avw::loop
