// File: provisioner.hpp
//
// Gives every Airflow task its AirflowTask and VPA, off the admission path.
//
//   auto provisioner = provision::make_provisioner(control, client, options, registry);
//   provisioner->start();
//   provisioner->observe(key);   // any thread, for each task pod admitted (never for dryRun)
//
// observe() copies the key and posts it to the control context (bounded: over
// `max_pending` queued observations it drops and counts). On the control context the first
// sight of a task creates, each step idempotent so several replicas can race:
//   1. POST the AirflowTask (201 created, 409 it exists: both fine);
//   2. PATCH its /status (merge patch: replicas 0, selector, lastSeen), which the scale
//      subresource needs, and whose answer carries the object's current uid;
//   3. POST the VPA owned by that uid, naming `recommender` (201 or 409 both fine); on 409 GET
//      the VPA and, when it is managed and names another recommender (or none), PATCH its
//      spec.recommenders to the configured one, conditionally on the resourceVersion read.
// Later sights refresh status.lastSeen (and re-create a missing VPA, and bring an existing
// one to the configured recommender) at most once per `refresh`; an AirflowTask deleted
// meanwhile is created again. Transport errors, 429 and 5xx
// are retried with backoff; other errors are logged, counted, and retried when the task is
// seen again after `backoff.max`.
//
// Every `gc_interval` the managed AirflowTasks are listed and those not seen for
// `forget_after` are deleted with a resourceVersion precondition (a replica that refreshed
// one meanwhile wins); the garbage collector deletes their VPAs. Then the managed VPAs are
// listed and counted by the recommender that serves them: those created `recommendation_grace`
// ago or more that still have no recommendation are "waiting", and a recommender with waiting
// VPAs and none recommended gets one warning line per round (nothing answers to its name).
//
// Metrics: avw_provision_total{result=created|exists|refreshed|error|dropped},
// avw_provision_gc_total{result=deleted|conflict|gone|error}, avw_provision_known_tasks,
// avw_provision_vpa_recommender_updates_total,
// avw_provision_vpas_without_recommendation{recommender},
// avw_provision_vpas_with_recommendation{recommender}.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "avw/core/task.hpp"
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

namespace avw::provision {

struct ProvisionerOptions {
  /// Off: observe() does nothing and nothing is listed or deleted.
  bool enabled = true;
  /// status.lastSeen of a task is written at most this often per replica (--provision-refresh).
  std::chrono::seconds refresh{3600};
  /// How often unseen tasks are looked for (--provision-gc-interval).
  std::chrono::milliseconds gc_interval{3'600'000};
  /// A task not seen for this long is deleted, with its VPA (--forget-after).
  std::chrono::seconds forget_after{30 * 24 * 3600};
  /// Observations queued for the control context; more are dropped and counted.
  std::size_t max_pending = 10'000;
  kube::BackoffPolicy backoff;
  /// The label keys the selectors spell out (as the webhook recognises task pods).
  core::TaskLabelKeys label_keys;
  /// AirflowTasks per list page in garbage collection.
  std::size_t gc_page_size = 500;
  /// The recommender every managed VPA names in spec.recommenders (--vpa-recommender); empty:
  /// none, so the cluster's default recommender serves them.
  std::string recommender;
  /// A managed VPA still without a recommendation this long after its creation counts as
  /// waiting (--missing-recommendation-after).
  std::chrono::seconds recommendation_grace{6 * 3600};
  /// VPAs per list page when counting waiting VPAs.
  std::size_t vpa_page_size = 500;
  /// The time written as lastSeen and compared with it; empty: the system clock.
  std::function<std::chrono::system_clock::time_point()> clock;
};

class Provisioner {
 public:
  virtual ~Provisioner() = default;
  /// A pod of this task was admitted. Any thread; cheap, never blocks.
  virtual void observe(const core::TaskKey& key) = 0;
  /// Starts garbage collection. Any thread.
  virtual void start() = 0;
  /// Stops: later observations are ignored, waits and retries end. Requests in flight finish
  /// (close the client to cut them). Any thread; also done by the destructor.
  virtual void stop() = 0;
};

/// The operations it started on `control` share `client`, so a suspended one destroyed with
/// the context after the provisioner still has it; `registry` must outlive them.
std::unique_ptr<Provisioner> make_provisioner(boost::asio::io_context& control, std::shared_ptr<kube::Client> client,
                                              ProvisionerOptions options, metrics::Registry& registry);

}  // namespace avw::provision
