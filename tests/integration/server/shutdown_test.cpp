// The real binary under SIGTERM: every request a client sent is answered, then it exits 0.
#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <mutex>
#include <regex>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "support/net/process.hpp"

using namespace avw;
using namespace avw::test;

TEST_CASE("SIGTERM with requests in flight loses none and exits 0", "[server][shutdown]") {
  WebhookProcess server(with_recommendations(example_recommendations(), {"--shutdown-timeout", "30s"}));
  const ClientOptions options = server.client_options();
  REQUIRE(eventually([&] { return HttpsClient(server.port(), options).request("GET", "/readyz").status == 200; }));
  const std::string review = read_fixture("admission/kpo-pod.json");

  constexpr int kConnections = 8;
  std::atomic<int> answered{0};
  std::mutex mutex;
  std::vector<std::string> failures;
  std::vector<int> closed_by_server(kConnections, 0);
  std::vector<std::thread> clients;
  for (int i = 0; i < kConnections; ++i) {
    clients.emplace_back([&, i] {
      try {
        HttpsClient client(server.port(), options);
        for (;;) {
          const auto r = client.request("POST", "/mutate", review);
          if (r.status != 200) {
            std::lock_guard lock(mutex);
            failures.push_back("status " + std::to_string(r.status));
          }
          ++answered;
          if (!r.keep_alive) {
            closed_by_server[static_cast<std::size_t>(i)] = 1;
            return;
          }
        }
      } catch (const std::exception& e) {
        std::lock_guard lock(mutex);
        failures.push_back(e.what());
      }
    });
  }
  // Every connection is busy before the signal.
  CHECK(eventually([&] { return answered.load() >= kConnections * 5; }));
  server.process().signal(SIGTERM);
  for (auto& t : clients) t.join();

  const auto code = server.process().wait_for(std::chrono::seconds(30));
  INFO(server.log());
  CHECK(failures.empty());
  for (const auto& f : failures) UNSCOPED_INFO(f);
  CHECK(std::count(closed_by_server.begin(), closed_by_server.end(), 1) == kConnections);
  REQUIRE(code);
  CHECK(*code == 0);
  const std::string log = server.log();
  CHECK(log.find("\"msg\":\"shutting down") != std::string::npos);
  CHECK(log.find("\"outcome\":\"patched\"") != std::string::npos);
}

TEST_CASE("SIGTERM on an idle server exits 0 promptly", "[server][shutdown]") {
  WebhookProcess server(with_recommendations(example_recommendations()));
  {
    HttpsClient idle(server.port(), server.client_options());
    CHECK(idle.request("GET", "/healthz").status == 200);
    server.process().signal(SIGTERM);
    CHECK(idle.wait_closed_by_server());
  }
  const auto code = server.process().wait_for(std::chrono::seconds(20));
  REQUIRE(code);
  CHECK(*code == 0);
}

TEST_CASE("serve reports start-up problems in one line", "[server][cli]") {
  TempDir dir;
  struct Row {
    std::vector<std::string> args;
    int code;
    std::string message;
  };
  const Row row = GENERATE(values<Row>({
      {{"serve"}, 2, "airflow-vpa-webhook: serve: --tls-cert FILE and --tls-key FILE are required\n"},
      {{"serve", "--tls-cert", "/nonexistent/c", "--tls-key", "/nonexistent/k"},
       2,
       "airflow-vpa-webhook: serve: not running in a Kubernetes cluster: KUBERNETES_SERVICE_HOST and "
       "KUBERNETES_SERVICE_PORT are not set (use --kubeconfig FILE outside a cluster)\n"},
      {{"serve", "--tls-cert", "/nonexistent/c", "--tls-key", "/nonexistent/k", "--recommendations", "r.json"},
       1,
       "airflow-vpa-webhook: serve: cannot read TLS certificate /nonexistent/c: No such file or directory\n"},
      {{"serve", "--threads", "zero"}, 2, "airflow-vpa-webhook: --threads: \"zero\" is not a whole number\n"},
  }));
  // Outside a cluster whatever machine runs the tests: no in-cluster service variables.
  std::vector<std::string> argv = {"/usr/bin/env", "-u", "KUBERNETES_SERVICE_HOST", "-u", "KUBERNETES_SERVICE_PORT",
                                   AVW_BINARY};
  argv.insert(argv.end(), row.args.begin(), row.args.end());
  CHECK(run_process(argv, stdio("/dev/null", dir.file("err"))) == row.code);
  CHECK(read_file(dir.file("err")) == row.message);
}
