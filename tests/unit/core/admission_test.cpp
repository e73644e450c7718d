// Decoding the AdmissionReview: the reviews a real API server sent (tests/fixtures/admission)
// and every shape of request and pod the decoder reads. Refused bodies: admission_errors_test.cpp.
#include "avw/core/admission.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "review_samples.hpp"

namespace {

using avw::core::AdmissionRequest;
using avw::core::ParsedReview;
using avw::core::PodContainer;
using avw::core::Quantity;
using avw::core::Resource;
using avw::test::review_samples::fixture;
using avw::test::review_samples::review_with_request;
using avw::test::review_samples::patched;

constexpr std::int64_t kMi = std::int64_t{1} << 20;
constexpr std::int64_t kGi = std::int64_t{1} << 30;

Quantity milli(std::int64_t m) { return Quantity::from_milli(m); }
Quantity units(std::int64_t u) { return Quantity::from_units(u); }

std::vector<std::string_view> container_names(const AdmissionRequest& request) {
  std::vector<std::string_view> names;
  for (const PodContainer& c : request.pod.containers) names.push_back(c.name);
  return names;
}

struct FixtureCase {
  std::string file;
  std::string uid;
  std::string name;           // request.name and metadata.name
  std::string generate_name;
  bool dry_run;
  std::string dag_id;
  std::string task_id;
  std::vector<std::string_view> containers;
};

const std::vector<FixtureCase>& fixture_cases() {
  static const std::vector<FixtureCase> cases = {
      {"kpo-pod", "71855644-6b31-452d-82c9-d8999240b18e", "", "load-", false, "etl_daily", "load",
       {"base", "airflow-xcom-sidecar"}},
      {"executor-pod", "2b617356-268b-4184-8c95-ed9b86d358de", "etl-daily-load-8c1f2a", "", false, "etl_daily",
       "load", {"base"}},
      {"dryrun", "15008fef-7bdc-49be-b4a7-35fdccc500ac", "", "load-", true, "etl_daily", "load",
       {"base", "airflow-xcom-sidecar"}},
      {"long-names", "fcf7acf5-fa4f-4645-ba34-cf663510a108", "long-names", "", false,
       "team-data-platform.nightly_etl.v2-customer_orders.aggregate-01x",
       "transform_orders.partition-by-region_and_day.compute-v3-stage9z", {"base"}},
      {"limits-init-pod", "1a0f27fc-afcd-41ab-954f-3ca3d8d1378f", "", "fit-", false, "ml_train", "fit", {"base"}},
      {"executor-pod-with-limitrange", "76f945d1-8ea0-4b39-8054-02ffd0d0a701", "etl-daily-load-8c1f2a", "", false,
       "etl_daily", "load", {"base"}},
      {"kpo-pod-with-sa-volume", "f38f19da-e58a-44e1-a128-d05019736180", "", "load-", false, "etl_daily", "load",
       {"base", "airflow-xcom-sidecar"}},
  };
  return cases;
}

}  // namespace

// --- decoding the captured reviews ---


TEST_CASE("every captured admission review is covered by the decoding table", "[admission]") {
  std::vector<std::string> on_disk;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(AVW_FIXTURES_DIR) + "/admission")) {
    if (entry.path().extension() == ".json") on_disk.push_back(entry.path().stem().string());
  }
  std::vector<std::string> in_table;
  for (const FixtureCase& c : fixture_cases()) in_table.push_back(c.file);
  std::sort(on_disk.begin(), on_disk.end());
  std::sort(in_table.begin(), in_table.end());
  CHECK(on_disk == in_table);
}

TEST_CASE("every captured admission review decodes as a v1 pod create", "[admission]") {
  const FixtureCase c = GENERATE(from_range(fixture_cases()));
  INFO(c.file);
  const ParsedReview review(fixture(c.file));
  const AdmissionRequest& r = review.request();

  CHECK(r.review_api_version == "admission.k8s.io/v1");
  CHECK(r.review_kind == "AdmissionReview");
  CHECK(r.uid == c.uid);
  CHECK(r.kind.group.empty());
  CHECK(r.kind.version == "v1");
  CHECK(r.kind.kind == "Pod");
  CHECK(r.resource == "pods");
  CHECK(r.sub_resource.empty());
  CHECK(r.name == c.name);
  CHECK(r.namespace_ == "airflow");
  CHECK(r.operation == "CREATE");
  CHECK(r.dry_run == c.dry_run);

  REQUIRE(r.has_pod);
  CHECK(r.pod.name == c.name);
  CHECK(r.pod.generate_name == c.generate_name);
  CHECK(r.pod.namespace_ == "airflow");
  CHECK(r.pod.labels.get("dag_id") == c.dag_id);
  CHECK(r.pod.labels.get("task_id") == c.task_id);
  CHECK(container_names(r) == c.containers);
  for (const PodContainer& container : r.pod.containers) CHECK_FALSE(container.has_invalid_quantity);
}

TEST_CASE("a pod operator pod decodes its labels and container requests", "[admission]") {
  const ParsedReview review(fixture("kpo-pod"));
  const auto& pod = review.request().pod;

  CHECK(pod.labels.size() == 7);
  CHECK(pod.labels.get("kubernetes_pod_operator") == "True");
  CHECK(pod.labels.get("try_number") == "1");
  CHECK(pod.labels.get("run_id") == "scheduled__2026-11-20T0000000000-8f3a1b2c4");
  CHECK_FALSE(pod.labels.contains("kubernetes_executor"));
  CHECK_FALSE(pod.has_annotations);
  CHECK(pod.annotations.empty());

  REQUIRE(pod.containers.size() == 2);
  const PodContainer& base = pod.containers[0];
  CHECK(base.has_resources);
  CHECK(base.has_requests);
  CHECK_FALSE(base.has_limits);
  CHECK(base.requests[Resource::Cpu] == milli(500));
  CHECK(base.requests[Resource::Memory] == units(kGi));
  CHECK(base.limits.empty());

  const PodContainer& sidecar = pod.containers[1];
  CHECK(sidecar.requests[Resource::Cpu] == milli(1));
  CHECK(sidecar.requests[Resource::Memory] == units(10 * kMi));
  CHECK(sidecar.limits.empty());
}

TEST_CASE("a server-side dry run decodes with dryRun set and no name", "[admission]") {
  const ParsedReview review(fixture("dryrun"));
  const AdmissionRequest& r = review.request();
  CHECK(r.dry_run);
  CHECK(r.name.empty());
  CHECK(r.pod.name.empty());
  CHECK(r.pod.generate_name == "load-");
}

TEST_CASE("an executor pod without resources decodes an empty resources object", "[admission]") {
  const ParsedReview review(fixture("executor-pod"));
  const auto& pod = review.request().pod;
  CHECK(pod.labels.get("kubernetes_executor") == "True");
  CHECK(pod.labels.get("airflow-worker") == "12");
  CHECK(pod.has_annotations);
  CHECK(pod.annotations.size() == 4);
  CHECK(pod.annotations.get("run_id") == "manual__2026-11-21T10:12:00+00:00");

  REQUIRE(pod.containers.size() == 1);
  const PodContainer& base = pod.containers[0];
  CHECK(base.has_resources);
  CHECK_FALSE(base.has_requests);
  CHECK_FALSE(base.has_limits);
  CHECK(base.requests.empty());
  CHECK(base.limits.empty());
}

TEST_CASE("an executor pod under a LimitRange decodes the defaulted requests and limit", "[admission]") {
  const ParsedReview review(fixture("executor-pod-with-limitrange"));
  const auto& pod = review.request().pod;
  CHECK(pod.annotations.get("kubernetes.io/limit-ranger") ==
        "LimitRanger plugin set: cpu, memory request for container base; memory limit for container base");

  REQUIRE(pod.containers.size() == 1);
  const PodContainer& base = pod.containers[0];
  CHECK(base.has_requests);
  CHECK(base.has_limits);
  CHECK(base.requests[Resource::Cpu] == milli(10));
  CHECK(base.requests[Resource::Memory] == units(8 * kGi));
  CHECK_FALSE(base.limits[Resource::Cpu].has_value());
  CHECK(base.limits[Resource::Memory] == units(8 * kGi));
}

TEST_CASE("a pod with limits decodes them and leaves its init containers out", "[admission]") {
  const ParsedReview review(fixture("limits-init-pod"));
  const auto& pod = review.request().pod;
  REQUIRE(pod.containers.size() == 1);
  const PodContainer& base = pod.containers[0];
  CHECK(base.name == "base");
  CHECK(base.requests[Resource::Cpu] == units(2));
  CHECK(base.requests[Resource::Memory] == units(4 * kGi));
  CHECK(base.limits[Resource::Cpu] == units(4));
  CHECK(base.limits[Resource::Memory] == units(8 * kGi));
}

TEST_CASE("label values of 63 characters decode in full", "[admission]") {
  const ParsedReview review(fixture("long-names"));
  CHECK(review.request().pod.labels.get("dag_id")->size() == 63);
  CHECK(review.request().pod.labels.get("task_id")->size() == 63);
}



TEST_CASE("the last of duplicated keys wins, as in the API server's decoder", "[admission]") {
  const ParsedReview review(review_with_request(R"({"uid":"first","operation":"CREATE","uid":"second"})"));
  CHECK(review.request().uid == "second");
}

TEST_CASE("strings keep escaped NUL characters and their full length", "[admission]") {
  const ParsedReview review(review_with_request(R"({"uid":"a\u0000b","operation":"CREATE"})"));
  CHECK(review.request().uid == std::string_view("a\0b", 3));
}

TEST_CASE("a body need not be NUL-terminated", "[admission]") {
  const std::string body = review_with_request(R"({"uid":"u","operation":"CREATE"})") + "trailing";
  const ParsedReview review(std::string_view(body).substr(0, body.size() - 8));
  CHECK(review.request().uid == "u");
}

TEST_CASE("optional request fields may be null or absent", "[admission]") {
  const ParsedReview review(review_with_request(
      R"({"uid":"u","operation":"DELETE","kind":null,"name":null,"namespace":null,"dryRun":null,"object":null})"));
  const AdmissionRequest& r = review.request();
  CHECK(r.operation == "DELETE");
  CHECK(r.kind.kind.empty());
  CHECK(r.namespace_.empty());
  CHECK_FALSE(r.dry_run);
  CHECK_FALSE(r.has_pod);
}

TEST_CASE("requests that are not about a v1 pod object decode without a pod", "[admission]") {
  const std::string body = fixture("kpo-pod");
  const auto [op, path, value] = GENERATE(table<std::string, std::string, std::string>({
      {"replace", "/request/kind/kind", R"("Deployment")"},
      {"replace", "/request/kind/group", R"("apps")"},
      {"replace", "/request/kind/version", R"("v2")"},
      {"replace", "/request/resource/resource", R"("deployments")"},
      {"add", "/request/subResource", R"("ephemeralcontainers")"},
      {"replace", "/request/object", "null"},
      {"remove", "/request/object", ""},
      {"replace", "/request/object", R"("pod")"},
      {"replace", "/request/object/kind", R"("Deployment")"},
      {"replace", "/request/object/apiVersion", R"("apps/v1")"},
  }));
  INFO(op << " " << path << " " << value);
  const std::string changed = op == "remove" ? patched(body, op, path) : patched(body, op, path, value);
  const ParsedReview review(changed);
  CHECK(review.request().uid == "71855644-6b31-452d-82c9-d8999240b18e");
  CHECK_FALSE(review.request().has_pod);
  CHECK(review.request().pod.containers.empty());
  CHECK(review.request().pod.labels.empty());
}

TEST_CASE("a pod object of an odd shape decodes without a pod", "[admission]") {
  // The API server would never send these (it re-serializes a typed Pod), so the pod is left
  // alone rather than half understood.
  const std::string body = fixture("kpo-pod");
  const auto [op, path, value] = GENERATE(table<std::string, std::string, std::string>({
      {"replace", "/request/object/metadata", "[]"},
      {"replace", "/request/object/metadata/generateName", "7"},
      {"add", "/request/object/metadata/name", "{}"},
      {"replace", "/request/object/metadata/namespace", "true"},
      {"replace", "/request/object/metadata/labels", R"("dag_id=etl")"},
      {"replace", "/request/object/metadata/labels/dag_id", "1"},
      {"replace", "/request/object/metadata/labels/try_number", "null"},
      {"add", "/request/object/metadata/annotations", "[]"},
      {"add", "/request/object/metadata/annotations", R"({"a":{"b":"c"}})"},
      {"replace", "/request/object/spec", "[]"},
      {"replace", "/request/object/spec/containers", "{}"},
      {"replace", "/request/object/spec/containers/0", R"("base")"},
      {"remove", "/request/object/spec/containers/1/name", ""},
      {"replace", "/request/object/spec/containers/1/name", R"("")"},
      {"replace", "/request/object/spec/containers/0/resources", "[]"},
      {"replace", "/request/object/spec/containers/0/resources/requests", R"("cpu=1")"},
      {"add", "/request/object/spec/containers/0/resources/limits", "[]"},
  }));
  INFO(op << " " << path << " " << value);
  const std::string changed = op == "remove" ? patched(body, op, path) : patched(body, op, path, value);
  const ParsedReview review(changed);
  CHECK_FALSE(review.request().has_pod);
  CHECK(review.request().pod.containers.empty());
  CHECK(review.request().pod.labels.empty());
  CHECK(review.request().pod.annotations.empty());
}

TEST_CASE("null pod fields count as absent", "[admission]") {
  const std::string body = fixture("kpo-pod");
  SECTION("annotations") {
    const ParsedReview review(patched(body, "add", "/request/object/metadata/annotations", "null"));
    CHECK(review.request().has_pod);
    CHECK_FALSE(review.request().pod.has_annotations);
  }
  SECTION("empty annotations are still present") {
    const ParsedReview review(patched(body, "add", "/request/object/metadata/annotations", "{}"));
    CHECK(review.request().pod.has_annotations);
    CHECK(review.request().pod.annotations.empty());
  }
  SECTION("resources") {
    const ParsedReview review(patched(body, "replace", "/request/object/spec/containers/0/resources", "null"));
    REQUIRE(review.request().has_pod);
    CHECK_FALSE(review.request().pod.containers[0].has_resources);
    CHECK_FALSE(review.request().pod.containers[0].has_requests);
  }
  SECTION("requests") {
    const ParsedReview review(
        patched(body, "replace", "/request/object/spec/containers/0/resources/requests", "null"));
    REQUIRE(review.request().has_pod);
    CHECK(review.request().pod.containers[0].has_resources);
    CHECK_FALSE(review.request().pod.containers[0].has_requests);
  }
  SECTION("containers") {
    const ParsedReview review(patched(body, "replace", "/request/object/spec/containers", "null"));
    CHECK(review.request().has_pod);
    CHECK(review.request().pod.containers.empty());
  }
}

TEST_CASE("an invalid cpu or memory quantity marks the container instead of failing", "[admission]") {
  const std::string body = fixture("kpo-pod");
  const auto [path, value] = GENERATE(table<std::string, std::string>({
      {"/request/object/spec/containers/0/resources/requests/cpu", R"("lots")"},
      {"/request/object/spec/containers/0/resources/requests/cpu", "1"},
      {"/request/object/spec/containers/0/resources/requests/cpu", R"("")"},
      {"/request/object/spec/containers/0/resources/requests/memory", R"("1.5.3Gi")"},
      {"/request/object/spec/containers/0/resources/requests/memory", "{}"},
      {"/request/object/spec/containers/0/resources/limits", R"({"memory":"8Gb"})"},
  }));
  INFO(path << " = " << value);
  const ParsedReview review(patched(body, "add", path, value));
  REQUIRE(review.request().has_pod);
  CHECK(review.request().pod.containers[0].has_invalid_quantity);
  CHECK_FALSE(review.request().pod.containers[1].has_invalid_quantity);
}

TEST_CASE("resources other than cpu and memory are ignored", "[admission]") {
  const ParsedReview review(patched(fixture("kpo-pod"), "add",
                                    "/request/object/spec/containers/0/resources/limits",
                                    R"({"ephemeral-storage":"not a quantity","nvidia.com/gpu":1})"));
  const PodContainer& base = review.request().pod.containers.at(0);
  CHECK(base.has_limits);
  CHECK(base.limits.empty());
  CHECK_FALSE(base.has_invalid_quantity);
}

