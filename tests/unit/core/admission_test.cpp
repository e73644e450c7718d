// The AdmissionReview codec against the reviews a real API server sent (tests/fixtures/admission),
// against malformed and hostile bodies, and the response it writes back.
#include "avw/core/admission.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "avw/core/decision.hpp"
#include "support/fixtures.hpp"
#include "support/json_patch.hpp"

namespace {

using avw::core::AdmissionRequest;
using avw::core::DecodeError;
using avw::core::Decision;
using avw::core::Outcome;
using avw::core::kReviewPadding;
using avw::core::PaddedBody;
using avw::core::ParsedReview;
using avw::core::PatchOp;
using avw::core::PodContainer;
using avw::core::Quantity;
using avw::core::Resource;
using avw::core::ReviewBuffer;
using avw::test::apply_json_patch;
using avw::test::json_at;
using avw::test::json_has;
using avw::test::read_fixture;
using Catch::Matchers::Contains;

constexpr std::int64_t kMi = std::int64_t{1} << 20;
constexpr std::int64_t kGi = std::int64_t{1} << 30;

Quantity milli(std::int64_t m) { return Quantity::from_milli(m); }
Quantity units(std::int64_t u) { return Quantity::from_units(u); }

// The DecodeError message for `body`, or "(decoded)". Any other exception escapes and fails
// the test: the codec promises DecodeError and nothing else.
std::string decode_error(std::string_view body) {
  try {
    const ParsedReview review(body);
  } catch (const DecodeError& e) {
    return e.what();
  }
  return "(decoded)";
}

std::string fixture(std::string_view name) { return read_fixture("admission/" + std::string(name) + ".json"); }

// A minimal valid review around a request object.
std::string review_with_request(std::string_view request) {
  return R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":)" + std::string(request) + "}";
}

// One JSON Patch operation on a fixture body.
std::string patched(const std::string& body, std::string_view op, std::string_view path,
                    std::optional<std::string_view> value = std::nullopt) {
  std::string patch = R"([{"op":")" + std::string(op) + R"(","path":)" + avw::test::json_string(path);
  if (value) patch += R"(,"value":)" + std::string(*value);
  patch += "}]";
  return apply_json_patch(body, patch);
}

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

TEST_CASE("a moved ParsedReview keeps its views valid", "[admission]") {
  ParsedReview original(fixture("kpo-pod"));
  ParsedReview moved(std::move(original));
  CHECK(moved.request().uid == "71855644-6b31-452d-82c9-d8999240b18e");
  CHECK(moved.request().pod.labels.get("task_id") == "load");

  ParsedReview assigned(fixture("executor-pod"));
  assigned = std::move(moved);
  CHECK(assigned.request().pod.containers.at(1).name == "airflow-xcom-sidecar");
}

TEST_CASE("reviews alive at the same time keep their own views, whichever parser they reuse", "[admission]") {
  // Each review holds the parser its strings live in; a thread keeps one spare for the next.
  auto first = std::make_optional<ParsedReview>(fixture("executor-pod"));
  const ParsedReview second(fixture("kpo-pod"));
  first.reset();  // its parser becomes this thread's spare...
  const ParsedReview third(review_with_request(R"({"uid":"third","operation":"CREATE"})"));  // ...and is reused
  CHECK(second.request().uid != third.request().uid);
  CHECK(second.request().pod.containers.at(1).name == "airflow-xcom-sidecar");
  CHECK(third.request().uid == "third");

  // A refused body gives its parser back too, and the next review gets it.
  CHECK_THROWS_AS(ParsedReview(R"({"kind":)"), DecodeError);
  CHECK(ParsedReview(fixture("executor-pod")).request().pod.containers.size() == 1);

  // A parser grown by a big review is given up, and the next review decodes the same.
  const std::string big = review_with_request(R"({"uid":"big","operation":"CREATE","padding":")" +
                                        std::string(1 << 20, 'x') + R"("})");
  CHECK(ParsedReview(big).request().uid == "big");
  CHECK(ParsedReview(fixture("kpo-pod")).request().pod.labels.get("task_id") == "load");
}

// The server's bodies: appended as they arrive, decoded where they lie.
ReviewBuffer buffered(std::string_view body, std::size_t piece) {
  ReviewBuffer b;
  for (std::size_t at = 0; at < body.size(); at += piece) {
    const std::string_view part = body.substr(at, piece);
    b.append(part.data(), part.size());
  }
  return b;
}

TEST_CASE("a review buffer holds the body with zeros after it, however it arrived", "[admission]") {
  const std::string body = fixture("kpo-pod");
  for (const std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{4096}, body.size()}) {
    const ReviewBuffer b = buffered(body, piece);
    INFO("pieces of " << piece);
    CHECK(b.view() == body);
    const PaddedBody padded = b.padded();
    CHECK(padded.bytes() == body);
    CHECK(std::all_of(padded.bytes().end(), padded.bytes().end() + kReviewPadding, [](char c) { return c == '\0'; }));
  }
  ReviewBuffer b = buffered(body, 100);
  const std::size_t capacity = b.capacity();
  b.clear();
  CHECK(b.view().empty());
  CHECK(b.capacity() == capacity);  // kept for the next request
  b.append("{}", 2);
  CHECK(b.view() == "{}");
  b.release();
  CHECK(b.capacity() < 100);
  CHECK(ReviewBuffer().padded().bytes().empty());
}

TEST_CASE("a review buffer read into place keeps only what was written, padded", "[admission]") {
  const std::string body = fixture("kpo-pod");
  ReviewBuffer b;
  b.reserve(body.size());
  const std::size_t capacity = b.capacity();
  b.append(body.data(), 10);
  // A read asked for the rest and got part of it, then the rest.
  char* at = b.extend(body.size() - 10);
  std::memcpy(at, body.data() + 10, 1000);
  b.truncate(10 + 1000);
  CHECK(b.view() == std::string_view(body).substr(0, 1010));
  at = b.extend(body.size() - 1010);
  std::memcpy(at, body.data() + 1010, body.size() - 1010);
  CHECK(b.view() == body);
  CHECK(b.capacity() == capacity);  // reserved: no reallocation on the way
  const PaddedBody padded = b.padded();
  CHECK(std::all_of(padded.bytes().end(), padded.bytes().end() + kReviewPadding, [](char c) { return c == '\0'; }));
  CHECK(ParsedReview(padded).request().pod.labels.get("task_id") == "load");
  b.truncate(2 * body.size());  // never longer
  CHECK(b.size() == body.size());
  ReviewBuffer moved = std::move(b);
  CHECK(moved.view() == body);
  CHECK(b.size() == 0);
  CHECK(b.padded().bytes().empty());
}

TEST_CASE("a padded body decodes as the same bytes in a string do, errors included", "[admission]") {
  for (const char* name : {"kpo-pod", "executor-pod"}) {
    const std::string body = fixture(name);
    const ReviewBuffer b = buffered(body, 1000);
    const ParsedReview in_place(b.padded());
    const ParsedReview copied(body);
    CHECK(in_place.request().uid == copied.request().uid);
    CHECK(in_place.request().pod.containers.size() == copied.request().pod.containers.size());
    CHECK(in_place.request().pod.labels.get("task_id") == copied.request().pod.labels.get("task_id"));
  }
  for (const std::string_view bad : {std::string_view(R"({"kind":)"), std::string_view(""), std::string_view("[1]"),
                                     std::string_view("{\"a\":\"\xff\"}")}) {
    std::string in_place_error, copied_error;
    try {
      const ParsedReview r(buffered(bad, 3).padded());
    } catch (const DecodeError& e) {
      in_place_error = e.what();
    }
    try {
      const ParsedReview r(bad);
    } catch (const DecodeError& e) {
      copied_error = e.what();
    }
    INFO(bad);
    CHECK(!in_place_error.empty());
    CHECK(in_place_error == copied_error);
  }
}

TEST_CASE("a body that starts with a byte order mark is refused as not JSON", "[admission]") {
  // As Go's encoding/json refuses it (the API server never sends one); RapidJSON would skip it.
  const std::string body = "\xEF\xBB\xBF" + fixture("kpo-pod");
  CHECK_THROWS_WITH(ParsedReview(body), Catch::StartsWith("AdmissionReview is not valid JSON"));
  CHECK_THROWS_WITH(ParsedReview(std::string_view("\xEF" "666")), Catch::StartsWith("AdmissionReview is not valid JSON"));
}

TEST_CASE("a number past 64 bits is refused with the parser's reason", "[admission]") {
  // RapidJSON read such integers as doubles; simdjson, which decodes the reviews, refuses
  // them. The API server never sends one: every number in a Pod is a typed Go integer.
  CHECK_THROWS_WITH(ParsedReview(review_with_request(R"({"uid":"u","operation":"CREATE","n":18446744073709551616})")),
                    "AdmissionReview is not valid JSON: Problem while parsing a number");
}

// --- decoding details ---

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

// --- malformed reviews ---

TEST_CASE("a malformed AdmissionReview is a DecodeError with a clear message", "[admission]") {
  const std::string nul_body = review_with_request(R"({"uid":"u","operation":"CREATE"})") + std::string(1, '\0') + "x";
  const auto [body, expected] = GENERATE_COPY(table<std::string, std::string>({
      {"", "AdmissionReview is not valid JSON: The document is empty. (at byte 0)"},
      {"not json", "AdmissionReview is not valid JSON: Invalid value. (at byte 1)"},
      {R"({"apiVersion":)", "AdmissionReview is not valid JSON"},
      {"{} {}", "AdmissionReview is not valid JSON: The document root must not be followed by other values."},
      {nul_body, "unexpected NUL byte"},
      {"{\"apiVersion\":\"\xff\"}", "AdmissionReview is not valid JSON: invalid UTF-8 (at byte 15)"},
      {"[]", "AdmissionReview must be a JSON object, got an array"},
      {R"("review")", "AdmissionReview must be a JSON object, got a string"},
      {"null", "AdmissionReview must be a JSON object, got null"},
      {R"({"kind":"AdmissionReview","request":{}})",
       "AdmissionReview has no apiVersion: only admission.k8s.io/v1 is served"},
      {R"({"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}})",
       R"(unsupported AdmissionReview apiVersion "admission.k8s.io/v1beta1": only admission.k8s.io/v1 is served)"},
      {R"({"apiVersion":"v1\n\"x","kind":"AdmissionReview"})",
       R"(unsupported AdmissionReview apiVersion "v1\x0a\"x": only admission.k8s.io/v1 is served)"},
      {R"({"apiVersion":1,"kind":"AdmissionReview"})", "AdmissionReview apiVersion must be a string, got a number"},
      {R"({"apiVersion":"admission.k8s.io/v1","request":{}})", "AdmissionReview has no kind"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"Pod"})", R"(unsupported kind "Pod": expected AdmissionReview)"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":["AdmissionReview"]})",
       "AdmissionReview kind must be a string, got an array"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})", "AdmissionReview has no request"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u","allowed":true}})",
       "AdmissionReview has no request"},
      {review_with_request("null"), "AdmissionReview has no request"},
      {review_with_request("[]"), "request must be an object, got an array"},
      {review_with_request(R"({"operation":"CREATE"})"), "request.uid is missing"},
      {review_with_request(R"({"uid":"","operation":"CREATE"})"), "request.uid is empty"},
      {review_with_request(R"({"uid":7,"operation":"CREATE"})"), "request.uid must be a string, got a number"},
      {review_with_request(R"({"uid":{},"operation":"CREATE"})"), "request.uid must be a string, got an object"},
      {review_with_request(R"({"uid":"u"})"), "request.operation is missing"},
      {review_with_request(R"({"uid":"u","operation":true})"), "request.operation must be a string, got a boolean"},
      {review_with_request(R"({"uid":"u","operation":"CREATE","dryRun":"true"})"),
       "request.dryRun must be a boolean, got a string"},
      {review_with_request(R"({"uid":"u","operation":"CREATE","kind":"Pod"})"),
       "request.kind must be an object, got a string"},
      {review_with_request(R"({"uid":"u","operation":"CREATE","kind":{"kind":1}})"),
       "request.kind.kind must be a string, got a number"},
      {review_with_request(R"({"uid":"u","operation":"CREATE","kind":{"group":[]}})"),
       "request.kind.group must be a string, got an array"},
      {review_with_request(R"({"uid":"u","operation":"CREATE","resource":"pods"})"),
       "request.resource must be an object, got a string"},
      {review_with_request(R"({"uid":"u","operation":"CREATE","resource":{"resource":false}})"),
       "request.resource.resource must be a string, got a boolean"},
      {review_with_request(R"({"uid":"u","operation":"CREATE","subResource":1})"),
       "request.subResource must be a string, got a number"},
      {review_with_request(R"({"uid":"u","operation":"CREATE","name":{}})"),
       "request.name must be a string, got an object"},
      {review_with_request(R"({"uid":"u","operation":"CREATE","namespace":[]})"),
       "request.namespace must be a string, got an array"},
  }));
  INFO(body);
  CHECK_THAT(decode_error(body), Contains(expected));
}

TEST_CASE("a truncated review is rejected at every length without a crash", "[admission]") {
  const std::string body = fixture("kpo-pod");
  const std::size_t end = body.find_last_of('}') + 1;
  std::vector<std::size_t> wrong;
  for (std::size_t length = 0; length < body.size(); ++length) {
    const std::string message = decode_error(std::string_view(body).substr(0, length));
    // Only trailing whitespace may be cut off; any shorter prefix is not JSON.
    const bool ok = length < end ? message.rfind("AdmissionReview is not valid JSON: ", 0) == 0
                                 : message == "(decoded)";
    if (!ok) wrong.push_back(length);
  }
  CHECK(wrong.empty());
}

TEST_CASE("deep nesting is rejected without a crash", "[admission]") {
  const auto nested = [](std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  SECTION("10000 levels as the body") {
    CHECK(decode_error(nested(10000)) == "AdmissionReview is nested deeper than 256 levels");
  }
  SECTION("10000 levels of objects inside the request") {
    std::string deep;
    for (int i = 0; i < 10000; ++i) deep += R"({"a":)";
    deep += "1" + std::string(10000, '}');
    CHECK(decode_error(review_with_request(R"({"uid":"u","operation":"CREATE","x":)" + deep + "}")) ==
          "AdmissionReview is nested deeper than 256 levels");
  }
  SECTION("an unterminated 100000-level body") {
    CHECK_THAT(decode_error(std::string(100000, '[')), Contains("nested deeper than 256 levels"));
  }
  SECTION("exactly 256 levels are accepted") {
    // The root object and the request are two levels.
    const std::string body = review_with_request(R"({"uid":"u","operation":"CREATE","x":)" + nested(254) + "}");
    CHECK(decode_error(body) == "(decoded)");
    const std::string deeper = review_with_request(R"({"uid":"u","operation":"CREATE","x":)" + nested(255) + "}");
    CHECK(decode_error(deeper) == "AdmissionReview is nested deeper than 256 levels");
  }
}

TEST_CASE("odd values anywhere in a real review never crash the decoder", "[admission]") {
  // Every value of a real review is replaced in turn by values of every JSON type (and
  // removed): each body must either decode consistently or fail with a DecodeError.
  const std::string body = fixture("kpo-pod");
  const std::vector<std::string> odd_values = {"null", "true", "0", "-1.5e300", R"("")", R"("x")",
                                               "[]", "{}", "[{}]", R"({"name":1})", R"(["a",{"b":[null]}])"};
  std::size_t decoded = 0;
  std::size_t rejected = 0;
  std::vector<std::string> inconsistent;
  const auto check = [&](const std::string& changed, const std::string& what) {
    std::optional<ParsedReview> review;
    try {
      review.emplace(changed);
    } catch (const DecodeError&) {
      ++rejected;
      return;
    }
    ++decoded;
    const AdmissionRequest& r = review->request();
    bool consistent = !r.uid.empty() && r.review_api_version == "admission.k8s.io/v1";
    if (r.has_pod) {
      for (const PodContainer& c : r.pod.containers) consistent = consistent && !c.name.empty();
    } else {
      consistent = consistent && r.pod.containers.empty() && r.pod.labels.empty();
    }
    if (!consistent) inconsistent.push_back(what);
  };
  for (const std::string& pointer : avw::test::json_pointers(body)) {
    for (const std::string& value : odd_values) check(patched(body, "replace", pointer, value), pointer + " = " + value);
    check(patched(body, "remove", pointer), "remove " + pointer);
  }
  CHECK(inconsistent.empty());
  CHECK(decoded > 0);
  CHECK(rejected > 0);
}

// --- encoding ---

TEST_CASE("a response without a patch echoes the review and allows the pod", "[admission]") {
  const ParsedReview review(fixture("kpo-pod"));
  const Decision decision;  // Skipped: allowed, no patch
  CHECK(encode_response(review.request(), decision) ==
        R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":)"
        R"({"uid":"71855644-6b31-452d-82c9-d8999240b18e","allowed":true}})");
}

TEST_CASE("a patched decision sends its patch as base64 JSON that applies to the pod", "[admission]") {
  const std::string body = fixture("kpo-pod");
  const ParsedReview review(body);
  Decision decision;
  decision.outcome = Outcome::Patched;
  decision.patch = {
      {"/metadata/annotations", std::nullopt},
      {"/metadata/annotations/airflow-vpa-webhook.io~1vpa", "etl-daily-load"},
      {"/spec/containers/0/resources/requests/cpu", "250m"},
  };
  const std::string response = encode_response(review.request(), decision);

  CHECK(json_at(response, "/apiVersion") == "admission.k8s.io/v1");
  CHECK(json_at(response, "/kind") == "AdmissionReview");
  CHECK(json_at(response, "/response/uid") == "71855644-6b31-452d-82c9-d8999240b18e");
  CHECK(json_at(response, "/response/allowed") == "true");
  CHECK(json_at(response, "/response/patchType") == "JSONPatch");
  CHECK_FALSE(json_has(response, "/response/auditAnnotations"));
  CHECK_FALSE(json_has(response, "/response/warnings"));

  const std::optional<std::string> patch = avw::core::base64_decode(json_at(response, "/response/patch"));
  REQUIRE(patch);
  CHECK(*patch == avw::core::patch_to_json(decision.patch));
  const std::string pod = apply_json_patch(json_at(body, "/request/object"), *patch);
  CHECK(json_at(pod, "/metadata/annotations/airflow-vpa-webhook.io~1vpa") == "etl-daily-load");
  CHECK(json_at(pod, "/spec/containers/0/resources/requests/cpu") == "250m");
  CHECK(json_at(pod, "/spec/containers/0/resources/requests/memory") == "1Gi");
}

TEST_CASE("an audited decision reports its patch but never sends it", "[admission]") {
  const ParsedReview review(fixture("dryrun"));
  Decision decision;
  decision.outcome = Outcome::Audited;
  decision.patch = {{"/spec/containers/0/resources/requests/cpu", "250m"}};
  decision.audit_annotations = {{"patch", R"([{"op":"add"}])"}, {"summary", "base: cpu request 500m -> 250m"}};
  decision.warnings = {"airflow-vpa-webhook: would set base cpu request 500m -> 250m", "second"};
  const std::string response = encode_response(review.request(), decision);

  CHECK_FALSE(json_has(response, "/response/patch"));
  CHECK_FALSE(json_has(response, "/response/patchType"));
  CHECK(json_at(response, "/response/allowed") == "true");
  CHECK(json_at(response, "/response/auditAnnotations") ==
        R"({"patch":"[{\"op\":\"add\"}]","summary":"base: cpu request 500m -> 250m"})");
  CHECK(json_at(response, "/response/warnings") ==
        R"(["airflow-vpa-webhook: would set base cpu request 500m -> 250m","second"])");
}

TEST_CASE("a patched decision with an empty patch sends no patch", "[admission]") {
  const ParsedReview review(fixture("kpo-pod"));
  Decision decision;
  decision.outcome = Outcome::Patched;
  const std::string response = encode_response(review.request(), decision);
  CHECK_FALSE(json_has(response, "/response/patch"));
  CHECK_FALSE(json_has(response, "/response/patchType"));
}

TEST_CASE("a denial is encoded as allowed false", "[admission]") {
  const ParsedReview review(fixture("kpo-pod"));
  Decision decision;
  decision.allowed = false;
  CHECK(json_at(encode_response(review.request(), decision), "/response/allowed") == "false");
}

TEST_CASE("response strings are escaped and read back unchanged", "[admission]") {
  const ParsedReview review(review_with_request(R"({"uid":"u\"1\\\u0001","operation":"CREATE"})"));
  Decision decision;
  const std::string text = std::string("quote \" backslash \\ newline \n tab \t nul ") + '\0' + "\xc3\xa9";
  decision.warnings = {text};
  decision.audit_annotations = {{"key \"/\\", text}};
  const std::string response = encode_response(review.request(), decision);
  CHECK(response.find('\n') == std::string::npos);
  CHECK(json_at(response, "/response/uid") == "u\"1\\\x01");
  CHECK(json_at(response, "/response/warnings/0") == text);
  CHECK(json_at(response, "/response/auditAnnotations/key \"~1\\") == text);
}

TEST_CASE("JSON strings escape every byte that needs it, wherever it falls in a word", "[admission]") {
  // The escaper tests eight bytes at a time; this reference goes one at a time.
  auto reference = [](std::string_view text) {
    std::string out = "\"";
    for (const char ch : text) {
      const auto c = static_cast<unsigned char>(ch);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += ch;
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '\t') {
        out += "\\t";
      } else if (c < 0x20) {
        static constexpr char kHex[] = "0123456789abcdef";
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
      } else {
        out += ch;
      }
    }
    return out + '"';
  };
  for (int byte = 0; byte < 256; ++byte) {
    for (std::size_t length = 1; length <= 19; ++length) {
      for (std::size_t at = 0; at < length; ++at) {
        std::string text(length, 'a');
        text[at] = static_cast<char>(byte);
        if (at + 1 < length) text[length - 1] = '\x1f';  // a second one behind it
        std::string out = "x";
        avw::core::append_json_string(out, text);
        if (out != "x" + reference(text)) FAIL("byte " << byte << " at " << at << " of " << length << ": " << out);
      }
    }
  }
  std::string out;
  avw::core::append_json_string(out, "");
  CHECK(out == "\"\"");
}

TEST_CASE("a default request still gets a well-formed v1 response", "[admission]") {
  const AdmissionRequest request;
  const Decision decision;
  CHECK(encode_response(request, decision) ==
        R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"","allowed":true}})");
}

// --- JSON Patch text and JSON Pointer tokens ---

TEST_CASE("patch_to_json writes add operations as a compact array", "[admission]") {
  CHECK(avw::core::patch_to_json({}) == "[]");
  CHECK(avw::core::patch_to_json({{"/metadata/annotations", std::nullopt},
                                  {"/spec/containers/0/resources/requests/cpu", "250m"}}) ==
        R"([{"op":"add","path":"/metadata/annotations","value":{}},)"
        R"({"op":"add","path":"/spec/containers/0/resources/requests/cpu","value":"250m"}])");
  CHECK(avw::core::patch_to_json({{"/a", "say \"hi\"\n"}}) == R"([{"op":"add","path":"/a","value":"say \"hi\"\n"}])");
}

TEST_CASE("JSON Pointer tokens escape tilde and slash", "[admission]") {
  const auto [token, expected] = GENERATE(table<std::string, std::string>({
      {"plain", "plain"},
      {"", ""},
      {"airflow-vpa-webhook.io/vpa", "airflow-vpa-webhook.io~1vpa"},
      {"a~b", "a~0b"},
      {"~1", "~01"},
      {"/~", "~1~0"},
      {"~/~/", "~0~1~0~1"},
  }));
  std::string out = "/metadata/annotations/";
  avw::core::append_json_pointer_token(out, token);
  CHECK(out == "/metadata/annotations/" + expected);
  // The escaped token names exactly the original key.
  const std::string doc = "{" + avw::test::json_string(token) + ":1}";
  CHECK(json_at(doc, "/" + expected) == "1");
}

// --- base64 ---

TEST_CASE("base64 matches the RFC 4648 test vectors", "[admission][base64]") {
  const auto [data, encoded] = GENERATE(table<std::string, std::string>({
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
      {"\xfb\xff\xbf", "+/+/"},
      {std::string("\0\0\0\xff", 4), "AAAA/w=="},
  }));
  CHECK(avw::core::base64_encode(data) == encoded);
  CHECK(avw::core::base64_decode(encoded) == data);
}

TEST_CASE("base64 round trips every byte value and every length", "[admission][base64]") {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  for (std::size_t length = 0; length <= all.size(); ++length) {
    const std::string data = all.substr(all.size() - length);
    const std::string encoded = avw::core::base64_encode(data);
    REQUIRE(encoded.size() == (length + 2) / 3 * 4);
    REQUIRE(avw::core::base64_decode(encoded) == data);
  }
}

TEST_CASE("base64 decoding rejects anything but canonical padded text", "[admission][base64]") {
  const std::string text = GENERATE(as<std::string>{}, "Zg", "Zg=", "Zm9vY", "Z===", "====", "Zg==Zg==", "=Zg=",
                                    "Zm=v", "Zh==", "Zm9=", " Zg=", "Zg==\n", "Zm9v YmFy", "Zm9v-_8=", "Zm9vYmFy=", "Zg=A");
  INFO(text);
  CHECK_FALSE(avw::core::base64_decode(text).has_value());
}

TEST_CASE("base64 decoding rejects a NUL byte inside the text", "[admission][base64]") {
  CHECK(avw::core::base64_decode("Zm9vAA==").has_value());
  CHECK_FALSE(avw::core::base64_decode(std::string("Zm9v\0A==", 8)).has_value());
}

TEST_CASE("a lone low surrogate escape is a decode error", "[admission]") {
  const std::string body =
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-\udc00","operation":"CREATE"}})";
  CHECK_THROWS_WITH(avw::core::ParsedReview(body), Catch::Contains("unpaired UTF-16 surrogate escape"));
  // A proper pair is fine.
  const std::string paired =
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-\ud83d\ude00","operation":"CREATE"}})";
  CHECK_NOTHROW(avw::core::ParsedReview(paired));
}

TEST_CASE("a lone surrogate escape is found wherever it is in a string or key", "[admission]") {
  // U+D7FF (ED 9F BF) is the last character before the surrogates: its 0xED lead is fine.
  const std::string text = GENERATE(R"(\udc00)", R"(x\udfff)", R"(\udc00x)", "\xed\x9f\xbf" R"(\udc00)",
                                    "\xed\x9f\xbf\xed\x9f\xbf" R"(z\udc01)", R"(a long value before the escape \udfff)");
  const std::string as_value = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":")" +
                               text + R"(","operation":"CREATE"}})";
  CHECK_THROWS_WITH(avw::core::ParsedReview(as_value), Catch::Contains("unpaired UTF-16 surrogate escape"));
  const std::string as_key = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{")" + text +
                             R"(":1,"uid":"u","operation":"CREATE"}})";
  CHECK_THROWS_WITH(avw::core::ParsedReview(as_key), Catch::Contains("unpaired UTF-16 surrogate escape"));
  const std::string fine = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":")"
                           "\xed\x9f\xbf-\xed\x9f\xbf" R"(","operation":"CREATE"}})";
  CHECK_NOTHROW(avw::core::ParsedReview(fine));
  // An escaped backslash, then text that reads like the escape.
  const std::string backslash = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"\\udc00","operation":"CREATE"}})";
  CHECK(avw::core::ParsedReview(backslash).request().uid == "\\udc00");
}

TEST_CASE("UTF-8 is checked as the Unicode standard defines it, anywhere in the body", "[admission][utf8]") {
  // The uid carries the bytes under test.
  auto review = [](std::string_view uid_bytes) {
    return review_with_request(R"({"uid":")" + std::string(uid_bytes) + R"(","operation":"CREATE"})");
  };
  const std::size_t uid_at = review("").find(R"(","operation")");

  const auto valid = GENERATE(as<std::string>{}, "plain", "caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x98\x80",
                              "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf", "\xc2\x80", "a long run of ascii to skip");
  INFO(valid);
  CHECK(avw::core::ParsedReview(review(valid)).request().uid == valid);

  const auto [invalid, offset] = GENERATE(table<std::string, std::size_t>({
      {"\xc0\x80", 0},              // overlong NUL
      {"\xc1\xbf", 0},              // overlong
      {"\xe0\x9f\xbf", 0},          // overlong 3-byte
      {"\xf0\x8f\xbf\xbf", 0},      // overlong 4-byte
      {"\xed\xa0\x80", 0},          // an encoded surrogate
      {"\xf4\x90\x80\x80", 0},      // above U+10FFFF
      {"\xf5\x80\x80\x80", 0},      // no such lead byte
      {"\x80", 0},                  // a lone continuation byte
      {"ab\xc3", 2},                // cut short before the closing quote
      {"abcdefgh\xe6\x97", 8},      // after an eight-byte ASCII run
      {"\xe6\x97\x41", 0},          // a continuation byte missing
      {std::string(40, 'a') + "\x80", 40},        // after a 32-byte ASCII run
      {std::string(31, 'b') + "\xc3x" + std::string(40, 'c'), 31},  // ending a 32-byte block
      {std::string(70, 'd') + "\xf0\x9f\x98", 70},  // cut short, after two blocks
  }));
  INFO(invalid);
  CHECK_THROWS_WITH(avw::core::ParsedReview(review(invalid)),
                    "AdmissionReview is not valid JSON: invalid UTF-8 (at byte " + std::to_string(uid_at + offset) +
                        ")");
}

TEST_CASE("a refused body is read no further than its last byte", "[admission][utf8]") {
  // An exact-size heap copy (no NUL after it), so AddressSanitizer sees a read past its end;
  // 32 and 64 bytes end where the UTF-8 check's 32-byte steps do.
  for (const std::size_t size : {std::size_t{8}, std::size_t{32}, std::size_t{64}, std::size_t{65}}) {
    const std::vector<char> body(size, 'x');
    CHECK_THROWS_WITH(ParsedReview(std::string_view(body.data(), body.size())),
                      "AdmissionReview is not valid JSON: Invalid value. (at byte 0)");
  }
}

TEST_CASE("a truncated multi-byte character at the very end of the body is refused", "[admission][utf8]") {
  CHECK_THROWS_WITH(avw::core::ParsedReview(std::string("{}\xf0\x9f\x98")),
                    "AdmissionReview is not valid JSON: invalid UTF-8 (at byte 2)");
}
