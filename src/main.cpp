// airflow-vpa-webhook: wiring only. Flags -> Config (cli), then the offline `review` or
// `report`, or `serve`: logging, metrics, the HTTPS server and a recommendation source.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "avw/cli/config.hpp"
#include "avw/cli/logging.hpp"
#include "avw/cli/report.hpp"
#include "avw/cli/review.hpp"
#include "avw/kube/client.hpp"
#include "avw/loop/run_watch.hpp"
#include "avw/metrics/metrics.hpp"
#include "avw/provision/provisioner.hpp"
#include "avw/server/server.hpp"
#include "avw/source/api_source.hpp"
#include "avw/source/file_source.hpp"
#include "avw/source/observed_source.hpp"

namespace {

using namespace avw;

constexpr std::string_view kProgram = "airflow-vpa-webhook";

using SourceFactory =
    std::function<std::unique_ptr<source::RecommendationSource>(boost::asio::io_context&, metrics::Registry&)>;

/// The recommendation source the flags ask for, its configuration read before anything
/// starts: --recommendations FILE, else the Kubernetes API through --kubeconfig FILE or, with
/// neither, the in-cluster service account.
SourceFactory make_source(const cli::Config& config, std::optional<kube::ClusterConfig>& cluster_out) {
  if (!config.recommendations.empty()) {
    source::FileSourceOptions options;
    options.path = config.recommendations;
    options.store = config.store;
    return [options](boost::asio::io_context& control, metrics::Registry& registry) {
      return std::make_unique<source::FileSource>(control, options, &registry);
    };
  }
  kube::ClusterConfig cluster;
  try {
    cluster = config.kubeconfig.empty() ? kube::load_in_cluster_config() : kube::load_kubeconfig(config.kubeconfig);
  } catch (const kube::ConfigError& e) {
    throw cli::UsageError(std::string("serve: ") + e.what());
  }
  cluster_out = cluster;
  source::ApiSourceOptions options;
  options.store = config.store;
  // The live source reads checkpoints: no checkpoint means no history yet, never "gate off".
  options.store.checkpoints_authoritative = options.watch_checkpoints;
  return [cluster, options](boost::asio::io_context& control, metrics::Registry& registry) {
    return source::make_api_source(control, cluster, options, registry);
  };
}

/// Provisioning: AirflowTasks and VPAs for the tasks admitted, with the API source only.
/// Made before the server runs, so the workers' observer points at a provisioner that exists.
struct Provisioning {
  Provisioning() = default;
  Provisioning(const Provisioning&) = delete;
  Provisioning& operator=(const Provisioning&) = delete;

  // Shared with the provisioner's coroutines, as the closed loop's client is with its watch.
  std::shared_ptr<kube::Client> client;
  std::unique_ptr<provision::Provisioner> provisioner;

  void start(boost::asio::io_context& control, const kube::ClusterConfig& cluster, const cli::Config& config,
             metrics::Registry& registry) {
    using std::chrono::duration_cast;
    client = std::make_shared<kube::Client>(control, cluster);
    provision::ProvisionerOptions options;
    options.refresh = duration_cast<std::chrono::seconds>(config.provision_refresh);
    options.gc_interval = config.provision_gc_interval;
    options.forget_after = duration_cast<std::chrono::seconds>(config.forget_after);
    options.label_keys = config.decision().keys;
    options.recommender = config.vpa_recommender;
    options.recommendation_grace = duration_cast<std::chrono::seconds>(config.missing_recommendation_after);
    provisioner = provision::make_provisioner(control, client, options, registry);
    provisioner->start();
  }
  ~Provisioning() {
    if (provisioner) provisioner->stop();
    if (client) client->close();
  }
};

/// The closed loop: the task-pod watch that learns from each run's end, with the API source
/// only. It decides with the snapshots the source publishes.
struct ClosedLoop {
  ClosedLoop() = default;
  ClosedLoop(const ClosedLoop&) = delete;
  ClosedLoop& operator=(const ClosedLoop&) = delete;

  // Shared with the watch's coroutines: a watch suspended when the io_context is destroyed is
  // destroyed with it, after this object, and still needs its client.
  std::shared_ptr<kube::Client> client;
  std::unique_ptr<loop::RunWatch> watch;

  void start(boost::asio::io_context& control, const kube::ClusterConfig& cluster, const cli::Config& config,
             metrics::Registry& registry) {
    client = std::make_shared<kube::Client>(control, cluster);
    loop::RunWatchOptions options;
    options.decision = config.decision();
    options.dry_run = config.server.dry_run;
    // The pod's name (the kubelet sets HOSTNAME to it) names this replica in the Events.
    if (const char* host = std::getenv("HOSTNAME"); host != nullptr && *host != '\0') options.instance = host;
    watch = loop::make_run_watch(control, client, std::move(options), registry);
    watch->start();
  }
  ~ClosedLoop() {
    if (watch) watch->stop();
    if (client) client->close();
  }
};

int serve(const cli::Config& config) {
  std::optional<kube::ClusterConfig> cluster;
  const SourceFactory make = make_source(config, cluster);
  metrics::Registry registry;  // before the logger, which counts its dropped lines in it
  cli::configure_logging(config.log_format, config.log_level,
                         &registry.counter("avw_log_lines_dropped_total",
                                           "Log lines dropped because stderr did not keep up."));
  // However serve() ends, destroying the logger writes out the lines still buffered.
  struct LoggingShutdown {
    ~LoggingShutdown() { spdlog::shutdown(); }
  } logging_shutdown;
  try {
    server::Server server(config.server, registry);
    // Declared after the server: the loop, the provisioner and their clients go before the
    // io_context; the source, which tells the loop, goes before the loop.
    ClosedLoop closed_loop;
    if (cluster && config.run_watch) closed_loop.start(server.control_context(), *cluster, config, registry);
    auto source = make(server.control_context(), registry);
    if (closed_loop.watch) {
      source = source::observed(std::move(source), [watch = closed_loop.watch.get()](auto snapshot) {
        watch->publish(std::move(snapshot));
      });
    }
    // Declared after the server too: the workers, which observe through it, stop first.
    Provisioning provisioning;
    if (cluster && config.provision) {
      provisioning.start(server.control_context(), *cluster, config, registry);
      server.observe_task_pods(
          [provisioner = provisioning.provisioner.get()](const core::TaskKey& key) { provisioner->observe(key); });
    }
    server.run(*source);
  } catch (const server::StartupError& e) {
    spdlog::shutdown();  // the buffered lines go before this one
    std::fprintf(stderr, "%s: serve: %s\n", kProgram.data(), e.what());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  try {
    const cli::Config config = cli::parse_args(args);
    switch (config.command) {
      case cli::Command::Help:
        std::cout << cli::usage(config.help_topic);
        return 0;
      case cli::Command::Version:
        std::cout << kProgram << " " << cli::version() << "\n";
        return 0;
      case cli::Command::Review:
        return cli::run_review(config, std::cin, std::cout, std::cerr);
      case cli::Command::Report:
        return cli::run_report(config, std::cout, std::cerr);
      case cli::Command::Serve:
        return serve(config);
    }
  } catch (const cli::UsageError& e) {
    std::fprintf(stderr, "%s: %s\n", kProgram.data(), e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kProgram.data(), e.what());
    return 1;
  }
  return 0;
}
