#include "report_input.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <exception>
#include <fstream>
#include <iterator>
#include <string_view>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "avw/core/decode_error.hpp"
#include "avw/core/object_list.hpp"
#include "avw/kube/client.hpp"
#include "avw/kube/url.hpp"
#include "avw/source/file_source.hpp"

namespace avw::cli {
namespace {

namespace net = boost::asio;

void add_fleet(core::FleetObjects& into, core::FleetObjects&& more) {
  std::move(more.tasks.begin(), more.tasks.end(), std::back_inserter(into.tasks));
  std::move(more.vpas.begin(), more.vpas.end(), std::back_inserter(into.vpas));
  std::move(more.errors.begin(), more.errors.end(), std::back_inserter(into.errors));
}

// What the snapshot needs (as the API source lists it) plus the AirflowTasks the report reads.
struct Collection {
  std::string_view api_prefix;
  std::string_view plural;
  bool optional;       // a missing CRD (404) is an empty list
  bool fleet_objects;  // its items also feed decode_fleet_objects()
};
constexpr std::array<Collection, 5> kCollections = {{
    {"/apis/autoscaling.k8s.io/v1", "verticalpodautoscalers", false, true},
    {"/apis/airflow-vpa-webhook.io/v1alpha1", "airflowtasks", false, true},
    {"/api/v1", "limitranges", false, false},
    {"/apis/autoscaling.k8s.io/v1", "verticalpodautoscalercheckpoints", true, false},
    {"/api/v1", "namespaces", false, false},
}};
constexpr std::size_t kPageSize = 500;

struct ClusterRead {
  kube::Client& client;
  core::SnapshotBuilder& builder;
  ReportInput& input;
  const core::TaskLabelKeys& keys;
};

net::awaitable<void> list_collection(ClusterRead& read, const Collection& c) {
  const std::string path = std::string(c.api_prefix) + "/" + std::string(c.plural);
  std::string continue_token;
  do {
    std::string target = path + "?limit=" + std::to_string(kPageSize);
    if (!continue_token.empty()) target += "&continue=" + kube::url_encode(continue_token);
    const kube::Response r = co_await read.client.request(kube::Request("GET", target));
    if (r.status == 404 && c.optional) co_return;
    // The pages so far are in the snapshot already; a list that expired halfway cannot be
    // completed consistently, and is rare enough that running the report again is the remedy.
    if (r.status == 410 && !continue_token.empty()) {
      throw ReportInputError("list " + std::string(c.plural) + ": expired while it was read; run report again");
    }
    if (!r.ok()) throw ReportInputError("list " + std::string(c.plural) + ": " + kube::describe(r));
    try {
      core::DecodedObjects page = core::decode_objects(r.body);
      if (c.fleet_objects) add_fleet(read.input.fleet, core::decode_fleet_objects(r.body, read.keys));
      std::move(page.errors.begin(), page.errors.end(), std::back_inserter(read.input.skipped));
      continue_token = std::move(page.list_continue);
      read.builder.add(page);
    } catch (const core::DecodeError& e) {
      throw ReportInputError("list " + std::string(c.plural) + ": " + e.what());
    }
  } while (!continue_token.empty());
}

net::awaitable<void> list_all(ClusterRead read) {
  for (const Collection& c : kCollections) co_await list_collection(read, c);
}

}  // namespace

ReportInput read_report_file(const Config& config) {
  ReportInput input;
  source::LoadedRecommendations loaded;
  try {
    loaded = source::load_recommendations(config.recommendations, config.store);
  } catch (const source::LoadError& e) {
    throw ReportInputError(e.what());
  }
  input.snapshot = std::move(loaded.snapshot);
  input.skipped = std::move(loaded.skipped);

  // The store keeps what admission needs; the tasks' status is read from the file again.
  std::ifstream file(config.recommendations, std::ios::binary);
  if (!file) throw ReportInputError("cannot open " + config.recommendations + ": " + std::strerror(errno));
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) throw ReportInputError("cannot read " + config.recommendations);
  try {
    input.fleet = core::decode_fleet_objects(text, config.decision().keys);
  } catch (const core::DecodeError& e) {
    throw ReportInputError(config.recommendations + ": " + e.what());
  }
  std::move(input.fleet.errors.begin(), input.fleet.errors.end(), std::back_inserter(input.skipped));
  input.fleet.errors.clear();
  return input;
}

ReportInput read_report_cluster(const kube::ClusterConfig& cluster, const Config& config) {
  net::io_context context;
  std::unique_ptr<kube::Client> client;
  try {
    client = std::make_unique<kube::Client>(context, cluster);
  } catch (const kube::ConfigError& e) {
    throw ReportInputError(e.what());
  }
  core::StoreOptions store = config.store;
  // As serve's API source: the cluster's checkpoints are all there is of history.
  store.checkpoints_authoritative = true;
  core::SnapshotBuilder builder(store);
  ReportInput input;
  std::exception_ptr failure;
  net::co_spawn(context, list_all({*client, builder, input, config.decision().keys}),
                [&failure](std::exception_ptr e) { failure = std::move(e); });
  context.run();
  client->close();
  if (failure) std::rethrow_exception(failure);
  std::move(input.fleet.errors.begin(), input.fleet.errors.end(), std::back_inserter(input.skipped));
  input.fleet.errors.clear();
  input.snapshot = builder.finish();
  return input;
}

}  // namespace avw::cli
