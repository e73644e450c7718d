// VerticalPodAutoscalers and their checkpoints, as the real recommender writes them, and every
// field of a VPA the decision reads.
#include "avw/core/objects.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "avw/core/object_list.hpp"
#include "object_samples.hpp"
#include "support/fixtures.hpp"

namespace {

using avw::core::Checkpoint;
using avw::core::ContainerScalingMode;
using avw::core::ControlledValues;
using avw::core::UpdateMode;
using avw::core::Vpa;
using avw::test::read_fixture;
using namespace avw::test::object_samples;

}  // namespace

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

