// The provisioner's API objects: what it creates, patches and deletes, and how it reads lists.
#include "avw/provision/objects.hpp"

#include <chrono>
#include <string>

#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include "support/fixtures.hpp"

using avw::core::Launcher;
using avw::core::TaskKey;
using avw::core::TaskLabelKeys;
namespace provision = avw::provision;
using namespace std::chrono_literals;

namespace {

rapidjson::Document parse(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc.IsObject());
  return doc;
}

std::string str(const rapidjson::Value& v) {
  REQUIRE(v.IsString());
  return {v.GetString(), v.GetStringLength()};
}

provision::TimePoint at(std::chrono::sys_days day, std::chrono::seconds time_of_day = 0s) {
  return provision::TimePoint(day) + time_of_day;
}

}  // namespace

TEST_CASE("an AirflowTask spells out the task's identity, selector and zero replicas", "[provision][objects]") {
  const TaskKey key{"airflow", "etl", "load", Launcher::PodOperator};
  const auto doc = parse(provision::airflow_task_json(key, TaskLabelKeys{}));
  CHECK(str(doc["apiVersion"]) == "airflow-vpa-webhook.io/v1alpha1");
  CHECK(str(doc["kind"]) == "AirflowTask");
  CHECK(str(doc["metadata"]["name"]) == avw::core::task_object_name(key));
  CHECK(str(doc["metadata"]["namespace"]) == "airflow");
  CHECK(str(doc["metadata"]["labels"]["app.kubernetes.io/managed-by"]) == "airflow-vpa-webhook");
  CHECK(str(doc["spec"]["dagId"]) == "etl");
  CHECK(str(doc["spec"]["taskId"]) == "load");
  CHECK(str(doc["spec"]["launcher"]) == "PodOperator");
  CHECK(str(doc["spec"]["selector"]) == "dag_id=etl,kubernetes_pod_operator=True,task_id=load");
  REQUIRE(doc["spec"]["replicas"].IsInt());
  CHECK(doc["spec"]["replicas"].GetInt() == 0);
  CHECK_FALSE(doc.HasMember("status"));
}

TEST_CASE("each launcher gets its own name, launcher value and selector", "[provision][objects]") {
  const auto [launcher, spelled, selector] = GENERATE(table<Launcher, std::string, std::string>({
      {Launcher::PodOperator, "PodOperator", "dag_id=etl,kubernetes_pod_operator=True,task_id=load"},
      {Launcher::Executor, "Executor", "dag_id=etl,kubernetes_executor=True,task_id=load"},
      {Launcher::Other, "Other", "dag_id=etl,!kubernetes_executor,!kubernetes_pod_operator,task_id=load"},
  }));
  const TaskKey key{"airflow", "etl", "load", launcher};
  const auto doc = parse(provision::airflow_task_json(key, TaskLabelKeys{}));
  CHECK(str(doc["spec"]["launcher"]) == spelled);
  CHECK(str(doc["spec"]["selector"]) == avw::core::task_selector(key, TaskLabelKeys{}).to_string());
  // The selector must select exactly what the selector text says, whatever the order.
  const auto parsed = avw::core::Selector::parse(str(doc["spec"]["selector"]));
  const auto expected = avw::core::Selector::parse(selector);
  REQUIRE(parsed);
  REQUIRE(expected);
  CHECK(*parsed == *expected);
}

TEST_CASE("the status patch carries replicas, selector and lastSeen", "[provision][objects]") {
  const TaskKey key{"airflow", "etl", "load", Launcher::Executor};
  const auto when = at(std::chrono::sys_days{std::chrono::year{2026} / 11 / 23}, 17h + 9min + 3s);
  const auto doc = parse(provision::status_patch_json(key, TaskLabelKeys{}, when));
  REQUIRE(doc.MemberCount() == 1);
  const auto& status = doc["status"];
  CHECK(status["replicas"].GetInt() == 0);
  CHECK(str(status["selector"]) == "dag_id=etl,kubernetes_executor=True,task_id=load");
  CHECK(str(status["lastSeen"]) == "2026-11-23T17:09:03Z");
}

TEST_CASE("configured label keys reach the selector", "[provision][objects]") {
  TaskLabelKeys keys;
  keys.dag_id = "batch.example.com/job";
  keys.task_id = "batch.example.com/step";
  const TaskKey key{"jobs", "nightly", "export", Launcher::PodOperator};
  const auto doc = parse(provision::status_patch_json(key, keys, provision::TimePoint{}));
  CHECK(str(doc["status"]["selector"]) == avw::core::task_selector(key, keys).to_string());
  CHECK_THAT(str(doc["status"]["selector"]), Catch::Matchers::Contains("batch.example.com/job=nightly"));
}

TEST_CASE("the VPA targets its AirflowTask, recommends only, and is owned but not controlled by it",
          "[provision][objects]") {
  const TaskKey key{"airflow", "etl", "load", Launcher::PodOperator};
  const std::string name = avw::core::task_object_name(key);
  const auto doc = parse(provision::vpa_json(key, "0f1e2d3c-uid"));
  CHECK(str(doc["apiVersion"]) == "autoscaling.k8s.io/v1");
  CHECK(str(doc["kind"]) == "VerticalPodAutoscaler");
  CHECK(str(doc["metadata"]["name"]) == name);
  CHECK(str(doc["metadata"]["namespace"]) == "airflow");
  CHECK(str(doc["metadata"]["labels"]["app.kubernetes.io/managed-by"]) == "airflow-vpa-webhook");

  const auto& owners = doc["metadata"]["ownerReferences"];
  REQUIRE(owners.IsArray());
  REQUIRE(owners.Size() == 1);
  CHECK(str(owners[0]["apiVersion"]) == "airflow-vpa-webhook.io/v1alpha1");
  CHECK(str(owners[0]["kind"]) == "AirflowTask");
  CHECK(str(owners[0]["name"]) == name);
  CHECK(str(owners[0]["uid"]) == "0f1e2d3c-uid");
  CHECK_FALSE(owners[0].HasMember("controller"));

  const auto& spec = doc["spec"];
  CHECK(str(spec["targetRef"]["apiVersion"]) == "airflow-vpa-webhook.io/v1alpha1");
  CHECK(str(spec["targetRef"]["kind"]) == "AirflowTask");
  CHECK(str(spec["targetRef"]["name"]) == name);
  CHECK(str(spec["updatePolicy"]["updateMode"]) == "Off");
  const auto& policies = spec["resourcePolicy"]["containerPolicies"];
  REQUIRE(policies.Size() == 2);
  CHECK(str(policies[0]["containerName"]) == "*");
  REQUIRE(policies[0]["controlledResources"].Size() == 2);
  CHECK(str(policies[0]["controlledResources"][0]) == "cpu");
  CHECK(str(policies[0]["controlledResources"][1]) == "memory");
  // The KubernetesPodOperator's xcom sidecar keeps its own tiny requests.
  CHECK(str(policies[1]["containerName"]) == "airflow-xcom-sidecar");
  CHECK(str(policies[1]["mode"]) == "Off");
}

TEST_CASE("strings are escaped, whatever they hold", "[provision][objects]") {
  const TaskKey key{"airflow", "dag\"with\\quote", "task\nline", Launcher::Other};
  const auto task = parse(provision::airflow_task_json(key, TaskLabelKeys{}));
  CHECK(str(task["spec"]["dagId"]) == "dag\"with\\quote");
  CHECK(str(task["spec"]["taskId"]) == "task\nline");
  const auto vpa = parse(provision::vpa_json(key, "uid\"}"));
  CHECK(str(vpa["metadata"]["ownerReferences"][0]["uid"]) == "uid\"}");
}

TEST_CASE("deletion is conditional on the resourceVersion that was judged stale", "[provision][objects]") {
  const auto doc = parse(provision::delete_options_json("4711"));
  CHECK(str(doc["kind"]) == "DeleteOptions");
  CHECK(str(doc["apiVersion"]) == "v1");
  CHECK(str(doc["preconditions"]["resourceVersion"]) == "4711");
  CHECK(str(doc["propagationPolicy"]) == "Background");
}

TEST_CASE("paths are namespaced and the list selects managed tasks", "[provision][objects]") {
  CHECK(provision::airflow_task_path("airflow") == "/apis/airflow-vpa-webhook.io/v1alpha1/namespaces/airflow/airflowtasks");
  CHECK(provision::airflow_task_path("airflow", "etl-load-kpo-1a2b3c4d") ==
        "/apis/airflow-vpa-webhook.io/v1alpha1/namespaces/airflow/airflowtasks/etl-load-kpo-1a2b3c4d");
  CHECK(provision::vpa_path("airflow") == "/apis/autoscaling.k8s.io/v1/namespaces/airflow/verticalpodautoscalers");
  CHECK(provision::managed_tasks_list_path(500, "") ==
        "/apis/airflow-vpa-webhook.io/v1alpha1/airflowtasks?labelSelector=app.kubernetes.io%2Fmanaged-by%3D"
        "airflow-vpa-webhook&limit=500");
  CHECK(provision::managed_tasks_list_path(10, "eyJ2Ijoi+/=") ==
        "/apis/airflow-vpa-webhook.io/v1alpha1/airflowtasks?labelSelector=app.kubernetes.io%2Fmanaged-by%3D"
        "airflow-vpa-webhook&limit=10&continue=eyJ2Ijoi%2B%2F%3D");
}

TEST_CASE("RFC 3339 times format in UTC and parse with any offset", "[provision][time]") {
  using std::chrono::sys_days;
  using std::chrono::year;
  const auto base = at(sys_days{year{2026} / 11 / 23}, 17h + 9min + 3s);
  CHECK(provision::format_rfc3339(base) == "2026-11-23T17:09:03Z");
  CHECK(provision::format_rfc3339(base + 999ms) == "2026-11-23T17:09:03Z");
  CHECK(provision::format_rfc3339(at(sys_days{year{1999} / 12 / 31}, 23h + 59min + 59s)) == "1999-12-31T23:59:59Z");

  const auto [text, expected] = GENERATE_COPY(table<std::string, provision::TimePoint>({
      {"2026-11-23T17:09:03Z", base},
      {"2026-11-23t17:09:03z", base},
      {"2026-11-23T17:09:03.123456Z", base},
      {"2026-11-23T19:09:03+02:00", base},
      {"2026-11-23T12:39:03-04:30", base},
      {"2024-02-29T00:00:00Z", at(sys_days{year{2024} / 2 / 29})},
  }));
  const auto parsed = provision::parse_rfc3339(text);
  REQUIRE(parsed);
  CHECK(*parsed == expected);
}

TEST_CASE("malformed times are refused, never guessed", "[provision][time]") {
  const std::string text = GENERATE(as<std::string>{}, "", "2026-11-23", "2026-11-23T17:09:03", "2026-13-01T00:00:00Z",
                                    "2025-02-29T00:00:00Z", "2026-11-23T24:00:00Z", "2026-11-23T17:60:00Z",
                                    "2026-11-23T17:09:03.Z", "2026-11-23T17:09:03+0200", "2026-11-23T17:09:03Zjunk",
                                    "2026-11-23 17:09:03Z", "20x6-11-23T17:09:03Z");
  CHECK_FALSE(provision::parse_rfc3339(text));
}

TEST_CASE("the uid of an answered object is read from its metadata", "[provision][objects]") {
  CHECK(provision::object_uid(R"({"metadata":{"name":"x","uid":"abc-123"}})") == "abc-123");
  CHECK_FALSE(provision::object_uid(R"({"metadata":{"name":"x"}})"));
  CHECK_FALSE(provision::object_uid(R"({"metadata":{"uid":7}})"));
  CHECK_FALSE(provision::object_uid("[]"));
  CHECK_FALSE(provision::object_uid("{not json"));
}

TEST_CASE("a captured AirflowTask list decodes with times and labels", "[provision][gc]") {
  const std::string body = avw::test::read_fixture("api/list-airflowtasks.json");
  std::string error;
  const auto page = provision::parse_task_list(body, &error);
  INFO(error);
  REQUIRE(page);
  CHECK(page->errors.empty());
  REQUIRE_FALSE(page->items.empty());
  for (const auto& item : page->items) {
    CHECK_FALSE(item.namespace_.empty());
    CHECK_FALSE(item.name.empty());
    CHECK_FALSE(item.resource_version.empty());
    CHECK(item.created);
  }
}

TEST_CASE("list items are read for garbage collection, and broken ones are skipped", "[provision][gc]") {
  const std::string body = R"({"kind":"AirflowTaskList","metadata":{"continue":"next-page"},"items":[
    {"metadata":{"namespace":"a","name":"seen","resourceVersion":"5","creationTimestamp":"2026-01-01T00:00:00Z",
                 "labels":{"app.kubernetes.io/managed-by":"airflow-vpa-webhook"}},
     "status":{"lastSeen":"2026-02-01T00:00:00Z"}},
    {"metadata":{"namespace":"a","name":"by-hand","resourceVersion":"6","creationTimestamp":"2026-01-01T00:00:00Z",
                 "labels":{"app.kubernetes.io/managed-by":"someone-else"}}},
    {"metadata":{"namespace":"a","name":"no-version"}},
    {"kind":"no metadata"}]})";
  const auto page = provision::parse_task_list(body);
  REQUIRE(page);
  CHECK(page->continue_token == "next-page");
  CHECK(page->errors.size() == 2);
  REQUIRE(page->items.size() == 2);
  CHECK(page->items[0].name == "seen");
  CHECK(page->items[0].managed);
  CHECK(page->items[0].resource_version == "5");
  CHECK(page->items[0].last_seen == provision::parse_rfc3339("2026-02-01T00:00:00Z"));
  CHECK(page->items[1].name == "by-hand");
  CHECK_FALSE(page->items[1].managed);
  CHECK_FALSE(page->items[1].last_seen);
}

TEST_CASE("something that is not a list is an error", "[provision][gc]") {
  const std::string body = GENERATE(as<std::string>{}, "", "[]", "{", R"({"kind":"Status"})", R"({"items":{}})");
  std::string error;
  CHECK_FALSE(provision::parse_task_list(body, &error));
  CHECK_FALSE(error.empty());
}

TEST_CASE("a task is stale after forget-after since it was last seen, or created", "[provision][gc]") {
  const auto now = at(std::chrono::sys_days{std::chrono::year{2026} / 12 / 31});
  const std::chrono::seconds forget = std::chrono::days{30};
  provision::ListedTask task;
  SECTION("lastSeen decides") {
    task.created = now - std::chrono::days{400};
    task.last_seen = now - std::chrono::days{31};
    CHECK(provision::is_stale(task, now, forget));
    task.last_seen = now - std::chrono::days{30};
    CHECK(provision::is_stale(task, now, forget));
    task.last_seen = now - std::chrono::days{29};
    CHECK_FALSE(provision::is_stale(task, now, forget));
  }
  SECTION("creationTimestamp stands in for a lastSeen never written") {
    task.created = now - std::chrono::days{31};
    CHECK(provision::is_stale(task, now, forget));
    task.created = now - std::chrono::days{1};
    CHECK_FALSE(provision::is_stale(task, now, forget));
  }
  SECTION("without any time, or with one in the future, it is kept") {
    CHECK_FALSE(provision::is_stale(task, now, forget));
    task.last_seen = now + std::chrono::days{365};
    CHECK_FALSE(provision::is_stale(task, now, forget));
  }
}

TEST_CASE("the VPA names the configured recommender, and none without one", "[provision][objects][recommender]") {
  const TaskKey key{"airflow", "etl", "load", Launcher::PodOperator};
  const auto named = parse(provision::vpa_json(key, "uid-1", "airflow-vpa-webhook"));
  const auto& recommenders = named["spec"]["recommenders"];
  REQUIRE(recommenders.IsArray());
  REQUIRE(recommenders.Size() == 1);
  CHECK(str(recommenders[0]["name"]) == "airflow-vpa-webhook");
  CHECK(recommenders[0].MemberCount() == 1);

  // No field at all, rather than an empty list: what a VPA made before the flag existed holds.
  const auto plain = parse(provision::vpa_json(key, "uid-1"));
  CHECK_FALSE(plain["spec"].HasMember("recommenders"));
  CHECK_FALSE(parse(provision::vpa_json(key, "uid-1", ""))["spec"].HasMember("recommenders"));
}

TEST_CASE("the recommender patch is conditional and removes the field for the default", "[provision][objects][recommender]") {
  const auto set = parse(provision::recommenders_patch_json("batch", "812"));
  CHECK(str(set["metadata"]["resourceVersion"]) == "812");
  REQUIRE(set["spec"]["recommenders"].IsArray());
  REQUIRE(set["spec"]["recommenders"].Size() == 1);
  CHECK(str(set["spec"]["recommenders"][0]["name"]) == "batch");
  CHECK(set.MemberCount() == 2);
  CHECK(set["spec"].MemberCount() == 1);

  // In a merge patch null deletes the member (RFC 7386).
  const auto unset = parse(provision::recommenders_patch_json("", "813"));
  CHECK(str(unset["metadata"]["resourceVersion"]) == "813");
  CHECK(unset["spec"]["recommenders"].IsNull());
}

TEST_CASE("the list of managed VPAs is cluster-wide and selects by the managed-by label", "[provision][objects]") {
  CHECK(provision::managed_vpas_list_path(500, "") ==
        "/apis/autoscaling.k8s.io/v1/verticalpodautoscalers?labelSelector=app.kubernetes.io%2Fmanaged-by%3D"
        "airflow-vpa-webhook&limit=500");
  CHECK(provision::managed_vpas_list_path(2, "a b") ==
        "/apis/autoscaling.k8s.io/v1/verticalpodautoscalers?labelSelector=app.kubernetes.io%2Fmanaged-by%3D"
        "airflow-vpa-webhook&limit=2&continue=a%20b");
}

TEST_CASE("a VPA the real recommender answered reads as recommended and unmanaged", "[provision][objects][recommender]") {
  std::string error;
  const auto vpa = provision::parse_vpa(avw::test::read_fixture("recommender/vpa-etl-load.json"), &error);
  INFO(error);
  REQUIRE(vpa);
  CHECK(vpa->namespace_ == "airflow");
  CHECK(vpa->name == "etl-load");
  CHECK(vpa->resource_version == "264");
  CHECK_FALSE(vpa->managed);  // applied by hand when it was captured
  CHECK(vpa->recommenders.empty());
  CHECK(vpa->served_by() == "default");
  CHECK(vpa->names(""));
  CHECK_FALSE(vpa->names("airflow-vpa-webhook"));
  CHECK(vpa->has_recommendation);
  REQUIRE(vpa->created);
  CHECK(provision::format_rfc3339(*vpa->created) == "2026-11-23T17:28:46Z");
}

TEST_CASE("a VPA of a later VPA release reads the same, its new fields ignored", "[provision][objects][recommender]") {
  // spec.startupBoost and containerPolicies[].startupBoost/oomBumpUpRatio (1.5 to 1.7),
  // updateMode InPlaceOrRecreate, evictionRequirements, status.conditions with
  // observedGeneration: none of it matters to which recommender serves the VPA.
  const std::string body = R"({"apiVersion":"autoscaling.k8s.io/v1","kind":"VerticalPodAutoscaler",
    "metadata":{"name":"etl-load-kpo-1a2b3c4d","namespace":"airflow","resourceVersion":"99","generation":3,
      "creationTimestamp":"2026-11-20T08:00:00Z","labels":{"app.kubernetes.io/managed-by":"airflow-vpa-webhook"}},
    "spec":{"targetRef":{"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask","name":"etl-load-kpo-1a2b3c4d"},
      "updatePolicy":{"updateMode":"InPlaceOrRecreate","minReplicas":1,
        "evictionRequirements":[{"resources":["cpu"],"changeRequirement":"TargetHigherThanRequests"}]},
      "resourcePolicy":{"containerPolicies":[{"containerName":"*","oomBumpUpRatio":"1.5","oomMinBumpUp":"200Mi",
        "startupBoost":{"cpu":{"type":"Factor","factor":2,"duration":"30s"}}}]},
      "startupBoost":{"cpu":{"type":"Quantity","quantity":"2"}},
      "recommenders":[{"name":"airflow-vpa-webhook"}]},
    "status":{"observedGeneration":3,"conditions":[{"type":"RecommendationProvided","status":"False",
      "observedGeneration":3,"lastTransitionTime":"2026-11-20T08:01:00Z","reason":"NoPodsMatched"}],
      "recommendation":{"containerRecommendations":[]}}})";
  std::string error;
  const auto vpa = provision::parse_vpa(body, &error);
  INFO(error);
  REQUIRE(vpa);
  CHECK(vpa->managed);
  CHECK(vpa->recommenders == std::vector<std::string>{"airflow-vpa-webhook"});
  CHECK(vpa->served_by() == "airflow-vpa-webhook");
  CHECK(vpa->names("airflow-vpa-webhook"));
  CHECK_FALSE(vpa->names(""));
  CHECK_FALSE(vpa->names("batch"));
  // An empty list of container recommendations is no recommendation.
  CHECK_FALSE(vpa->has_recommendation);
}

TEST_CASE("a VPA whose recommenders cannot be read is refused with the reason", "[provision][objects][recommender]") {
  const auto [spec, reason] = GENERATE(table<std::string, std::string>({
      {R"({"recommenders":"batch"})", "airflow/x: spec.recommenders is not a list"},
      {R"({"recommenders":[{"name":""}]})", "airflow/x: spec.recommenders has an item without a name"},
      {R"({"recommenders":[{}]})", "airflow/x: spec.recommenders has an item without a name"},
  }));
  const std::string body =
      R"({"metadata":{"name":"x","namespace":"airflow","resourceVersion":"1"},"spec":)" + spec + "}";
  std::string error;
  CHECK_FALSE(provision::parse_vpa(body, &error));
  CHECK(error == "VerticalPodAutoscaler " + reason);
  CHECK_FALSE(provision::parse_vpa("[]", &error));
  CHECK(error == "not a JSON object");
}

TEST_CASE("a VPA list page keeps what it can read and says what it skipped", "[provision][objects][recommender]") {
  const std::string body = R"({"kind":"VerticalPodAutoscalerList","metadata":{"continue":"next"},"items":[
    {"metadata":{"name":"a","namespace":"airflow","resourceVersion":"1"},"spec":{"recommenders":[{"name":"batch"}]}},
    {"metadata":{"name":"b","namespace":"airflow"}},
    {"metadata":{"name":"c","namespace":"airflow","resourceVersion":"3"},"spec":{"recommenders":null}}]})";
  std::string error;
  const auto page = provision::parse_vpa_list(body, &error);
  REQUIRE(page);
  CHECK(page->continue_token == "next");
  REQUIRE(page->items.size() == 2);
  CHECK(page->items[0].served_by() == "batch");
  CHECK(page->items[1].name == "c");
  CHECK(page->items[1].recommenders.empty());
  REQUIRE(page->errors.size() == 1);
  CHECK(page->errors[0] == "a VerticalPodAutoscaler without namespace, name or resourceVersion: airflow/b");

  CHECK_FALSE(provision::parse_vpa_list(R"({"kind":"Status"})", &error));
  CHECK(error == "no items array");
}
