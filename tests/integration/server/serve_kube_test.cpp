// The real binary with the Kubernetes API source (--kubeconfig) against the fake API server:
// it becomes ready after the first list and patches a pod from what it watched.
#include <catch2/catch.hpp>
#include <regex>

#include "avw/core/admission.hpp"
#include "avw/core/task.hpp"
#include "harness.hpp"
#include "support/fixtures.hpp"
#include "support/json_patch.hpp"
#include "support/net/admission_load.hpp"
#include "support/net/fake_api_server.hpp"
#include "support/net/https_client.hpp"
#include "support/net/tls_certs.hpp"
#include "support/net/webhook_process.hpp"

using namespace avw;
using namespace avw::test;

TEST_CASE("serve --kubeconfig patches pods from the VPAs it watches", "[server][kube]") {
  FakeApiServer api;
  // The fixture VPA etl-daily-load has no checkpoint: open the history gate for this test.
  WebhookProcess server(with_api(api, {"--min-history", "0", "--min-samples", "0"}));
  const ClientOptions options = server.client_options();
  REQUIRE(eventually([&] { return HttpsClient(server.port(), options).request("GET", "/readyz").status == 200; }));

  const std::string review = read_fixture("admission/kpo-pod.json");
  HttpsClient client(server.port(), options);
  const auto r = client.request("POST", "/mutate", review);
  REQUIRE(r.status == 200);
  const std::string pod = patched_pod(r, review);
  CHECK(json_at(pod, "/spec/containers/0/resources/requests/cpu") == "25m");
  CHECK(json_at(pod, "/metadata/annotations/airflow-vpa-webhook.io~1vpa") == "etl-daily-load");

  // A task that appears later (its AirflowTask and VPA arrive through the watches) is served
  // from the next snapshot.
  api.upsert("airflowtasks",
             R"({"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask","metadata":{"name":"etl-daily-report",)"
             R"("namespace":"airflow","creationTimestamp":"2026-11-23T18:00:00Z"},"spec":{"replicas":0},)"
             R"("status":{"replicas":0,"selector":"dag_id=etl_daily,task_id=report,kubernetes_pod_operator=True"}})");
  api.upsert("verticalpodautoscalers",
             R"({"apiVersion":"autoscaling.k8s.io/v1","kind":"VerticalPodAutoscaler","metadata":{"name":"etl-daily-report",)"
             R"("namespace":"airflow","creationTimestamp":"2026-11-23T18:00:00Z"},"spec":{"targetRef":{"apiVersion":)"
             R"("airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask","name":"etl-daily-report"},"updatePolicy":)"
             R"({"updateMode":"Off"}},"status":{"recommendation":{"containerRecommendations":[{"containerName":"base",)"
             R"("target":{"cpu":"333m","memory":"300Mi"}}]}}})");
  const std::string report = std::regex_replace(review, std::regex(R"("task_id": "load")"), R"("task_id": "report")");
  std::string cpu;
  CHECK(eventually([&] {
    const auto answer = HttpsClient(server.port(), options).request("POST", "/mutate", report);
    if (answer.status != 200 || !json_has(answer.body, "/response/patch")) return false;
    cpu = json_at(patched_pod(answer, report), "/spec/containers/0/resources/requests/cpu");
    return cpu == "333m";
  }));
  CHECK(cpu == "333m");
}

TEST_CASE("with the live source, a VPA without a checkpoint is held back by the history gate", "[server][kube]") {
  FakeApiServer api;
  WebhookProcess server(with_api(api, {}));
  const ClientOptions options = server.client_options();
  REQUIRE(eventually([&] { return HttpsClient(server.port(), options).request("GET", "/readyz").status == 200; }));
  const auto r = HttpsClient(server.port(), options).request("POST", "/audit", read_fixture("admission/kpo-pod.json"));
  REQUIRE(r.status == 200);
  CHECK_FALSE(json_has(r.body, "/response/patch"));
  CHECK(json_at(r.body, "/response/auditAnnotations/gates") == "history");
  // serve's logger counts the lines it would drop in the server's registry.
  const auto metrics = HttpsClient(server.port(), options).request("GET", "/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(metrics.body.find("\navw_log_lines_dropped_total 0\n") != std::string::npos);
}

TEST_CASE("task pods admitted on /mutate and /audit are provisioned, server-side dry runs never", "[server][kube][provision]") {
  FakeApiServer api;
  WebhookProcess server(with_api(api, {"--min-history", "0", "--min-samples", "0"}));
  const ClientOptions options = server.client_options();
  REQUIRE(eventually([&] { return HttpsClient(server.port(), options).request("GET", "/readyz").status == 200; }));
  auto name_of = [](std::string_view task) {
    return core::task_object_name({"airflow", "etl_daily", task, core::Launcher::PodOperator});
  };

  // A server-side dry run (kubectl create --dry-run=server) of the load task.
  HttpsClient client(server.port(), options);
  REQUIRE(client.request("POST", "/mutate", read_fixture("admission/dryrun.json")).status == 200);
  // Then a pod of another task in an audit namespace: observations are handled in order, so
  // once this one is provisioned the dry run would have been too.
  const std::string report = std::regex_replace(read_fixture("admission/kpo-pod.json"),
                                                std::regex(R"("task_id": "load")"), R"("task_id": "report")");
  REQUIRE(client.request("POST", "/audit", report).status == 200);
  CHECK(eventually([&] { return api.get("verticalpodautoscalers", "airflow", name_of("report")).has_value(); }));
  CHECK(api.get("airflowtasks", "airflow", name_of("report")).has_value());
  CHECK_FALSE(api.get("airflowtasks", "airflow", name_of("load")).has_value());

  // The real pod of the load task is provisioned.
  REQUIRE(client.request("POST", "/mutate", read_fixture("admission/kpo-pod.json")).status == 200);
  CHECK(eventually([&] { return api.get("verticalpodautoscalers", "airflow", name_of("load")).has_value(); }));
  const auto task = api.get("airflowtasks", "airflow", name_of("load"));
  REQUIRE(task);
  CHECK(json_at(*task, "/status/selector") == "dag_id=etl_daily,kubernetes_pod_operator=True,task_id=load");
}

TEST_CASE("with --disable-provisioning nothing is created", "[server][kube][provision]") {
  FakeApiServer api;
  WebhookProcess server(with_api(api, {"--disable-provisioning"}));
  const ClientOptions options = server.client_options();
  REQUIRE(eventually([&] { return HttpsClient(server.port(), options).request("GET", "/readyz").status == 200; }));
  const std::size_t before = api.object_count("airflowtasks");
  REQUIRE(HttpsClient(server.port(), options).request("POST", "/mutate", read_fixture("admission/kpo-pod.json")).status == 200);
  // The answer was written after the decision, and observe() would have been queued before it;
  // give the control thread a moment and check nothing arrived.
  CHECK_FALSE(eventually([&] { return api.object_count("airflowtasks") != before; }, std::chrono::milliseconds(500)));
}

TEST_CASE("namespace annotations read through the API override the safety gates", "[server][kube][gates]") {
  FakeApiServer api;
  auto namespace_with = [](std::string_view annotations) {
    return R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"airflow","labels":)"
           R"({"airflow-vpa-webhook.io/mode":"dry-run"},"annotations":{)" +
           std::string(annotations) + "}}}";
  };
  // The team vouches for its recommendations: no history needed in this namespace.
  api.upsert("namespaces", namespace_with(R"("airflow-vpa-webhook.io/min-history":"0",)"
                                          R"("airflow-vpa-webhook.io/min-samples":"0")"));
  WebhookProcess server(with_api(api, {}));
  const ClientOptions options = server.client_options();
  REQUIRE(eventually([&] { return HttpsClient(server.port(), options).request("GET", "/readyz").status == 200; }));
  const std::string review = read_fixture("admission/kpo-pod.json");
  auto gates_of = [&] {
    const auto r = HttpsClient(server.port(), options).request("POST", "/audit", review);
    REQUIRE(r.status == 200);
    return json_has(r.body, "/response/auditAnnotations/gates") ? json_at(r.body, "/response/auditAnnotations/gates")
                                                                : std::string("none");
  };
  CHECK(gates_of() == "none");

  // The annotation removed through the watch: the default history gate holds the VPA back again.
  api.upsert("namespaces", namespace_with(R"("team":"data")"));
  CHECK(eventually([&] { return gates_of() == "history"; }));
}
