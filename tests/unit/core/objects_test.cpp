// Decoding documents of objects: API list pages and kubectl lists, scale targets, LimitRanges,
// broken objects skipped one by one. Streamed lists: objects_stream_test.cpp.
#include "avw/core/object_list.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "avw/core/decode_error.hpp"
#include "avw/core/objects.hpp"
#include "object_samples.hpp"
#include "support/fixtures.hpp"

namespace {

using avw::core::ContainerScalingMode;
using avw::core::ControlledValues;
using avw::core::LimitRangeItem;
using avw::core::UpdateMode;
using avw::core::Vpa;
using avw::core::parse_rfc3339;
using avw::test::read_fixture;
using namespace avw::test::object_samples;

}  // namespace

TEST_CASE("the first VPA list page decodes every field and the continue token", "[objects]") {
  DecodedObjects page = decode_clean(read_fixture("api/list-vpas-page1.json"));
  CHECK(page.list_resource_version == "236");
  CHECK(page.list_continue ==
        "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MjM2LCJzdGFydCI6ImFpcmZsb3cvZXRsLWRhaWx5LWxvYWRcdTAwMDAifQ");
  REQUIRE(page.vpas.size() == 2);
  CHECK(page.targets.empty());
  CHECK(page.limit_ranges.empty());
  CHECK(page.checkpoints.empty());

  SECTION("etl-daily-extract") {
    const Vpa& vpa = page.vpas[0];
    CHECK(vpa.meta.name == "etl-daily-extract");
    CHECK(vpa.meta.namespace_ == "airflow");
    CHECK(vpa.meta.created == parse_rfc3339("2026-11-23T17:09:07Z"));
    CHECK(vpa.target_ref.api_version == "airflow-vpa-webhook.io/v1alpha1");
    CHECK(vpa.target_ref.kind == "AirflowTask");
    CHECK(vpa.target_ref.name == "etl-daily-extract");
    CHECK(vpa.update_mode == UpdateMode::Off);

    REQUIRE(vpa.container_policies.size() == 1);
    const auto& policy = vpa.container_policies[0];
    CHECK(policy.container_name == "*");
    CHECK(policy.mode == ContainerScalingMode::Auto);
    REQUIRE(policy.controlled_resources);
    CHECK(*policy.controlled_resources == std::vector<Resource>{Resource::Cpu, Resource::Memory});
    CHECK(policy.controlled_values == ControlledValues::RequestsAndLimits);
    CHECK(policy.min_allowed.empty());
    CHECK(policy.max_allowed.empty());

    REQUIRE(vpa.recommendations.size() == 1);
    const auto& rec = vpa.recommendations[0];
    CHECK(rec.container_name == "base");
    CHECK(rec.lower_bound == values("109m", "380131589"));
    CHECK(rec.target == values("163m", "567546311"));
    CHECK(rec.uncapped_target == values("163m", "567546311"));
    CHECK(rec.upper_bound == values("2917m", "10156289730"));
    CHECK(rec.upper_bound[Resource::Memory]->nanos() ==
          avw::core::Int128{10156289730} * avw::core::kNanosPerUnit);
  }

  SECTION("etl-daily-load, with a sidecar and 262144k memory") {
    const Vpa& vpa = page.vpas[1];
    CHECK(vpa.meta.name == "etl-daily-load");
    CHECK(vpa.target_ref.name == "etl-daily-load");
    REQUIRE(vpa.recommendations.size() == 2);

    const auto* base = vpa.recommendation_for("base");
    REQUIRE(base != nullptr);
    CHECK(base->target == values("25m", "262144k"));
    CHECK(base->lower_bound == values("25m", "262144k"));
    CHECK(base->uncapped_target == values("25m", "262144k"));
    CHECK(base->upper_bound == values("1271m", "1330054185"));
    // 262144k is 262,144,000 bytes (decimal k), not 256Mi.
    CHECK(*base->target[Resource::Memory] == Quantity::from_units(262'144'000));
    CHECK(text_of(base->target[Resource::Memory]) == "262144k");
    CHECK(*base->target[Resource::Cpu] == Quantity::from_milli(25));

    const auto* sidecar = vpa.recommendation_for("airflow-xcom-sidecar");
    REQUIRE(sidecar != nullptr);
    CHECK(sidecar->upper_bound == values("25m", "262144k"));
    CHECK(vpa.recommendation_for("other") == nullptr);

    // Both containers fall back to the "*" policy.
    CHECK(vpa.policy_for("base") == &vpa.container_policies[0]);
    CHECK(vpa.policy_for("airflow-xcom-sidecar") == &vpa.container_policies[0]);
  }
}

TEST_CASE("the last VPA list page has an empty continue token", "[objects]") {
  DecodedObjects page = decode_clean(read_fixture("api/list-vpas-page2.json"));
  CHECK(page.list_resource_version == "236");
  CHECK(page.list_continue.empty());
  REQUIRE(page.vpas.size() == 1);
  const Vpa& vpa = page.vpas[0];
  CHECK(vpa.meta.name == "ml-train-fit");
  CHECK(vpa.meta.created == parse_rfc3339("2026-11-23T17:09:13Z"));
  REQUIRE(vpa.recommendations.size() == 1);
  CHECK(vpa.recommendations[0].target == values("1803m", "4585708231"));
  CHECK(vpa.recommendations[0].lower_bound == values("1204m", "3163004108"));
  CHECK(vpa.recommendations[0].upper_bound == values("7215m", "18350882934"));
}

TEST_CASE("AirflowTasks become scale targets with their status.selector", "[objects]") {
  DecodedObjects list = decode_clean(read_fixture("api/list-airflowtasks.json"));
  CHECK(list.vpas.empty());
  CHECK(list.list_resource_version == "236");
  REQUIRE(list.targets.size() == 3);
  auto [index, name, selector] = GENERATE(table<std::size_t, std::string, std::string>({
      {0, "etl-daily-extract", "dag_id=etl_daily,task_id=extract,kubernetes_pod_operator=True"},
      {1, "etl-daily-load", "dag_id=etl_daily,task_id=load,kubernetes_pod_operator=True"},
      {2, "ml-train-fit", "dag_id=ml_train,task_id=fit,kubernetes_pod_operator=True"},
  }));
  const auto& target = list.targets[index];
  CHECK(target.meta.name == name);
  CHECK(target.meta.namespace_ == "airflow");
  CHECK(target.api_version == "airflow-vpa-webhook.io/v1alpha1");
  CHECK(target.kind == "AirflowTask");
  CHECK(target.selector == sel(selector));
}

TEST_CASE("a LimitRange list page gives its items the list's kind", "[objects]") {
  // Built-in list pages omit apiVersion and kind on their items.
  DecodedObjects list = decode_clean(read_fixture("api/list-limitranges.json"));
  REQUIRE(list.limit_ranges.size() == 1);
  const auto& range = list.limit_ranges[0];
  CHECK(range.meta.name == "airflow-container-limits");
  CHECK(range.meta.namespace_ == "airflow");
  CHECK(range.meta.created == parse_rfc3339("2026-11-23T17:09:23Z"));
  REQUIRE(range.items.size() == 1);
  const auto& item = range.items[0];
  CHECK(item.type == LimitRangeItem::Type::Container);
  CHECK(item.max == values(std::nullopt, "8Gi"));
  CHECK(item.min == values("10m", std::nullopt));
  CHECK(item.default_limit == values(std::nullopt, "8Gi"));
  CHECK(item.default_request == values("10m", "8Gi"));
  CHECK(item.max_limit_request_ratio.empty());
}

TEST_CASE("LimitRange item types and ratios are read", "[objects]") {
  DecodedObjects out = decode_clean(R"({"apiVersion":"v1","kind":"LimitRange",
      "metadata":{"name":"lr","namespace":"ns"},
      "spec":{"limits":[
        {"type":"Pod","max":{"cpu":"4","memory":"16Gi"}},
        {"type":"Container","maxLimitRequestRatio":{"cpu":"2"}},
        {"type":"PersistentVolumeClaim","max":{"storage":"1Ti"}}]}})");
  REQUIRE(out.limit_ranges.size() == 1);
  const auto& items = out.limit_ranges[0].items;
  REQUIRE(items.size() == 3);
  CHECK(items[0].type == LimitRangeItem::Type::Pod);
  CHECK(items[0].max == values("4", "16Gi"));
  CHECK(items[1].type == LimitRangeItem::Type::Container);
  CHECK(items[1].max_limit_request_ratio == values("2", std::nullopt));
  CHECK(items[2].type == LimitRangeItem::Type::Other);
  CHECK(items[2].max.empty());
}

TEST_CASE("a single VPA object, as a create returns it, decodes without status", "[objects]") {
  DecodedObjects out = decode_clean(read_fixture("api/create-vpa-response.json"));
  REQUIRE(out.vpas.size() == 1);
  const Vpa& vpa = out.vpas[0];
  CHECK(vpa.meta.name == "ml-train-fit");
  CHECK(vpa.update_mode == UpdateMode::Off);
  CHECK(vpa.recommendations.empty());
  CHECK(out.list_resource_version.empty());
  CHECK(out.list_continue.empty());
}


TEST_CASE("broken objects are skipped with one message each, the rest still decodes",
          "[objects]") {
  auto [item, expected] = GENERATE(table<std::string, std::string>({
      {vpa_json("bad-quantity", "",
                R"({"recommendation":{"containerRecommendations":[{"containerName":"base","target":{"cpu":"1.5.3"}}]}})"),
       "VerticalPodAutoscaler airflow/bad-quantity: status.recommendation.containerRecommendations[0].target.cpu"},
      {vpa_json("negative", "",
                R"({"recommendation":{"containerRecommendations":[{"containerName":"base","target":{"memory":"-1Gi"}}]}})"),
       "VerticalPodAutoscaler airflow/negative: status.recommendation.containerRecommendations[0].target.memory: negative quantity"},
      {vpa_json("float", "",
                R"({"recommendation":{"containerRecommendations":[{"containerName":"base","target":{"cpu":0.5}}]}})"),
       "VerticalPodAutoscaler airflow/float: status.recommendation.containerRecommendations[0].target.cpu: expected a quantity"},
      {vpa_json("no-container", "",
                R"({"recommendation":{"containerRecommendations":[{"target":{"cpu":"1"}}]}})"),
       "VerticalPodAutoscaler airflow/no-container: status.recommendation.containerRecommendations[0].containerName: missing"},
      {vpa_json("mode", R"(,"updatePolicy":{"updateMode":"Sometimes"})", ""),
       "VerticalPodAutoscaler airflow/mode: spec.updatePolicy.updateMode: unknown update mode \"Sometimes\""},
      {vpa_json("storage", R"(,"resourcePolicy":{"containerPolicies":[{"containerName":"*","controlledResources":["cpu","ephemeral-storage"]}]})", ""),
       "VerticalPodAutoscaler airflow/storage: spec.resourcePolicy.containerPolicies[0].controlledResources[1]: unsupported resource \"ephemeral-storage\""},
      {vpa_json("policy-mode", R"(,"resourcePolicy":{"containerPolicies":[{"containerName":"*","mode":"Maybe"}]})", ""),
       "VerticalPodAutoscaler airflow/policy-mode: spec.resourcePolicy.containerPolicies[0].mode: unknown mode \"Maybe\""},
      {vpa_json("values", R"(,"resourcePolicy":{"containerPolicies":[{"containerName":"*","controlledValues":"LimitsOnly"}]})", ""),
       "VerticalPodAutoscaler airflow/values: spec.resourcePolicy.containerPolicies[0].controlledValues: unknown value \"LimitsOnly\""},
      {vpa_json("policies-type", R"(,"resourcePolicy":{"containerPolicies":{}})", ""),
       "VerticalPodAutoscaler airflow/policies-type: spec.resourcePolicy.containerPolicies: expected an array, got an object"},
      {vpa_json("bound", R"(,"resourcePolicy":{"containerPolicies":[{"containerName":"*","maxAllowed":{"memory":"lots"}}]})", ""),
       "VerticalPodAutoscaler airflow/bound: spec.resourcePolicy.containerPolicies[0].maxAllowed.memory"},
      {R"({"apiVersion":"autoscaling.k8s.io/v1","kind":"VerticalPodAutoscaler","metadata":{"namespace":"airflow"},"spec":{}})",
       "VerticalPodAutoscaler airflow/items[0]: metadata.name: missing"},
      {R"({"apiVersion":"autoscaling.k8s.io/v1","kind":"VerticalPodAutoscaler","metadata":{"name":"no-ref","namespace":"airflow"},"spec":{}})",
       "VerticalPodAutoscaler airflow/no-ref: spec.targetRef: missing"},
      {R"({"apiVersion":"autoscaling.k8s.io/v1","kind":"VerticalPodAutoscaler","metadata":{"name":"no-spec","namespace":"airflow"}})",
       "VerticalPodAutoscaler airflow/no-spec: spec: missing"},
      {R"({"apiVersion":"autoscaling.k8s.io/v1","kind":"VerticalPodAutoscaler","metadata":{"name":7}})",
       "VerticalPodAutoscaler items[0]: metadata.name: expected a string, got a number"},
      {R"({"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask","metadata":{"name":"t","namespace":"airflow"},"status":{"selector":"dag_id in (a"}})",
       "AirflowTask airflow/t: status.selector"},
      {R"({"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask","metadata":{"namespace":"airflow"},"status":{"selector":"dag_id=a"}})",
       "AirflowTask airflow/items[0]: metadata.name: missing"},
      {R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","namespace":"airflow"},"spec":{"selector":{"matchExpressions":[{"key":"app","operator":"Sometimes","values":["x"]}]}}})",
       "Deployment airflow/d: spec.selector"},
      {R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","namespace":"airflow"},"spec":{"selector":{"matchLabels":{"app":1}}}})",
       "Deployment airflow/d: spec.selector.matchLabels.app: expected a string, got a number"},
      {R"({"apiVersion":"autoscaling.k8s.io/v1","kind":"VerticalPodAutoscalerCheckpoint","metadata":{"name":"c","namespace":"airflow"},"spec":{"containerName":"base"}})",
       "VerticalPodAutoscalerCheckpoint airflow/c: spec.vpaObjectName: missing"},
      {R"({"apiVersion":"autoscaling.k8s.io/v1","kind":"VerticalPodAutoscalerCheckpoint","metadata":{"name":"c","namespace":"airflow"},"spec":{"vpaObjectName":"v","containerName":"base"},"status":{"firstSampleStart":"yesterday"}})",
       "VerticalPodAutoscalerCheckpoint airflow/c: status.firstSampleStart: invalid timestamp \"yesterday\""},
      {R"({"apiVersion":"autoscaling.k8s.io/v1","kind":"VerticalPodAutoscalerCheckpoint","metadata":{"name":"c","namespace":"airflow"},"spec":{"vpaObjectName":"v","containerName":"base"},"status":{"totalSamplesCount":-3}})",
       "VerticalPodAutoscalerCheckpoint airflow/c: status.totalSamplesCount: expected a non-negative integer"},
      {R"({"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"lr","namespace":"airflow"},"spec":{"limits":[{"type":"Container","max":{"memory":"8Q"}}]}})",
       "LimitRange airflow/lr: spec.limits[0].max.memory"},
      {R"({"apiVersion":"v1","kind":7,"metadata":{"name":"x"}})",
       "object x: apiVersion and kind must be strings"},
      {R"("a string")", "items[0]: expected an object, got a string"},
  }));
  const std::string good = vpa_json("good", "", "");
  DecodedObjects out = decode_objects(list_of({item, good}));
  INFO("item: " << item);
  REQUIRE(out.errors.size() == 1);
  CHECK_THAT(out.errors[0], Catch::StartsWith(expected));
  CHECK(out.errors[0].find('\n') == std::string::npos);
  REQUIRE(out.vpas.size() == 1);
  CHECK(out.vpas[0].meta.name == "good");
  CHECK(out.targets.empty());
  CHECK(out.checkpoints.empty());
  CHECK(out.limit_ranges.empty());
}

TEST_CASE("error messages stay on one line whatever the names hold", "[objects]") {
  DecodedObjects out = decode_objects(list_of({vpa_json("bad\\nname", R"(,"updatePolicy":{"updateMode":"x\ny"})", "")}));
  REQUIRE(out.errors.size() == 1);
  CHECK(out.errors[0].find('\n') == std::string::npos);
  CHECK_THAT(out.errors[0], Catch::StartsWith("VerticalPodAutoscaler airflow/bad?name"));
}

TEST_CASE("objects that select no pods are ignored silently", "[objects]") {
  DecodedObjects out = decode_clean(list_of({
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"airflow","labels":{"dag_id":"x"}},"spec":{"containers":[]}})",
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"airflow"},"data":{"selector":"a=b"}})",
      R"({"apiVersion":"v1","kind":"Status","metadata":{},"status":"Failure","code":403})",
      R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s"}})",
  }));
  CHECK(out.vpas.empty());
  CHECK(out.targets.empty());
  CHECK(out.limit_ranges.empty());
  CHECK(out.checkpoints.empty());
}

TEST_CASE("scale targets read their selector where the VPA reads it", "[objects]") {
  auto [object, selector] = GENERATE(table<std::string, std::string>({
      // status.selector, as /scale reports it, is preferred over spec.selector
      {R"({"apiVersion":"x.io/v1","kind":"Task","metadata":{"name":"t","namespace":"ns"},
           "spec":{"selector":"dag_id=other"},"status":{"selector":"dag_id=a,task_id=b"}})",
       "dag_id=a,task_id=b"},
      // a string spec.selector (a CRD with labelSelectorPath .spec.selector)
      {R"json({"apiVersion":"x.io/v1","kind":"Task","metadata":{"name":"t","namespace":"ns"},
           "spec":{"selector":"dag_id in (a,b)"},"status":{"selector":""}})json",
       "dag_id in (a,b)"},
      // a structured LabelSelector
      {R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"t","namespace":"ns"},
           "spec":{"selector":{"matchLabels":{"app":"web"},
                   "matchExpressions":[{"key":"tier","operator":"In","values":["front","back"]},
                                       {"key":"canary","operator":"DoesNotExist"}]}}})",
       "app=web,tier in (back,front),!canary"},
      // ReplicationController: a plain label map
      {R"({"apiVersion":"v1","kind":"ReplicationController","metadata":{"name":"t","namespace":"ns"},
           "spec":{"selector":{"app":"web"}}})",
       "app=web"},
      // CronJob: the pod template's labels
      {R"({"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"t","namespace":"ns"},
           "spec":{"jobTemplate":{"spec":{"template":{"metadata":{"labels":{"dag_id":"a","task_id":"b"}}}}}}})",
       "dag_id=a,task_id=b"},
      // a scalable object whose selector is not written yet: kept, with an empty selector
      {R"({"apiVersion":"x.io/v1","kind":"Task","metadata":{"name":"t","namespace":"ns"},"status":{"selector":""}})",
       ""},
  }));
  INFO("object: " << object);
  DecodedObjects out = decode_clean(object);
  REQUIRE(out.targets.size() == 1);
  CHECK(out.targets[0].meta.name == "t");
  CHECK(out.targets[0].meta.namespace_ == "ns");
  CHECK(out.targets[0].selector == sel(selector));
}

TEST_CASE("documents that are not JSON objects throw DecodeError", "[objects]") {
  auto json = GENERATE(as<std::string>{}, "", "   ", "nul", "[1,2]", "\"List\"", "42",
                       R"({"kind":"List","items":[)", std::string(100000, '[') + std::string(100000, ']'));
  CHECK_THROWS_AS(decode_objects(json), avw::core::DecodeError);
}

TEST_CASE("a list whose items are not an array reports it", "[objects]") {
  DecodedObjects out = decode_objects(R"({"kind":"List","items":{"a":1}})");
  REQUIRE(out.errors.size() == 1);
  CHECK_THAT(out.errors[0], Catch::Contains("items: expected an array"));
  DecodedObjects empty = decode_clean(R"({"kind":"VerticalPodAutoscalerList","metadata":{"resourceVersion":"5"}})");
  CHECK(empty.list_resource_version == "5");
  CHECK(empty.vpas.empty());
}

TEST_CASE("deeply nested objects decode without exhausting the stack", "[objects]") {
  // The parser is iterative: depth is bounded by memory, not by the call stack.
  std::string deep = vpa_json("deep", R"(,"extra":)" + std::string(50000, '[') + std::string(50000, ']'), "");
  DecodedObjects out = decode_clean(deep);
  REQUIRE(out.vpas.size() == 1);
}

TEST_CASE("a malformed uid or resourceVersion still skips the object, though neither is kept", "[objects]") {
  DecodedObjects out = decode_objects(R"({"kind":"List","items":[
      {"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"a","namespace":"ns","uid":5}},
      {"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"b","namespace":"ns","resourceVersion":[]}},
      {"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"c","namespace":"ns","uid":"u","resourceVersion":"1"}}]})");
  REQUIRE(out.limit_ranges.size() == 1);
  CHECK(out.limit_ranges[0].meta.name == "c");
  REQUIRE(out.errors.size() == 2);
  CHECK(out.errors[0] == "LimitRange ns/a: metadata.uid: expected a string, got a number");
  CHECK(out.errors[1] == "LimitRange ns/b: metadata.resourceVersion: expected a string, got an array");
}

TEST_CASE("resource values stay compact: the store holds ten per task", "[objects]") {
  STATIC_REQUIRE(sizeof(Quantity) <= 20);
  STATIC_REQUIRE(sizeof(ResourceValues) <= 48);
}
