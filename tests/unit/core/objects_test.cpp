#include "avw/core/objects.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "avw/core/admission.hpp"
#include "support/fixtures.hpp"

namespace {

using avw::core::Checkpoint;
using avw::core::ContainerScalingMode;
using avw::core::ControlledValues;
using avw::core::DecodedObjects;
using avw::core::LimitRangeItem;
using avw::core::Quantity;
using avw::core::Resource;
using avw::core::ResourceValues;
using avw::core::Selector;
using avw::core::UpdateMode;
using avw::core::Vpa;
using avw::core::WatchEvent;
using avw::core::decode_objects;
using avw::core::decode_watch_event;
using avw::core::parse_rfc3339;
using avw::test::read_fixture;

Quantity q(std::string_view text) {
  auto parsed = Quantity::parse(text);
  INFO("quantity: " << text);
  REQUIRE(parsed);
  return *parsed;
}

Selector sel(std::string_view text) {
  auto parsed = Selector::parse(text);
  INFO("selector: " << text);
  REQUIRE(parsed);
  return *parsed;
}

ResourceValues values(std::optional<std::string_view> cpu, std::optional<std::string_view> memory) {
  ResourceValues out;
  if (cpu) out[Resource::Cpu] = q(*cpu);
  if (memory) out[Resource::Memory] = q(*memory);
  return out;
}

std::string text_of(const std::optional<Quantity>& quantity) {
  return quantity ? quantity->to_string() : "<none>";
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

DecodedObjects decode_clean(std::string_view json) {
  DecodedObjects out = decode_objects(json);
  INFO(joined(out.errors));
  REQUIRE(out.errors.empty());
  return out;
}

// One VPA in a List, with `spec_extra` spliced into spec and `status` as the status object.
std::string vpa_json(std::string_view name, std::string_view spec_extra, std::string_view status) {
  std::string out = R"({"apiVersion":"autoscaling.k8s.io/v1","kind":"VerticalPodAutoscaler",)"
                    R"("metadata":{"name":")";
  out += name;
  out += R"(","namespace":"airflow","creationTimestamp":"2026-11-23T17:09:07Z"},)"
         R"("spec":{"targetRef":{"apiVersion":"airflow-vpa-webhook.io/v1alpha1",)"
         R"("kind":"AirflowTask","name":"t"})";
  out += spec_extra;
  out += "}";
  if (!status.empty()) {
    out += R"(,"status":)";
    out += status;
  }
  out += "}";
  return out;
}

std::string list_of(const std::vector<std::string>& items) {
  std::string out = R"({"apiVersion":"v1","kind":"List","metadata":{"resourceVersion":""},"items":[)";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ",";
    out += items[i];
  }
  return out + "]}";
}

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

TEST_CASE("watch events of the captured VPA stream decode in order", "[objects][watch]") {
  std::istringstream stream(read_fixture("api/watch-vpas.ndjson"));
  std::vector<WatchEvent> events;
  for (std::string line; std::getline(stream, line);) {
    if (!line.empty()) events.push_back(decode_watch_event(line));
  }
  REQUIRE(events.size() == 4);
  for (const auto& event : events) {
    INFO(joined(event.objects.errors));
    CHECK(event.objects.errors.empty());
  }

  CHECK(events[0].type == WatchEvent::Type::Modified);
  CHECK(events[0].resource_version == "239");
  REQUIRE(events[0].objects.vpas.size() == 1);
  CHECK(events[0].objects.vpas[0].meta.name == "etl-daily-extract");
  REQUIRE(events[0].objects.vpas[0].recommendations.size() == 1);
  CHECK(events[0].objects.vpas[0].recommendations[0].target == values("187m", "623479808"));

  CHECK(events[1].type == WatchEvent::Type::Added);
  CHECK(events[1].resource_version == "240");
  REQUIRE(events[1].objects.vpas.size() == 1);
  CHECK(events[1].objects.vpas[0].meta.name == "etl-daily-transform");
  CHECK(events[1].objects.vpas[0].target_ref.name == "etl-daily-transform");
  CHECK(events[1].objects.vpas[0].recommendations.empty());

  CHECK(events[2].type == WatchEvent::Type::Deleted);
  CHECK(events[2].resource_version == "241");
  REQUIRE(events[2].objects.vpas.size() == 1);
  CHECK(events[2].objects.vpas[0].meta.name == "ml-train-fit");

  CHECK(events[3].type == WatchEvent::Type::Bookmark);
  CHECK(events[3].resource_version == "241");
  CHECK(events[3].objects.vpas.empty());
  CHECK(events[3].objects.errors.empty());
}

TEST_CASE("an expired watch gives an ERROR event with code 410", "[objects][watch]") {
  WatchEvent event = decode_watch_event(read_fixture("api/watch-410.json"));
  CHECK(event.type == WatchEvent::Type::Error);
  CHECK(event.error_code == 410);
  CHECK(event.error_message == "too old resource version: 1 (225)");
  CHECK(event.objects.vpas.empty());
  CHECK(event.objects.targets.empty());
}

TEST_CASE("watch lines that are not watch events throw DecodeError", "[objects][watch]") {
  auto line = GENERATE(as<std::string>{},
                       "", "not json", "[]", "{}", R"({"type":"ADDED"})",
                       R"({"type":"ADDED","object":[]})", R"({"type":"RENAMED","object":{}})",
                       R"({"type":7,"object":{}})", R"({"type":"BOOKMARK","object":{"metadata":{}}})",
                       R"({"type":"ADDED","object":{)");
  INFO("line: " << line);
  CHECK_THROWS_AS(decode_watch_event(line), avw::core::DecodeError);
}

TEST_CASE("a watch event with an undecodable object reports it instead of throwing",
          "[objects][watch]") {
  WatchEvent event = decode_watch_event(
      R"({"type":"MODIFIED","object":{"apiVersion":"autoscaling.k8s.io/v1","kind":"VerticalPodAutoscaler",)"
      R"("metadata":{"name":"v","namespace":"ns","resourceVersion":"9"},"spec":{}}})");
  CHECK(event.type == WatchEvent::Type::Modified);
  CHECK(event.resource_version == "9");
  CHECK(event.objects.vpas.empty());
  REQUIRE(event.objects.errors.size() == 1);
  CHECK_THAT(event.objects.errors[0],
             Catch::Contains("VerticalPodAutoscaler ns/v") && Catch::Contains("spec.targetRef"));
}

TEST_CASE("VPAs written by the real recommender decode", "[objects][recommender]") {
  auto [file, name, target_name, target, lower, upper] =
      GENERATE(table<std::string, std::string, std::string, ResourceValues, ResourceValues,
                     ResourceValues>({
          {"vpa-first.json", "etl-load", "etl-load", values("410m", "628694953"),
           values("25m", "262144k"), values("100G", "100T")},
          {"vpa-etl-load.json", "etl-load", "etl-load", values("511m", "671629701"),
           values("63m", "262144k"), values("789668m", "967818399141")},
          {"vpa-etl-load-nopods.json", "etl-load", "etl-load", values("511m", "671629701"),
           values("63m", "262144k"), values("789668m", "967818399141")},
          {"vpa-etl-load-restart.json", "etl-load", "etl-load", values("511m", "671629701"),
           values("63m", "262144k"), values("789668m", "967818399141")},
          {"vpa-etl-load-executor.json", "etl-load-executor", "etl-load-executor",
           values("2539m", "2539377048"), values("383m", "426527991"),
           values("3658699m", "3659242326168")},
      }));
  INFO("fixture: recommender/" << file);
  DecodedObjects out = decode_clean(read_fixture("recommender/" + file));
  REQUIRE(out.vpas.size() == 1);
  const Vpa& vpa = out.vpas[0];
  CHECK(vpa.meta.name == name);
  CHECK(vpa.meta.namespace_ == "airflow");
  CHECK(vpa.target_ref.kind == "AirflowTask");
  CHECK(vpa.target_ref.name == target_name);
  CHECK(vpa.update_mode == UpdateMode::Off);
  // No resourcePolicy: every container gets the defaults.
  CHECK(vpa.container_policies.empty());
  CHECK(vpa.policy_for("base") == nullptr);
  const auto* rec = vpa.recommendation_for("base");
  REQUIRE(rec != nullptr);
  CHECK(rec->target == target);
  CHECK(rec->uncapped_target == target);
  CHECK(rec->lower_bound == lower);
  CHECK(rec->upper_bound == upper);
}

TEST_CASE("a VPA of a later VPA release decodes as the fields this webhook reads say", "[objects][recommender]") {
  // The fields VPA releases after 1.0 added, at every level they live: spec.recommenders,
  // spec.startupBoost and containerPolicies[].startupBoost (1.7), containerPolicies[]
  // oomBumpUpRatio/oomMinBumpUp (1.5), updatePolicy.minReplicas and evictionRequirements,
  // status.observedGeneration and conditions with observedGeneration (1.7). None of them
  // changes a patch, so each must be ignored, never make the VPA unreadable.
  const std::string later = vpa_json(
      "later",
      R"(,"updatePolicy":{"updateMode":"InPlaceOrRecreate","minReplicas":1,)"
      R"("evictionRequirements":[{"resources":["cpu","memory"],"changeRequirement":"TargetHigherThanRequests"}]},)"
      R"("resourcePolicy":{"containerPolicies":[{"containerName":"*","controlledResources":["cpu","memory"],)"
      R"("oomBumpUpRatio":"1.5","oomMinBumpUp":"200Mi","minAllowed":{"memory":"64Mi"},)"
      R"("startupBoost":{"cpu":{"type":"Factor","factor":2,"duration":"30s"}}}]},)"
      R"("startupBoost":{"cpu":{"type":"Quantity","quantity":"2"}},)"
      R"("recommenders":[{"name":"airflow-vpa-webhook"}])",
      R"({"observedGeneration":4,"conditions":[{"type":"RecommendationProvided","status":"True",)"
      R"("observedGeneration":4,"lastTransitionTime":"2026-11-23T17:10:00Z"},)"
      R"({"type":"NoPodsMatched","status":"True","reason":"NoPodsMatched","message":"No pods match this VPA object"}],)"
      R"("recommendation":{"containerRecommendations":[{"containerName":"base","target":{"cpu":"250m","memory":"300Mi"},)"
      R"("lowerBound":{"cpu":"100m","memory":"200Mi"},"upperBound":{"cpu":"1","memory":"1Gi"},)"
      R"("uncappedTarget":{"cpu":"250m","memory":"300Mi"}}]}})");
  // The same VPA as VPA 1.0 could have written it.
  const std::string plain = vpa_json(
      "later",
      R"(,"updatePolicy":{"updateMode":"InPlaceOrRecreate"},)"
      R"("resourcePolicy":{"containerPolicies":[{"containerName":"*","controlledResources":["cpu","memory"],)"
      R"("minAllowed":{"memory":"64Mi"}}]})",
      R"({"recommendation":{"containerRecommendations":[{"containerName":"base","target":{"cpu":"250m","memory":"300Mi"},)"
      R"("lowerBound":{"cpu":"100m","memory":"200Mi"},"upperBound":{"cpu":"1","memory":"1Gi"},)"
      R"("uncappedTarget":{"cpu":"250m","memory":"300Mi"}}]}})");

  const DecodedObjects from_later = decode_clean(list_of({later}));
  const DecodedObjects from_plain = decode_clean(list_of({plain}));
  REQUIRE(from_later.vpas.size() == 1);
  CHECK(from_later.vpas == from_plain.vpas);
  const Vpa& vpa = from_later.vpas[0];
  CHECK(vpa.update_mode == UpdateMode::InPlaceOrRecreate);
  REQUIRE(vpa.policy_for("base") != nullptr);
  CHECK(vpa.policy_for("base")->min_allowed == values(std::nullopt, "64Mi"));
  REQUIRE(vpa.recommendation_for("base") != nullptr);
  CHECK(vpa.recommendation_for("base")->target == values("250m", "300Mi"));

  // Read piece by piece, as the API source reads a list page, it decodes the same.
  const std::string document = list_of({later});
  std::size_t offset = 0;
  const avw::core::ChunkSource in_chunks = [&]() -> std::string_view {
    const std::string_view chunk = std::string_view(document).substr(offset, 7);
    offset += chunk.size();
    return chunk;
  };
  const DecodedObjects streamed = decode_objects(in_chunks);
  INFO(joined(streamed.errors));
  CHECK(streamed.errors.empty());
  CHECK(streamed.vpas == from_plain.vpas);
}

TEST_CASE("recommender checkpoints show history and memory samples", "[objects][recommender]") {
  auto [file, memory_samples] = GENERATE(table<std::string, bool>({
      {"checkpoints.json", false},
      {"checkpoints-nopods.json", true},
      {"checkpoints-restart.json", true},
  }));
  INFO("fixture: recommender/" << file);
  DecodedObjects out = decode_clean(read_fixture("recommender/" + file));
  CHECK(out.list_resource_version.empty());
  CHECK(out.vpas.empty());
  CHECK(out.targets.empty());
  REQUIRE(out.checkpoints.size() == 2);

  const Checkpoint& operator_cp = out.checkpoints[0];
  CHECK(operator_cp.meta.name == "etl-load-base");
  CHECK(operator_cp.meta.namespace_ == "airflow");
  CHECK(operator_cp.vpa_name == "etl-load");
  CHECK(operator_cp.container_name == "base");
  CHECK(operator_cp.first_sample_start == "2026-11-23T17:29:06Z");
  CHECK(operator_cp.last_sample_start == "2026-11-23T17:30:06Z");
  CHECK(operator_cp.total_samples_count == 35);
  CHECK(operator_cp.has_memory_samples == memory_samples);

  const Checkpoint& executor_cp = out.checkpoints[1];
  CHECK(executor_cp.meta.name == "etl-load-executor-base");
  CHECK(executor_cp.vpa_name == "etl-load-executor");
  CHECK(executor_cp.container_name == "base");
  CHECK(executor_cp.total_samples_count == 7);
  CHECK(executor_cp.has_memory_samples == memory_samples);
}

TEST_CASE("a checkpoint without status has no history", "[objects]") {
  DecodedObjects out = decode_clean(R"({"apiVersion":"autoscaling.k8s.io/v1",
      "kind":"VerticalPodAutoscalerCheckpoint","metadata":{"name":"v-base","namespace":"ns"},
      "spec":{"vpaObjectName":"v","containerName":"base"}})");
  REQUIRE(out.checkpoints.size() == 1);
  CHECK(out.checkpoints[0].total_samples_count == 0);
  CHECK(out.checkpoints[0].first_sample_start.empty());
  CHECK_FALSE(out.checkpoints[0].has_memory_samples);
}

TEST_CASE("the update mode defaults to Auto and every mode name is read", "[objects]") {
  auto [spec_extra, mode] = GENERATE(table<std::string, UpdateMode>({
      {"", UpdateMode::Auto},
      {R"(,"updatePolicy":{})", UpdateMode::Auto},
      {R"(,"updatePolicy":{"updateMode":"Off"})", UpdateMode::Off},
      {R"(,"updatePolicy":{"updateMode":"Initial"})", UpdateMode::Initial},
      {R"(,"updatePolicy":{"updateMode":"Recreate"})", UpdateMode::Recreate},
      {R"(,"updatePolicy":{"updateMode":"Auto"})", UpdateMode::Auto},
      {R"(,"updatePolicy":{"updateMode":"InPlaceOrRecreate"})", UpdateMode::InPlaceOrRecreate},
  }));
  DecodedObjects out = decode_clean(vpa_json("v", spec_extra, ""));
  REQUIRE(out.vpas.size() == 1);
  CHECK(out.vpas[0].update_mode == mode);
  CHECK(avw::core::update_mode_from_string(avw::core::to_string(mode)) == mode);
}

TEST_CASE("update mode names are exact", "[objects]") {
  CHECK_FALSE(avw::core::update_mode_from_string("off"));
  CHECK_FALSE(avw::core::update_mode_from_string(""));
  CHECK_FALSE(avw::core::update_mode_from_string("Off "));
}

TEST_CASE("container policies keep mode, resources, values and bounds", "[objects]") {
  DecodedObjects out = decode_clean(vpa_json("v", R"(,"resourcePolicy":{"containerPolicies":[
      {"containerName":"*","mode":"Off"},
      {"containerName":"base","controlledResources":["memory","memory"],
       "controlledValues":"RequestsOnly","minAllowed":{"cpu":"100m","memory":1073741824},
       "maxAllowed":{"cpu":2,"memory":"4Gi","nvidia.com/gpu":"1"}},
      {"containerName":"sidecar","controlledResources":[]}]})",
                                             ""));
  REQUIRE(out.vpas.size() == 1);
  const Vpa& vpa = out.vpas[0];
  REQUIRE(vpa.container_policies.size() == 3);

  const auto* base = vpa.policy_for("base");
  REQUIRE(base == &vpa.container_policies[1]);  // the exact name wins over an earlier "*"
  CHECK(base->mode == ContainerScalingMode::Auto);
  REQUIRE(base->controlled_resources);
  CHECK(*base->controlled_resources == std::vector<Resource>{Resource::Memory});
  CHECK(base->controlled_values == ControlledValues::RequestsOnly);
  CHECK(base->min_allowed == values("100m", "1Gi"));
  CHECK(base->max_allowed == values("2", "4Gi"));

  const auto* sidecar = vpa.policy_for("sidecar");
  REQUIRE(sidecar != nullptr);
  REQUIRE(sidecar->controlled_resources);
  CHECK(sidecar->controlled_resources->empty());  // explicitly nothing, not the default

  const auto* other = vpa.policy_for("other");
  REQUIRE(other == &vpa.container_policies[0]);
  CHECK(other->mode == ContainerScalingMode::Off);
  CHECK_FALSE(other->controlled_resources);
}

TEST_CASE("recommendations keep only cpu and memory", "[objects]") {
  DecodedObjects out = decode_clean(vpa_json(
      "v", "",
      R"({"recommendation":{"containerRecommendations":[{"containerName":"base",
          "target":{"cpu":"250m","memory":"512Mi","ephemeral-storage":"1Gi","nvidia.com/gpu":"x"}}]}})"));
  REQUIRE(out.vpas.size() == 1);
  REQUIRE(out.vpas[0].recommendations.size() == 1);
  CHECK(out.vpas[0].recommendations[0].target == values("250m", "512Mi"));
  CHECK(out.vpas[0].recommendations[0].lower_bound.empty());
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

TEST_CASE("RFC 3339 timestamps convert to seconds since the epoch", "[objects][time]") {
  auto [text, seconds] = GENERATE(table<std::string, std::int64_t>({
      {"1970-01-01T00:00:00Z", 0},
      {"1969-12-31T23:59:59Z", -1},
      {"2026-11-23T17:09:07Z", 1795453747},
      {"2026-11-23T17:09:07.123456789Z", 1795453747},
      {"2026-11-23T17:09:07+02:00", 1795446547},
      {"2026-11-23T17:09:07-05:30", 1795473547},
      {"2026-11-23t17:09:07z", 1795453747},
      {"2024-02-29T23:59:59Z", 1709251199},
      {"2000-03-01T00:00:00Z", 951868800},
      {"0000-03-01T00:00:00Z", -62162035200},
  }));
  INFO("timestamp: " << text);
  CHECK(parse_rfc3339(text) == seconds);
}

TEST_CASE("malformed timestamps are rejected", "[objects][time]") {
  auto text = GENERATE(as<std::string>{}, "", "2026", "2026-11-23", "2026-11-23T17:09:07",
                       "2026-11-23 17:09:07Z", "2026-11-23T17:09Z", "2026-11-23T17:09:07.Z",
                       "2026-11-23T17:09:07+0200", "2026-11-23T17:09:07+2:00", "2026-11-23T17:09:07ZZ",
                       "2026-11-23T17:09:07Z ", " 2026-11-23T17:09:07Z", "2026-13-01T00:00:00Z",
                       "2026-00-01T00:00:00Z", "2026-11-00T00:00:00Z", "2026-11-31T00:00:00Z",
                       "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-11-23T24:00:00Z",
                       "2026-11-23T23:60:00Z", "2026-11-23T23:59:60Z", "2026-11-23T17:09:07+24:00",
                       "2026-11-23T17:09:07+01:60", "+2026-11-23T17:09:07Z", "2026-1a-23T17:09:07Z",
                       "20261123T170907Z");
  INFO("timestamp: " << text);
  CHECK_FALSE(parse_rfc3339(text));
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
