// The API source: one kube::Reflector per resource and namespace, feeding a snapshot
// aggregator (see api_source.hpp).
#include "avw/source/api_source.hpp"

#include <utility>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>

#include "avw/kube/client.hpp"
#include "avw/kube/reflector.hpp"
#include "avw/kube/url.hpp"
#include "resource_objects.hpp"
#include "scale_targets.hpp"
#include "snapshot_aggregator.hpp"

namespace avw::source {
namespace {

namespace net = boost::asio;  // from <boost/asio.hpp>

struct Resource {
  Kind kind;
  std::string_view api_prefix;  // "/apis/<group>/<version>" or "/api/v1"
  std::string_view plural;      // also the metric label
  bool optional;                // a missing CRD (404 on list) counts as an empty list
  bool cluster_scoped = false;  // one reflector for the cluster, whatever the namespaces option
};

constexpr Resource kVpas{Kind::Vpa, "/apis/autoscaling.k8s.io/v1", "verticalpodautoscalers", false};
constexpr Resource kAirflowTasks{Kind::AirflowTask, "/apis/airflow-vpa-webhook.io/v1alpha1", "airflowtasks", true};
constexpr Resource kLimitRanges{Kind::LimitRange, "/api/v1", "limitranges", false};
constexpr Resource kCheckpoints{Kind::Checkpoint, "/apis/autoscaling.k8s.io/v1",
                                "verticalpodautoscalercheckpoints", true};
// Namespace annotations override the safety gates per namespace (core/gates.hpp).
constexpr Resource kNamespaces{Kind::Namespace, "/api/v1", "namespaces", false, true};

// The reflector of `resource` in `namespace_` (empty: all namespaces).
kube::ReflectorOptions reflector_options(const Resource& resource, const std::string& namespace_,
                                         const ApiSourceOptions& o) {
  kube::ReflectorOptions r;
  r.collection_path = std::string(resource.api_prefix);
  if (!namespace_.empty()) r.collection_path += "/namespaces/" + kube::url_encode(namespace_);
  r.collection_path += "/" + std::string(resource.plural);
  r.resource = std::string(resource.plural);
  r.label = namespace_.empty() ? r.resource : r.resource + " in " + namespace_;
  r.page_size = o.page_size;
  r.watch_timeout = o.watch_timeout;
  r.watch_grace = o.watch_grace;
  r.resync = o.resync;
  r.backoff = o.backoff;
  r.optional = resource.optional;
  r.missing_retry = o.missing_retry;
  return r;
}

// Everything the source runs, on the control context.
class State {
 public:
  State(net::io_context& context, kube::ClusterConfig config, const ApiSourceOptions& options,
        metrics::Registry& registry)
      : client_(std::make_shared<kube::Client>(context, std::move(config), options.client)),
        scale_targets_(std::make_shared<ScaleTargets>(
            context, client_, ScaleTargetsOptions{options.scale_refresh, options.backoff.max}, registry)),
        aggregator_(std::make_shared<SnapshotAggregator>(context, options.store, options.coalesce, scale_targets_,
                                                         registry)) {
    std::vector<const Resource*> resources{&kVpas, &kAirflowTasks, &kLimitRanges};
    if (options.watch_checkpoints) resources.push_back(&kCheckpoints);
    if (options.watch_namespaces) resources.push_back(&kNamespaces);
    std::vector<std::string> scopes = options.namespaces;
    if (scopes.empty()) scopes.emplace_back();
    const std::vector<std::string> cluster{std::string()};
    for (const Resource* r : resources) {
      for (const auto& ns : r->cluster_scoped ? cluster : scopes) {
        reflectors_.push_back(std::make_unique<kube::Reflector>(context, client_, reflector_options(*r, ns, options),
                                                                aggregator_->add_collection(r->kind), registry));
      }
    }
  }

  void start(Publish publish) {
    aggregator_->start(std::move(publish));
    for (auto& r : reflectors_) r->start();
    scale_targets_->start([aggregator = std::weak_ptr(aggregator_)] {
      if (auto a = aggregator.lock()) a->mark_dirty();
    });
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    for (auto& r : reflectors_) r->stop();
    scale_targets_->stop();
    aggregator_->stop();
    client_->close();
  }

  const SnapshotAggregator& aggregator() const { return *aggregator_; }

 private:
  std::shared_ptr<kube::Client> client_;
  std::shared_ptr<ScaleTargets> scale_targets_;
  std::shared_ptr<SnapshotAggregator> aggregator_;
  // After the aggregator, whose collections they report to: destroyed first.
  std::vector<std::unique_ptr<kube::Reflector>> reflectors_;
  bool stopped_ = false;
};

class ApiSource final : public RecommendationSource {
 public:
  ApiSource(net::io_context& context, std::shared_ptr<State> state) : context_(context), state_(std::move(state)) {}
  ~ApiSource() override { stop(); }
  ApiSource(const ApiSource&) = delete;
  ApiSource& operator=(const ApiSource&) = delete;

  // source::RecommendationSource
  void start(Publish publish) override { state_->start(std::move(publish)); }
  void stop() override {
    // The state belongs to the control context: it is stopped there, and each coroutine
    // keeps what it uses alive until it has seen the stop.
    net::dispatch(context_, [state = state_] { state->stop(); });
  }
  bool synced() const override { return state_->aggregator().synced(); }
  std::optional<std::chrono::system_clock::time_point> last_sync() const override {
    return state_->aggregator().last_sync();
  }

 private:
  net::io_context& context_;
  std::shared_ptr<State> state_;
};

}  // namespace

std::unique_ptr<RecommendationSource> make_api_source(net::io_context& control, kube::ClusterConfig config,
                                                      ApiSourceOptions options, metrics::Registry& registry) {
  auto state = std::make_shared<State>(control, std::move(config), options, registry);
  return std::make_unique<ApiSource>(control, std::move(state));
}

}  // namespace avw::source
