// kube::Client and the cluster configuration loaders against the fake API server over TLS.
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>

#include "avw/core/base64.hpp"
#include "avw/kube/client.hpp"
#include "avw/kube/config.hpp"
#include "harness.hpp"
#include "support/net/socket_options.hpp"

using Catch::Matchers::Contains;
using avw::kube::Client;
using avw::kube::Response;
using avw::test::FakeApiServer;

namespace {

Response fetch(const avw::kube::ClusterConfig& config, const std::string& target, int times = 1) {
  boost::asio::io_context context;
  Client client(context, config);
  auto run = [&]() -> boost::asio::awaitable<Response> {
    Response last;
    for (int i = 0; i < times; ++i) last = co_await client.request({"GET", target, {}, "application/json"});
    co_return last;
  };
  auto result = boost::asio::co_spawn(context, run(), boost::asio::use_future);
  context.run();
  return result.get();
}

}  // namespace

TEST_CASE("the client reads an object over verified TLS with a bearer token", "[kube][client]") {
  FakeApiServer api;
  const Response r = fetch(avw::test::config_for(api), "/api/v1/namespaces/airflow/limitranges/airflow-container-limits");
  CHECK(r.status == 200);
  CHECK_THAT(r.body, Contains("\"airflow-container-limits\""));
}

TEST_CASE("plain requests reuse one keep-alive connection", "[kube][client]") {
  FakeApiServer api;
  const Response r = fetch(avw::test::config_for(api), "/api/v1/limitranges?limit=500", 5);
  CHECK(r.status == 200);
  CHECK(api.requests("/api/v1/limitranges") == 5);
  CHECK(api.connections() == 1);
}

TEST_CASE("connections to the API server have Nagle's algorithm off", "[kube][client]") {
  FakeApiServer api;
  boost::asio::io_context context;
  Client client(context, avw::test::config_for(api));
  auto run = [&]() -> boost::asio::awaitable<std::vector<bool>> {
    const Response r = co_await client.request({"GET", "/api/v1/limitranges?limit=500", {}, "application/json"});
    if (r.status != 200) throw std::runtime_error("status " + std::to_string(r.status));
    co_return avw::test::tcp_no_delay_of_sockets(0, api.port());  // the idle keep-alive connection
  };
  auto result = boost::asio::co_spawn(context, run(), boost::asio::use_future);
  context.run();
  CHECK(result.get() == std::vector<bool>{true});
}

TEST_CASE("error answers keep their status and Status message", "[kube][client]") {
  FakeApiServer api;
  api.fail_next(403, 1);
  const Response r = fetch(avw::test::config_for(api), "/apis/autoscaling.k8s.io/v1/verticalpodautoscalers");
  CHECK(r.status == 403);
  CHECK_THAT(avw::kube::describe(r), Contains("403 Forbidden: verticalpodautoscalers.autoscaling.k8s.io is forbidden"));

  auto wrong = avw::test::config_for(api);
  wrong.token = "not-a-valid-token";
  const Response unauthorized = fetch(wrong, "/api/v1/limitranges");
  CHECK(unauthorized.status == 401);
  CHECK(avw::kube::describe(unauthorized) == "401 Unauthorized: Unauthorized");
}

TEST_CASE("a server certificate from another CA is refused", "[kube][client]") {
  FakeApiServer api;
  FakeApiServer other;
  auto config = avw::test::config_for(api);
  config.ca_data = other.ca_pem();
  const Response r = fetch(config, "/api/v1/limitranges");
  CHECK(r.status == 0);
  CHECK_THAT(r.error, Contains("TLS handshake"));
  CHECK(api.requests() == 0);

  SECTION("unless verification is explicitly off") {
    config.insecure_skip_tls_verify = true;
    CHECK(fetch(config, "/api/v1/limitranges").status == 200);
  }
}

TEST_CASE("a server name that does not match the certificate is refused", "[kube][client]") {
  FakeApiServer api;
  auto config = avw::test::config_for(api);
  config.tls_server_name = "not-the-api-server.example";
  const Response r = fetch(config, "/api/v1/limitranges");
  CHECK(r.status == 0);
  CHECK_THAT(r.error, Contains("TLS handshake"));
}

TEST_CASE("a client certificate authenticates without a token", "[kube][client]") {
  FakeApiServer api;
  const auto pair = api.issue_client_certificate("webhook");
  auto config = avw::test::config_for(api);
  config.token.clear();
  config.client_cert_data = pair.cert;
  config.client_key_data = pair.key;
  CHECK(fetch(config, "/api/v1/limitranges").status == 200);

  config.client_cert_data.clear();
  config.client_key_data.clear();
  CHECK(fetch(config, "/api/v1/limitranges").status == 401);
}

TEST_CASE("unusable TLS material fails at construction with a clear error", "[kube][client]") {
  boost::asio::io_context context;
  avw::kube::ClusterConfig config;
  config.server = "https://127.0.0.1:1";
  SECTION("CA") {
    config.ca_data = "not a certificate";
    CHECK_THROWS_WITH(Client(context, config), Contains("certificate-authority-data"));
  }
  SECTION("CA file") {
    config.ca_file = "/nonexistent/ca.crt";
    CHECK_THROWS_WITH(Client(context, config), Contains("/nonexistent/ca.crt"));
  }
  SECTION("client key") {
    FakeApiServer api;
    config.ca_data = api.ca_pem();
    config.client_cert_data = api.issue_client_certificate("x").cert;
    config.client_key_data = "garbage";
    CHECK_THROWS_WITH(Client(context, config), Contains("client key"));
  }
}

TEST_CASE("the in-cluster configuration reads the service account files", "[kube][config]") {
  FakeApiServer api;
  avw::test::ScratchDir dir;
  avw::kube::InClusterPaths paths;
  paths.token = dir.write("token", api.token() + "\n");
  paths.ca = dir.write("ca.crt", api.ca_pem());
  paths.namespace_ = dir.write("namespace", "airflow");
  const auto config = avw::kube::in_cluster_config("127.0.0.1", std::to_string(api.port()), paths);
  CHECK(config.server == api.url());
  CHECK(config.token_file == paths.token.string());
  CHECK(config.namespace_ == "airflow");
  CHECK(fetch(config, "/api/v1/limitranges").status == 200);

  SECTION("a missing token file is an error at start") {
    paths.token = dir.path() / "absent";
    CHECK_THROWS_WITH(avw::kube::in_cluster_config("127.0.0.1", "443", paths), Contains("absent"));
  }
}

TEST_CASE("a kubeconfig file with relative paths and a client certificate works", "[kube][config]") {
  FakeApiServer api;
  avw::test::ScratchDir dir;
  const auto pair = api.issue_client_certificate("kubectl-user");
  dir.write("ca.crt", api.ca_pem());
  dir.write("client.key", pair.key);
  const auto path = dir.write("config",
                              "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
                              "contexts:\n- name: fake\n  context: {cluster: fake, user: me, namespace: airflow}\n"
                              "clusters:\n- name: fake\n  cluster:\n    server: " + api.url() +
                                  "\n    certificate-authority: ca.crt\n"
                                  "users:\n- name: me\n  user:\n    client-certificate-data: " +
                                  avw::core::base64_encode(pair.cert) + "\n    client-key: client.key\n");
  const auto config = avw::kube::load_kubeconfig(path);
  CHECK(config.ca_file == (dir.path() / "ca.crt").string());
  CHECK(fetch(config, "/api/v1/namespaces/airflow/limitranges").status == 200);

  CHECK_THROWS_WITH(avw::kube::load_kubeconfig(dir.path() / "missing"), Contains("cannot read"));
}
