// The closed loop end to end: real webhook processes (--kubeconfig) against the test API
// server, which serves task pods and takes Events as the captured kube-apiserver did
// (tests/fixtures/api/watch-task-pods.ndjson, create-event-*.json). A task sized below its need
// is OOMKilled; its next run is admitted with memory of at least the floor the kill set, by
// every replica and after a restart; the AirflowTask's status and an Event say why.
#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "avw/core/objects.hpp"
#include "avw/core/task.hpp"
#include "support/json_patch.hpp"
#include "support/net/admission_load.hpp"
#include "support/net/fake_api_server.hpp"
#include "support/net/https_client.hpp"
#include "support/net/tls_certs.hpp"
#include "support/net/webhook_process.hpp"

using namespace avw;
using namespace avw::test;

namespace {

const core::TaskKey kLoad{"airflow", "etl", "load", core::Launcher::PodOperator};
const std::string kTaskName = core::task_object_name(kLoad);

// The history gate needs checkpoints this test does not make.
const std::vector<std::string> kFlags = {"--min-history", "0", "--min-samples", "0"};

std::string enforced_namespace() {
  return R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"airflow","labels":{"airflow-vpa-webhook.io/mode":"enforce"}}})";
}

/// The task's AirflowTask and its VPA, whose memory target is `memory`.
void add_task(FakeApiServer& api, std::string_view memory) {
  api.upsert("airflowtasks",
             make_airflow_task("airflow", kTaskName, "dag_id=etl,task_id=load,kubernetes_pod_operator=True"));
  api.upsert("verticalpodautoscalers", make_vpa("airflow", kTaskName, kTaskName, "250m", memory));
}

/// A CREATE AdmissionReview of `pod` (a task pod as make_task_pod writes it).
std::string review_of(const std::string& pod) {
  return R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"0b7c1f3e-1111-4e2a-9d1c-5a0e3c1f2b77",)"
         R"("kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},)"
         R"("namespace":"airflow","operation":"CREATE","userInfo":{"username":"system:serviceaccount:airflow:scheduler"},)"
         R"("object":)" + pod + R"(,"oldObject":null,"dryRun":false,"options":{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1"}}})";
}

struct Sized {
  std::string request;
  std::string limit;
};

/// What the webhook sets the base container's memory to (the pod's own values if no patch).
std::optional<Sized> admitted(const WebhookProcess& server, const std::string& pod) {
  const std::string review = review_of(pod);
  const auto answer = HttpsClient(server.port(), server.client_options()).request("POST", "/mutate", review);
  if (answer.status != 200) return std::nullopt;
  const std::string stored = json_has(answer.body, "/response/patch") ? patched_pod(answer, review) : pod;
  return Sized{json_at(stored, "/spec/containers/0/resources/requests/memory"),
               json_at(stored, "/spec/containers/0/resources/limits/memory")};
}

/// Waits until `server` sizes `pod` to `request` / `limit`.
bool sizes_to(const WebhookProcess& server, const std::string& pod, const std::string& request, const std::string& limit) {
  std::optional<Sized> last;
  const bool ok = eventually([&] {
    last = admitted(server, pod);
    return last && last->request == request && last->limit == limit;
  });
  if (!ok && last) WARN("sized to " << last->request << " / " << last->limit);
  return ok;
}

std::optional<double> metric(const WebhookProcess& server, const std::string& series) {
  const auto r = HttpsClient(server.port(), server.client_options()).request("GET", "/metrics");
  const auto at = r.body.find("\n" + series + " ");
  if (at == std::string::npos) return std::nullopt;
  return std::stod(r.body.substr(at + series.size() + 2));
}

/// One run of the task: created, running, its base container ended as `end` says.
void run(FakeApiServer& api, TaskPod pod, const ContainerEnd& end) {
  const std::string created = make_task_pod(pod);
  api.upsert("pods", created);
  const std::string running = with_containers_running(created, end.started_at);
  api.upsert("pods", running);
  api.upsert("pods", with_container_ended(running, end));
}

std::optional<std::string> task_status(const FakeApiServer& api, std::string_view pointer) {
  const auto task = api.get("airflowtasks", "airflow", kTaskName);
  if (!task || !json_has(*task, std::string("/status/oomKills") + std::string(pointer))) return std::nullopt;
  return json_at(*task, std::string("/status/oomKills") + std::string(pointer));
}

}  // namespace

TEST_CASE("an OOM kill raises the task's next memory, in every replica and after a restart", "[loop][integration]") {
  FakeApiServer api(FakeApiServer::Options{false});
  api.upsert("namespaces", enforced_namespace());
  // The recommendation is below the task's need: 250Mi, and the pods keep a 2x limit.
  add_task(api, "250Mi");
  auto a = std::make_unique<WebhookProcess>(with_api(api, kFlags));
  auto b = std::make_unique<WebhookProcess>(with_api(api, kFlags));

  TaskPod today("etl-load-day1", "etl", "load");
  today.run_id = "scheduled__2026-12-06T00:00:00+00:00";
  today.containers = {TaskPodContainer("base", "300Mi", "600Mi")};
  REQUIRE(sizes_to(*a, make_task_pod(today), "250Mi", "500Mi"));

  // The pod ran as sized and the kernel killed it at its limit.
  today.containers = {TaskPodContainer("base", "250Mi", "500Mi")};
  ContainerEnd killed;
  killed.finished_at = "2026-12-06T18:26:27Z";
  run(api, today, killed);

  // The AirflowTask records it, once, whichever replica wrote it.
  REQUIRE(eventually([&] { return task_status(api, "/0/memoryRequest") == "250Mi"; }));
  CHECK(task_status(api, "/0/container") == "base");
  CHECK(task_status(api, "/0/memoryLimit") == "500Mi");
  CHECK(task_status(api, "/0/killedAt") == "2026-12-06T18:26:27Z");
  CHECK(task_status(api, "/0/pod") == "etl-load-day1");
  CHECK(task_status(api, "/0/runId") == today.run_id);
  CHECK(task_status(api, "/0/tryNumber") == "1");
  CHECK(task_status(api, "/0/kills") == "1");

  // An Event on the AirflowTask, as kubectl describe shows it.
  REQUIRE(eventually([&] { return api.events().size() == 1; }));
  const std::string event = api.events().front();
  CHECK(json_at(event, "/apiVersion") == "events.k8s.io/v1");
  CHECK(json_at(event, "/type") == "Warning");
  CHECK(json_at(event, "/reason") == "OOMKilled");
  CHECK(json_at(event, "/action") == "RaiseMemoryFloor");
  CHECK(json_at(event, "/reportingController") == "airflow-vpa-webhook.io/webhook");
  CHECK(json_at(event, "/regarding/kind") == "AirflowTask");
  CHECK(json_at(event, "/regarding/name") == kTaskName);
  CHECK(json_at(event, "/regarding/uid") == json_at(*api.get("airflowtasks", "airflow", kTaskName), "/metadata/uid"));
  CHECK_THAT(json_at(event, "/note"),
             Catch::Contains("container base of pod etl-load-day1 (try 1) was OOMKilled with memory request 250Mi, "
                             "limit 500Mi; the task's next pods get at least 350Mi memory request and 600Mi limit"));

  // The next day's run, a new run_id on try 1: at least max(1.2 x 250Mi, 250Mi + 100Mi) =
  // 350Mi, its limit scaled with it (700Mi, above the limit's floor of 600Mi). Both replicas.
  TaskPod tomorrow("etl-load-day2", "etl", "load");
  tomorrow.run_id = "scheduled__2026-12-07T00:00:00+00:00";
  tomorrow.containers = {TaskPodContainer("base", "300Mi", "600Mi")};
  CHECK(sizes_to(*a, make_task_pod(tomorrow), "350Mi", "700Mi"));
  CHECK(sizes_to(*b, make_task_pod(tomorrow), "350Mi", "700Mi"));
  const auto gate_a = metric(*a, "avw_gate_held_total{gate=\"oom\"}");
  REQUIRE(gate_a);
  CHECK(*gate_a >= 1.0);
  // One floor raised between the two replicas, and no second Event.
  const double raised = metric(*a, "avw_oom_floor_changes_total{change=\"raised\"}").value_or(0) +
                        metric(*b, "avw_oom_floor_changes_total{change=\"raised\"}").value_or(0);
  CHECK(raised == 1.0);
  CHECK(api.events().size() == 1);

  // Both replicas restart: the floor is in the AirflowTask, not in their memory. The killed
  // pod is listed again and changes nothing.
  a.reset();
  b.reset();
  a = std::make_unique<WebhookProcess>(with_api(api, kFlags));
  b = std::make_unique<WebhookProcess>(with_api(api, kFlags));
  CHECK(sizes_to(*a, make_task_pod(tomorrow), "350Mi", "700Mi"));
  CHECK(sizes_to(*b, make_task_pod(tomorrow), "350Mi", "700Mi"));
  REQUIRE(eventually([&] { return metric(*a, "avw_loop_status_writes_total{result=\"unchanged\"}").value_or(0) >= 1; }));
  CHECK(task_status(api, "/0/kills") == "1");
  CHECK(api.events().size() == 1);
}

TEST_CASE("the floor is lifted after three clean runs once the recommendation has reached it", "[loop][integration]") {
  FakeApiServer api(FakeApiServer::Options{false});
  api.upsert("namespaces", enforced_namespace());
  add_task(api, "250Mi");
  WebhookProcess server(with_api(api, kFlags));

  TaskPod killed_pod("etl-load-day1", "etl", "load");
  killed_pod.containers = {TaskPodContainer("base", "250Mi", "500Mi")};
  ContainerEnd killed;
  run(api, killed_pod, killed);
  REQUIRE(eventually([&] { return task_status(api, "/0/kills") == "1"; }));
  // The webhook decides with the floor (and so counts the runs that follow against it).
  TaskPod probe("etl-load-probe", "etl", "load");
  REQUIRE(sizes_to(server, make_task_pod(probe), "350Mi", "700Mi"));

  // The recommender learns the whole runs: its target rises above the floor (350Mi).
  api.upsert("verticalpodautoscalers", make_vpa("airflow", kTaskName, kTaskName, "250m", "420Mi"));
  // Once the webhook decides with it (the loop decides with the same snapshot), the runs end.
  REQUIRE(sizes_to(server, make_task_pod(probe), "420Mi", "840Mi"));
  for (int day = 2; day <= 4; ++day) {
    TaskPod clean("etl-load-day" + std::to_string(day), "etl", "load");
    clean.run_id = "scheduled__2026-12-0" + std::to_string(5 + day) + "T00:00:00+00:00";
    clean.creation_timestamp = "2026-12-0" + std::to_string(5 + day) + "T00:00:05Z";
    clean.containers = {TaskPodContainer("base", "350Mi", "700Mi")};
    ContainerEnd completed;
    completed.reason = "Completed";
    completed.exit_code = 0;
    completed.started_at = "2026-12-0" + std::to_string(5 + day) + "T00:00:06Z";
    completed.finished_at = "2026-12-0" + std::to_string(5 + day) + "T00:05:06Z";
    run(api, clean, completed);
    // Clean runs are counted in order: wait for each.
    REQUIRE(eventually([&] {
      const auto task = api.get("airflowtasks", "airflow", kTaskName);
      return task && json_has(*task, "/status/oomKills/0/cleanRuns/" + std::to_string(day - 2));
    }));
  }
  REQUIRE(eventually([&] { return task_status(api, "/0/liftedAt").has_value(); }));
  REQUIRE(eventually([&] { return api.events().size() == 2; }));
  CHECK(json_at(api.events().back(), "/reason") == "OOMFloorLifted");
  CHECK(json_at(api.events().back(), "/type") == "Normal");

  // With the floor lifted the recommendation rules alone.
  TaskPod next("etl-load-day5", "etl", "load");
  next.containers = {TaskPodContainer("base", "300Mi", "600Mi")};
  CHECK(sizes_to(server, make_task_pod(next), "420Mi", "840Mi"));
}

TEST_CASE("the captured task-pod stream raises one floor from two kills and counts nothing twice", "[loop][integration]") {
  FakeApiServer api(FakeApiServer::Options{false});
  api.upsert("namespaces", enforced_namespace());
  add_task(api, "250Mi");
  WebhookProcess server(with_api(api, kFlags));
  REQUIRE(eventually([&] {
    return HttpsClient(server.port(), server.client_options()).request("GET", "/readyz").status == 200;
  }));
  // The objects the real API server sent, in order: an OOM kill (300Mi, limit 600Mi), its
  // retry completing, a two-container pod whose base was killed (300Mi, no limit) and whose
  // sidecar ended Error, an executor pod (another task), and the deletions.
  for (const CapturedPodEvent& e : captured_task_pod_events()) replay(api, e);

  REQUIRE(eventually([&] { return task_status(api, "/0/kills") == "2"; }));
  CHECK(task_status(api, "/0/memoryRequest") == "300Mi");
  CHECK(task_status(api, "/0/memoryLimit") == "600Mi");   // the floor never goes down
  CHECK(task_status(api, "/0/pod") == "etl-load-sidecar");
  CHECK_FALSE(task_status(api, "/1"));                      // the sidecar was not OOMKilled
  // The retry was created in the second of the kill: not a run sized by the floor.
  CHECK(task_status(api, "/0/cleanRuns") == "[]");
  REQUIRE(eventually([&] { return api.events().size() == 2; }));
  // The executor pod's task has no AirflowTask here: nothing is written for it.
  CHECK_FALSE(api.get("airflowtasks", "airflow", core::task_object_name({"airflow", "etl", "load", core::Launcher::Executor})));
  // The captured pods ended before this process started: learnt from, not counted as runs.
  CHECK(metric(server, "avw_task_runs_total{phase=\"Failed\"}") == 0.0);

  // A pod killed with 300Mi gets 400Mi now; its limit 600Mi keeps its ratio (800Mi).
  TaskPod next("etl-load-next", "etl", "load");
  next.containers = {TaskPodContainer("base", "300Mi", "600Mi")};
  CHECK(sizes_to(server, make_task_pod(next), "400Mi", "800Mi"));
}

TEST_CASE("a finished run's requests become resource-time, as asked and as sized", "[loop][integration]") {
  FakeApiServer api(FakeApiServer::Options{false});
  api.upsert("namespaces", enforced_namespace());
  add_task(api, "250Mi");
  WebhookProcess server(with_api(api, kFlags));
  REQUIRE(eventually([&] {
    return HttpsClient(server.port(), server.client_options()).request("GET", "/readyz").status == 200;
  }));

  // A pod the webhook patched: it asked 300Mi and 250m, ran 5 minutes at 250Mi (the VPA's cpu
  // target is 250m too, so only memory changed).
  TaskPod pod("etl-load-sized", "etl", "load");
  pod.containers = {TaskPodContainer("base", "300Mi", "600Mi")};
  const std::string review = review_of(make_task_pod(pod));
  const auto answer = HttpsClient(server.port(), server.client_options()).request("POST", "/mutate", review);
  REQUIRE(json_has(answer.body, "/response/patch"));
  const std::string stored = patched_pod(answer, review);
  const std::string running = with_containers_running(stored, "2030-01-01T00:00:00Z");
  ContainerEnd completed;
  completed.reason = "Completed";
  completed.exit_code = 0;
  completed.started_at = "2030-01-01T00:00:00Z";  // after this process started: counted
  completed.finished_at = "2030-01-01T00:05:00Z";
  api.upsert("pods", stored);
  api.upsert("pods", running);
  api.upsert("pods", with_container_ended(running, completed));

  REQUIRE(eventually([&] { return metric(server, "avw_task_runs_total{phase=\"Succeeded\"}") == 1.0; }));
  const double mi = 1024.0 * 1024.0;
  CHECK(metric(server, "avw_task_memory_byte_seconds_total{mode=\"enforce\",requests=\"original\"}") == Approx(300 * mi * 300));
  CHECK(metric(server, "avw_task_memory_byte_seconds_total{mode=\"enforce\",requests=\"new\"}") == Approx(250 * mi * 300));
  CHECK(metric(server, "avw_task_cpu_core_seconds_total{mode=\"enforce\",requests=\"original\"}") == Approx(0.25 * 300));
  CHECK(metric(server, "avw_task_cpu_core_seconds_total{mode=\"enforce\",requests=\"new\"}") == Approx(0.25 * 300));
  CHECK(metric(server, "avw_task_run_seconds_count") == 1.0);
  CHECK(metric(server, "avw_task_run_seconds_sum") == 300.0);
}

TEST_CASE("every finished run is counted once in the AirflowTask's status.runs, by two replicas and after a restart",
          "[loop][integration]") {
  FakeApiServer api(FakeApiServer::Options{false});
  api.upsert("namespaces", enforced_namespace());
  add_task(api, "250Mi");
  auto a = std::make_unique<WebhookProcess>(with_api(api, kFlags));
  auto b = std::make_unique<WebhookProcess>(with_api(api, kFlags));
  const auto runs = [&](std::string_view pointer) -> std::optional<std::string> {
    const auto task = api.get("airflowtasks", "airflow", kTaskName);
    const std::string at = "/status/runs" + std::string(pointer);
    if (!task || !json_has(*task, at)) return std::nullopt;
    return json_at(*task, at);
  };
  const auto writes = [&](const char* result) {
    const std::string series = std::string("avw_loop_status_writes_total{result=\"") + result + "\"}";
    return metric(*a, series).value_or(0) + metric(*b, series).value_or(0);
  };

  // A run the webhook patched (it asked 300Mi, ran at 250Mi) for five minutes.
  const auto patched_run = [&](const char* name, const char* started, const char* finished) {
    TaskPod pod(name, "etl", "load");
    pod.containers = {TaskPodContainer("base", "300Mi", "600Mi")};
    const std::string review = review_of(make_task_pod(pod));
    const auto answer = HttpsClient(a->port(), a->client_options()).request("POST", "/mutate", review);
    REQUIRE(json_has(answer.body, "/response/patch"));
    const std::string running = with_containers_running(patched_pod(answer, review), started);
    ContainerEnd completed;
    completed.reason = "Completed";
    completed.exit_code = 0;
    completed.started_at = started;
    completed.finished_at = finished;
    api.upsert("pods", running);
    api.upsert("pods", with_container_ended(running, completed));
  };
  REQUIRE(eventually([&] {
    return HttpsClient(a->port(), a->client_options()).request("GET", "/readyz").status == 200;
  }));
  patched_run("etl-load-run1", "2030-01-01T00:00:00Z", "2030-01-01T00:05:00Z");

  // One replica counts it; the other reads the uid among recentPods and writes nothing.
  REQUIRE(eventually([&] { return writes("written") == 1 && writes("unchanged") == 1; }));
  CHECK(runs("/observed") == "1");
  CHECK(runs("/seconds") == "300");
  CHECK(runs("/since") == "2030-01-01T00:05:00Z");
  CHECK(runs("/lastFinishedAt") == "2030-01-01T00:05:00Z");
  CHECK(runs("/containers/0/name") == "base");
  CHECK(runs("/containers/0/memory") == "300Mi");  // what it asked, not what it ran with
  CHECK(runs("/containers/0/cpu") == "250m");
  CHECK(runs("/recentPods/0") == json_at(*api.get("pods", "airflow", "etl-load-run1"), "/metadata/uid"));

  // A restarted replica lists the finished pod again and does not count it twice.
  a = std::make_unique<WebhookProcess>(with_api(api, kFlags));
  REQUIRE(eventually([&] {
    return metric(*a, "avw_loop_status_writes_total{result=\"unchanged\"}").value_or(0) == 1;
  }));
  CHECK(runs("/observed") == "1");

  // The next day's run adds to it.
  patched_run("etl-load-run2", "2030-01-02T00:00:00Z", "2030-01-02T00:10:00Z");
  REQUIRE(eventually([&] { return runs("/observed") == "2"; }));
  CHECK(runs("/seconds") == "900");
  CHECK(runs("/since") == "2030-01-01T00:05:00Z");
  CHECK(runs("/lastFinishedAt") == "2030-01-02T00:10:00Z");
}
