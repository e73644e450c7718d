// File: api_source.hpp
//
// source::ApiSource: recommendations from the Kubernetes API. Each resource it needs
// (VerticalPodAutoscalers, AirflowTasks, LimitRanges, VerticalPodAutoscalerCheckpoints, and
// Namespaces for their gate-override annotations) is kept in view by one kube::Reflector per
// namespace, which lists it (paginated) and then watches from the list's resourceVersion. A
// snapshot aggregator keeps one map per resource and namespace, coalesces the changes and
// publishes a new core::Snapshot:
//
//   - a watch that times out or drops resumes from the last resourceVersion seen (events and
//     bookmarks both advance it);
//   - "410 Expired" (an ERROR event in a 200 stream, or an HTTP 410, or an expired continue
//     token) starts a new list;
//   - other failures retry with exponential backoff and jitter; the published snapshot
//     stays as it was, so an unreachable API server never empties the store;
//   - a full relist every `resync` bounds the damage of any missed event;
//   - a missing CRD (404 on list) of AirflowTasks or checkpoints counts as an empty list and
//     is retried, so readiness does not wait for an optional resource;
//   - VPAs whose target is not an AirflowTask get their selector from the target's /scale
//     subresource (cached, refreshed periodically); no other kind is watched.
//
// Everything runs on the control io_context given to make_api_source().
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "avw/core/store.hpp"
#include "avw/kube/backoff.hpp"
#include "avw/kube/config.hpp"
#include "avw/source/source.hpp"

namespace boost::asio {
class io_context;
}
namespace avw::metrics {
class Registry;
}

namespace avw::source {

struct ApiSourceOptions {
  /// Namespaces to read; empty: all namespaces (cluster-wide list and watch).
  std::vector<std::string> namespaces;
  core::StoreOptions store;
  kube::ClientOptions client;
  /// Objects per list page (`limit`).
  std::uint32_t page_size = 500;
  /// A watch asks the server to end it after watch_timeout plus up to 100 % jitter
  /// (`timeoutSeconds`), as client-go's reflector does (5..10 min).
  std::chrono::seconds watch_timeout{300};
  /// How long after its timeoutSeconds a silent watch is considered dead.
  std::chrono::seconds watch_grace{30};
  /// Full relist of every resource this often.
  std::chrono::seconds resync{1800};
  /// Rebuilds happen at most this often while events arrive.
  std::chrono::milliseconds coalesce{150};
  kube::BackoffPolicy backoff;
  /// How often a resource whose CRD is missing (404) is listed again.
  std::chrono::milliseconds missing_retry{60'000};
  /// How often /scale of non-AirflowTask targets is read again.
  std::chrono::milliseconds scale_refresh{300'000};
  /// Read VerticalPodAutoscalerCheckpoints (the history gate needs them).
  bool watch_checkpoints = true;
  /// Read Namespaces (cluster-wide, whatever `namespaces` says): their annotations override
  /// the safety gates per namespace.
  bool watch_namespaces = true;
};

/// Builds the source. Throws ConfigError when `config` cannot be used (bad CA, key, URL).
/// `registry` must outlive the source.
std::unique_ptr<RecommendationSource> make_api_source(boost::asio::io_context& control, kube::ClusterConfig config,
                                                      ApiSourceOptions options, metrics::Registry& registry);

}  // namespace avw::source
