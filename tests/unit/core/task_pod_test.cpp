// Task pods as the closed loop reads them, from what a real kube-apiserver sent to a watcher of
// task pods while pods ran and ended (tests/fixtures/api/watch-task-pods.ndjson).
#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "avw/core/object_list.hpp"
#include "avw/core/objects.hpp"
#include "avw/core/watch_event.hpp"
#include "support/fixtures.hpp"

using namespace avw::core;
using avw::test::read_fixture;

namespace {

std::vector<WatchEvent> captured_events() {
  std::istringstream lines(read_fixture("api/watch-task-pods.ndjson"));
  std::vector<WatchEvent> events;
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) events.push_back(decode_watch_event(line));
  }
  return events;
}

const TaskPod& only_pod(const WatchEvent& e) {
  REQUIRE(e.objects.errors.empty());
  REQUIRE(e.objects.pods.size() == 1);
  return e.objects.pods.front();
}

}  // namespace

TEST_CASE("a captured pod OOMKilled by the kubelet decodes with what it was killed with", "[task_pod]") {
  const std::vector<WatchEvent> events = captured_events();
  REQUIRE(events.size() == 18);
  const TaskPod& pending = only_pod(events[0]);
  CHECK(events[0].type == WatchEvent::Type::Added);
  CHECK(pending.phase == PodPhase::Pending);
  CHECK_FALSE(pending.finished());

  const TaskPod& pod = only_pod(events[2]);
  CHECK(pod.namespace_ == "airflow");
  CHECK(pod.name == "etl-load-oom");
  CHECK(pod.uid == "ec29e727-49eb-454c-a7c7-b0e476a0b280");
  CHECK(pod.created == *parse_rfc3339("2026-12-06T18:26:24Z"));
  CHECK(pod.phase == PodPhase::Failed);
  CHECK(pod.finished());
  CHECK_FALSE(pod.deleting);
  CHECK(pod.label_set().get("run_id") == "scheduled__2026-12-06T0000000000-8f3a1b2c4");
  CHECK(pod.label_set().get("try_number") == "1");
  REQUIRE(pod.containers.size() == 1);
  const TaskPodContainer& base = pod.containers.front();
  CHECK(base.name == "base");
  CHECK(base.requests[Resource::Memory] == Quantity::parse("300Mi"));
  CHECK(base.limits[Resource::Memory] == Quantity::parse("600Mi"));
  REQUIRE(base.oom_kill() != nullptr);
  CHECK(base.oom_kill()->exit_code == 137);
  REQUIRE(base.terminated->finished_at);
  REQUIRE(pod.run_seconds());
  CHECK(*pod.run_seconds() >= 0);
}

TEST_CASE("the captured retry completes, the two-container pod loses only base, deletions are marked", "[task_pod]") {
  const std::vector<WatchEvent> events = captured_events();
  const TaskPod& retry = only_pod(events[5]);
  CHECK(retry.name == "etl-load-retry");
  CHECK(retry.phase == PodPhase::Succeeded);
  CHECK(retry.label_set().get("try_number") == "2");
  CHECK(retry.containers.front().oom_kill() == nullptr);
  CHECK(retry.containers.front().terminated->reason == "Completed");

  const TaskPod& two = only_pod(events[8]);
  REQUIRE(two.containers.size() == 2);
  CHECK(two.containers[0].name == "base");
  CHECK(two.containers[0].oom_kill() != nullptr);
  CHECK(two.containers[1].name == "airflow-xcom-sidecar");
  CHECK(two.containers[1].oom_kill() == nullptr);
  CHECK(two.containers[1].terminated->reason == "Error");
  CHECK(two.containers[1].terminated->exit_code == 143);

  const TaskPod& executor = only_pod(events[11]);
  CHECK(executor.label_set().get("kubernetes_executor") == "True");
  CHECK(executor.phase == PodPhase::Succeeded);

  CHECK(events[12].type == WatchEvent::Type::Modified);
  CHECK(only_pod(events[12]).deleting);
  CHECK(events[13].type == WatchEvent::Type::Deleted);
  CHECK(events[16].type == WatchEvent::Type::Bookmark);
  CHECK(events[16].objects.pods.empty());
}

TEST_CASE("a captured page of task pods decodes as a PodList with its continue token", "[task_pod]") {
  const DecodedObjects page = decode_objects(read_fixture("api/list-task-pods.json"));
  CHECK(page.errors.empty());
  CHECK(page.pods.size() == 2);
  CHECK_FALSE(page.list_continue.empty());
  CHECK_FALSE(page.list_resource_version.empty());
  const DecodedObjects empty = decode_objects(read_fixture("api/list-task-pods-empty.json"));
  CHECK(empty.pods.empty());
  CHECK(empty.errors.empty());
}

TEST_CASE("a pod whose status cannot be read is skipped with the path of the fault", "[task_pod]") {
  const std::string pod =
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"airflow"},"spec":{"containers":[{"name":"base"}]},)"
      R"("status":{"phase":"Failed","containerStatuses":[{"name":"base","state":{"terminated":{"reason":"OOMKilled","exitCode":"x"}}}]}})";
  const DecodedObjects d = decode_objects(pod);
  CHECK(d.pods.empty());
  REQUIRE(d.errors.size() == 1);
  CHECK_THAT(d.errors.front(), Catch::Contains("status.containerStatuses[0].state.terminated.exitCode"));
}
