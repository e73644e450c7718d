// The decision and the planner, end to end through the codec: every patch is applied back
// onto the pod it was made for and the resulting pod is checked, not the patch text.
#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

#include "avw/core/admission.hpp"
#include "avw/core/object_list.hpp"
#include "avw/core/patch.hpp"
#include "avw/core/decision.hpp"
#include "avw/core/store.hpp"
#include "support/fixtures.hpp"
#include "support/json_patch.hpp"

using namespace avw::core;
using avw::test::apply_json_patch;
using avw::test::json_at;
using avw::test::json_has;
using avw::test::read_fixture;

namespace {

constexpr std::string_view kKpoLabels =
    R"("dag_id":"etl","task_id":"load","kubernetes_pod_operator":"True","try_number":"1","run_id":"r1")";

std::string pod_json(std::string_view containers, std::string_view labels = kKpoLabels,
                     std::string_view annotations = "") {
  std::string pod = R"({"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"load-","namespace":"airflow","labels":{)";
  pod += labels;
  pod += "}";
  if (!annotations.empty()) {
    pod += R"(,"annotations":{)";
    pod += annotations;
    pod += "}";
  }
  pod += R"(},"spec":{"containers":)";
  pod += containers;
  pod += R"(,"restartPolicy":"Never"}})";
  return pod;
}

std::string review_json(const std::string& pod, std::string_view operation = "CREATE", bool dry_run = false) {
  std::string r = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1",)"
                  R"("kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},)"
                  R"("namespace":"airflow","operation":")";
  r += operation;
  r += R"(","dryRun":)";
  r += dry_run ? "true" : "false";
  r += R"(,"object":)";
  r += pod;
  r += "}}";
  return r;
}

/// An AirflowTask plus a VPA for the KPO task etl/load with the given container recommendations
/// and container policies.
std::string store_json(std::string_view recommendations, std::string_view policies = "",
                       std::string_view extra_items = "") {
  std::string s = R"({"apiVersion":"v1","kind":"List","items":[)"
                  R"({"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask","metadata":{"name":"etl-load","namespace":"airflow","creationTimestamp":"2026-11-01T00:00:00Z"},)"
                  R"("spec":{"replicas":0},"status":{"replicas":0,"selector":"dag_id=etl,task_id=load,kubernetes_pod_operator=True"}},)"
                  R"({"apiVersion":"autoscaling.k8s.io/v1","kind":"VerticalPodAutoscaler","metadata":{"name":"etl-load","namespace":"airflow","creationTimestamp":"2026-11-01T00:00:00Z"},)"
                  R"("spec":{"targetRef":{"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask","name":"etl-load"},"updatePolicy":{"updateMode":"Off"})";
  if (!policies.empty()) {
    s += R"(,"resourcePolicy":{"containerPolicies":[)";
    s += policies;
    s += "]}";
  }
  s += R"(},"status":{"recommendation":{"containerRecommendations":[)";
  s += recommendations;
  s += "]}}}";
  if (!extra_items.empty()) {
    s += ",";
    s += extra_items;
  }
  s += "]}";
  return s;
}

struct Outcome_ {
  Decision decision;
  std::string patched_pod;  // the pod after applying the patch (the pod itself when none)
};

Outcome_ run(const std::string& pod, const std::string& store, Mode mode = Mode::Enforce, Config config = {}) {
  auto snapshot = Snapshot::build(decode_objects(store), StoreOptions{});
  ParsedReview review(review_json(pod));
  Outcome_ out{decide(review.request(), *snapshot, config, mode), pod};
  if (!out.decision.patch.empty()) out.patched_pod = apply_json_patch(pod, patch_to_json(out.decision.patch));
  return out;
}

std::string at(const Outcome_& o, const std::string& pointer) { return json_at(o.patched_pod, pointer); }

constexpr std::string_view kBaseRec =
    R"({"containerName":"base","target":{"cpu":"250m","memory":"600Mi"},"lowerBound":{"cpu":"100m","memory":"300Mi"},)"
    R"("upperBound":{"cpu":"4","memory":"8Gi"},"uncappedTarget":{"cpu":"260m","memory":"610Mi"}})";

}  // namespace

TEST_CASE("a task pod gets the target as its requests", "[decision]") {
  auto o = run(pod_json(R"([{"name":"base","image":"x","resources":{"requests":{"cpu":"500m","memory":"1Gi"}}}])"),
               store_json(kBaseRec));
  CHECK(o.decision.outcome == Outcome::Patched);
  CHECK(o.decision.vpa_name == "etl-load");
  CHECK(at(o, "/spec/containers/0/resources/requests/cpu") == "250m");
  CHECK(at(o, "/spec/containers/0/resources/requests/memory") == "600Mi");
  CHECK(at(o, "/metadata/annotations/airflow-vpa-webhook.io~1vpa") == "etl-load");
  CHECK(at(o, "/metadata/annotations/airflow-vpa-webhook.io~1updates") ==
        "base: cpu request 500m -> 250m, memory request 1Gi -> 600Mi");
}

TEST_CASE("a container without resources gets the objects created first", "[decision]") {
  for (std::string_view containers : {R"([{"name":"base","image":"x"}])", R"([{"name":"base","image":"x","resources":{}}])",
                                      R"([{"name":"base","image":"x","resources":{"limits":{"cpu":"1"}}}])"}) {
    auto o = run(pod_json(containers), store_json(kBaseRec));
    REQUIRE(o.decision.outcome == Outcome::Patched);
    CHECK(at(o, "/spec/containers/0/resources/requests/cpu") == "250m");
    CHECK(at(o, "/spec/containers/0/resources/requests/memory") == "600Mi");
  }
}

TEST_CASE("existing limits scale with the request, keeping the ratio", "[decision]") {
  auto o = run(pod_json(R"([{"name":"base","image":"x","resources":{"requests":{"cpu":"500m","memory":"1Gi"},)"
                        R"("limits":{"cpu":"1","memory":"2Gi"}}}])"),
               store_json(kBaseRec));
  REQUIRE(o.decision.outcome == Outcome::Patched);
  CHECK(at(o, "/spec/containers/0/resources/limits/cpu") == "500m");
  CHECK(at(o, "/spec/containers/0/resources/limits/memory") == "1200Mi");
}

TEST_CASE("a limit without a request becomes the new request", "[decision]") {
  auto o = run(pod_json(R"([{"name":"base","image":"x","resources":{"limits":{"cpu":"2","memory":"4Gi"}}}])"),
               store_json(kBaseRec));
  REQUIRE(o.decision.outcome == Outcome::Patched);
  CHECK(at(o, "/spec/containers/0/resources/requests/cpu") == "250m");
  CHECK(at(o, "/spec/containers/0/resources/limits/cpu") == "250m");
  CHECK(at(o, "/spec/containers/0/resources/limits/memory") == "600Mi");
}

TEST_CASE("RequestsOnly keeps limits and caps the request at the limit", "[decision]") {
  auto o = run(pod_json(R"([{"name":"base","image":"x","resources":{"requests":{"cpu":"100m","memory":"100Mi"},)"
                        R"("limits":{"cpu":"200m","memory":"2Gi"}}}])"),
               store_json(kBaseRec, R"({"containerName":"*","controlledValues":"RequestsOnly"})"));
  REQUIRE(o.decision.outcome == Outcome::Patched);
  CHECK(at(o, "/spec/containers/0/resources/requests/cpu") == "200m");
  CHECK(at(o, "/spec/containers/0/resources/limits/cpu") == "200m");
  CHECK(at(o, "/spec/containers/0/resources/requests/memory") == "600Mi");
  CHECK(at(o, "/spec/containers/0/resources/limits/memory") == "2Gi");
  CHECK(o.decision.summary ==
        "base: cpu request 100m -> 200m (target 250m, capped to the container limit 200m), memory request 100Mi -> 600Mi");
}

TEST_CASE("container policies: mode Off, controlledResources, min and maxAllowed", "[decision]") {
  const std::string pod = pod_json(R"([{"name":"base","image":"x","resources":{"requests":{"cpu":"500m","memory":"1Gi"}}}])");
  SECTION("mode Off by name wins over *") {
    auto o = run(pod, store_json(kBaseRec, R"({"containerName":"*"},{"containerName":"base","mode":"Off"})"));
    CHECK(o.decision.outcome == Outcome::Unchanged);
    CHECK(o.decision.patch.empty());
  }
  SECTION("controlledResources cpu only leaves memory alone") {
    auto o = run(pod, store_json(kBaseRec, R"({"containerName":"base","controlledResources":["cpu"]})"));
    CHECK(at(o, "/spec/containers/0/resources/requests/cpu") == "250m");
    CHECK(at(o, "/spec/containers/0/resources/requests/memory") == "1Gi");
  }
  SECTION("minAllowed and maxAllowed clamp the target") {
    auto o = run(pod, store_json(kBaseRec, R"({"containerName":"*","minAllowed":{"cpu":"300m"},"maxAllowed":{"memory":"512Mi"}})"));
    CHECK(at(o, "/spec/containers/0/resources/requests/cpu") == "300m");
    CHECK(at(o, "/spec/containers/0/resources/requests/memory") == "512Mi");
  }
}

TEST_CASE("the webhook's own bounds apply after the VPA policy", "[decision]") {
  Config config;
  config.min_request[Resource::Memory] = Quantity::parse("1Gi");
  config.max_request[Resource::Cpu] = Quantity::parse("200m");
  auto o = run(pod_json(R"([{"name":"base","image":"x","resources":{"requests":{"cpu":"500m","memory":"2Gi"}}}])"),
               store_json(kBaseRec), Mode::Enforce, config);
  CHECK(at(o, "/spec/containers/0/resources/requests/cpu") == "200m");
  CHECK(at(o, "/spec/containers/0/resources/requests/memory") == "1Gi");
}

TEST_CASE("the recommendation field comes from the flag or the pod annotation", "[decision]") {
  const std::string containers = R"([{"name":"base","image":"x","resources":{"requests":{"cpu":"500m","memory":"1Gi"}}}])";
  Config config;
  config.field = RecommendationField::LowerBound;
  CHECK(at(run(pod_json(containers), store_json(kBaseRec), Mode::Enforce, config), "/spec/containers/0/resources/requests/cpu") == "100m");
  auto o = run(pod_json(containers, kKpoLabels, R"("airflow-vpa-webhook.io/recommendation":"uncappedTarget")"), store_json(kBaseRec));
  CHECK(at(o, "/spec/containers/0/resources/requests/cpu") == "260m");
  auto bad = run(pod_json(containers, kKpoLabels, R"("airflow-vpa-webhook.io/recommendation":"p99")"), store_json(kBaseRec));
  CHECK(at(bad, "/spec/containers/0/resources/requests/cpu") == "250m");
  REQUIRE(bad.decision.warnings.size() == 1);
  CHECK(bad.decision.warnings[0].size() <= 120);
}

TEST_CASE("pods that are not task pod CREATEs are allowed untouched", "[decision]") {
  const std::string containers = R"([{"name":"base","image":"x"}])";
  auto snapshot = Snapshot::build(decode_objects(store_json(kBaseRec)), StoreOptions{});
  auto decide_on = [&](const std::string& review) {
    ParsedReview parsed(review);
    return decide(parsed.request(), *snapshot, Config{}, Mode::Enforce);
  };
  CHECK(decide_on(review_json(pod_json(containers), "UPDATE")).outcome == Outcome::Skipped);
  CHECK(decide_on(review_json(pod_json(containers, R"("app":"web")"))).outcome == Outcome::Skipped);
  CHECK(decide_on(review_json(pod_json(containers, kKpoLabels, R"("airflow-vpa-webhook.io/skip":"true")"))).outcome ==
        Outcome::Skipped);
  CHECK(decide_on(review_json(pod_json(containers, kKpoLabels, R"("kubernetes.io/config.mirror":"x")"))).outcome ==
        Outcome::Skipped);
  // The executor's pod of the same task is another task: no VPA governs it.
  const Decision other = decide_on(review_json(pod_json(
      containers, R"("dag_id":"etl","task_id":"load","kubernetes_executor":"True")")));
  CHECK(other.outcome == Outcome::Skipped);
  CHECK_THAT(other.reason, Catch::Contains("no VPA"));
  for (const auto& d : {decide_on(review_json(pod_json(containers), "UPDATE")), other}) {
    CHECK(d.allowed);
    CHECK(d.patch.empty());
  }
}

TEST_CASE("a VPA without a recommendation yet changes nothing", "[decision]") {
  auto o = run(pod_json(R"([{"name":"base","image":"x"}])"), store_json(""));
  CHECK(o.decision.outcome == Outcome::Skipped);
  CHECK(o.decision.vpa_name == "etl-load");
  CHECK(o.decision.patch.empty());
}

TEST_CASE("requests that already match give no patch", "[decision]") {
  auto o = run(pod_json(R"([{"name":"base","image":"x","resources":{"requests":{"cpu":"0.25","memory":"629145600"}}}])"),
               store_json(kBaseRec));
  CHECK(o.decision.outcome == Outcome::Unchanged);
  CHECK(o.decision.patch.empty());
}

TEST_CASE("dry-run reports the would-be patch and sends none", "[decision]") {
  auto o = run(pod_json(R"([{"name":"base","image":"x","resources":{"requests":{"cpu":"500m","memory":"1Gi"}}}])"),
               store_json(kBaseRec), Mode::DryRun);
  CHECK(o.decision.outcome == Outcome::Audited);
  CHECK_FALSE(o.decision.sends_patch());
  bool has_would_patch = false;
  for (const auto& [key, value] : o.decision.audit_annotations) {
    CHECK(key.find('/') == std::string::npos);  // the API server adds the webhook name
    if (key == "would-patch") {
      has_would_patch = true;
      CHECK_THAT(value, Catch::Contains("/spec/containers/0/resources/requests/cpu"));
    }
  }
  CHECK(has_would_patch);
  REQUIRE_FALSE(o.decision.warnings.empty());
  for (const auto& w : o.decision.warnings) CHECK(w.size() <= 120);
}

TEST_CASE("warnings stay bounded in count and length", "[decision]") {
  std::string containers = "[";
  std::string recs;
  for (int i = 0; i < 10; ++i) {
    const std::string name = "container-with-a-rather-long-name-number-" + std::to_string(i);
    if (i != 0) {
      containers += ",";
      recs += ",";
    }
    containers += R"({"name":")" + name + R"(","image":"x","resources":{"requests":{"cpu":"900m","memory":"9Gi"}}})";
    recs += R"({"containerName":")" + name + R"(","target":{"cpu":"123m","memory":"456Mi"}})";
  }
  containers += "]";
  Config config;
  auto o = run(pod_json(containers), store_json(recs), Mode::DryRun, config);
  REQUIRE(o.decision.warnings.size() == config.max_warnings);
  for (const auto& w : o.decision.warnings) CHECK(w.size() <= config.max_warning_length);
  // Ten containers' changes, three shown: the fourth warning counts the other seven.
  CHECK(o.decision.warnings.back() == "airflow-vpa-webhook: +7 more (the audit annotation `reason` has them all)");
}

TEST_CASE("annotation keys are JSON Pointer escaped and existing annotations kept", "[decision]") {
  auto o = run(pod_json(R"([{"name":"base","image":"x"}])", kKpoLabels, R"("team":"data")"), store_json(kBaseRec));
  CHECK(at(o, "/metadata/annotations/team") == "data");
  CHECK(at(o, "/metadata/annotations/airflow-vpa-webhook.io~1vpa") == "etl-load");
}

TEST_CASE("init containers and containers without a recommendation are left alone", "[decision]") {
  std::string pod = pod_json(R"([{"name":"base","image":"x"},{"name":"sidecar","image":"y","resources":{"requests":{"cpu":"1m"}}}])");
  pod.insert(pod.find(R"("containers")"), R"("initContainers":[{"name":"base","image":"z"}],)");
  auto o = run(pod, store_json(kBaseRec));
  CHECK(at(o, "/spec/containers/0/resources/requests/cpu") == "250m");
  CHECK(at(o, "/spec/containers/1/resources/requests/cpu") == "1m");
  CHECK_FALSE(json_has(o.patched_pod, "/spec/initContainers/0/resources"));
}

TEST_CASE("a container LimitRange caps requests and keeps limits valid", "[decision][limitrange]") {
  const std::string limit_range =
      R"({"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"lr","namespace":"airflow"},"spec":{"limits":[)"
      R"({"type":"Container","min":{"cpu":"300m"},"max":{"memory":"1Gi","cpu":"2"},"maxLimitRequestRatio":{"cpu":"2"}}]}})";
  SECTION("min raises the request") {
    auto o = run(pod_json(R"([{"name":"base","image":"x","resources":{"requests":{"cpu":"500m","memory":"512Mi"},"limits":{"cpu":"1","memory":"1Gi"}}}])"),
                 store_json(kBaseRec, "", limit_range));
    CHECK(at(o, "/spec/containers/0/resources/requests/cpu") == "300m");
    CHECK(at(o, "/spec/containers/0/resources/limits/cpu") == "600m");
  }
  SECTION("max on the limit lowers the request so the scaled limit fits") {
    const std::string rec = R"({"containerName":"base","target":{"cpu":"1","memory":"900Mi"}})";
    auto o = run(pod_json(R"([{"name":"base","image":"x","resources":{"requests":{"cpu":"500m","memory":"256Mi"},"limits":{"cpu":"1","memory":"512Mi"}}}])"),
                 store_json(rec, "", limit_range));
    CHECK(at(o, "/spec/containers/0/resources/requests/memory") == "512Mi");
    CHECK(at(o, "/spec/containers/0/resources/limits/memory") == "1Gi");
    CHECK(at(o, "/spec/containers/0/resources/requests/cpu") == "1");
    CHECK(at(o, "/spec/containers/0/resources/limits/cpu") == "2");
  }
  SECTION("a fixed limit keeps the request above limit / maxLimitRequestRatio") {
    const std::string rec = R"({"containerName":"base","target":{"cpu":"310m"}})";
    auto o = run(pod_json(R"([{"name":"base","image":"x","resources":{"requests":{"cpu":"1"},"limits":{"cpu":"2"}}}])"),
                 store_json(rec, R"({"containerName":"*","controlledValues":"RequestsOnly"})", limit_range));
    CHECK(at(o, "/spec/containers/0/resources/requests/cpu") == "1");
    CHECK(o.decision.outcome == Outcome::Unchanged);
  }
}

TEST_CASE("a pod LimitRange that the new total would break leaves that resource alone", "[decision][limitrange]") {
  const std::string limit_range =
      R"({"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"lr","namespace":"airflow"},"spec":{"limits":[)"
      R"({"type":"Pod","max":{"memory":"1Gi"}}]}})";
  const std::string rec = R"({"containerName":"base","target":{"cpu":"250m","memory":"2Gi"}})";
  auto o = run(pod_json(R"([{"name":"base","image":"x","resources":{"requests":{"cpu":"500m","memory":"512Mi"}}}])"),
               store_json(rec, "", limit_range));
  CHECK(at(o, "/spec/containers/0/resources/requests/memory") == "512Mi");
  CHECK(at(o, "/spec/containers/0/resources/requests/cpu") == "250m");
  CHECK_THAT(o.decision.reason, Catch::Contains("pod LimitRange"));
}

TEST_CASE("patched requests round cpu up to millicores and memory up to bytes", "[decision]") {
  const std::string rec = R"({"containerName":"base","target":{"cpu":"100500u","memory":"1000.5"}})";
  auto o = run(pod_json(R"([{"name":"base","image":"x"}])"), store_json(rec));
  CHECK(at(o, "/spec/containers/0/resources/requests/cpu") == "101m");
  CHECK(at(o, "/spec/containers/0/resources/requests/memory") == "1001");
}

TEST_CASE("the captured KPO pod gets the recorded recommendation", "[decision][fixtures]") {
  std::string store = R"({"apiVersion":"v1","kind":"List","items":[)";
  for (const char* file : {"api/list-vpas-page1.json", "api/list-vpas-page2.json", "api/list-airflowtasks.json"}) {
    const auto objects = read_fixture(file);
    const auto items = json_at(objects, "/items");
    store += items.substr(1, items.size() - 2);
    store += ",";
  }
  store.back() = ']';
  store += "}";
  const std::string review = read_fixture("admission/kpo-pod.json");
  auto snapshot = Snapshot::build(decode_objects(store), StoreOptions{});
  ParsedReview parsed(review);
  const Decision d = decide(parsed.request(), *snapshot, Config{}, Mode::Enforce);
  REQUIRE(d.outcome == Outcome::Patched);
  CHECK(d.vpa_name == "etl-daily-load");
  const std::string pod = apply_json_patch(json_at(review, "/request/object"), patch_to_json(d.patch));
  CHECK(json_at(pod, "/spec/containers/0/resources/requests/cpu") == "25m");
  CHECK(json_at(pod, "/spec/containers/0/resources/requests/memory") == "250Mi");
  CHECK(json_at(pod, "/spec/containers/1/name") == "airflow-xcom-sidecar");
  CHECK(json_at(pod, "/spec/containers/1/resources/requests/cpu") == "25m");
}

TEST_CASE("a truncated warning never splits a UTF-8 character", "[decision]") {
  std::string annotation = R"("airflow-vpa-webhook.io/recommendation":"x)";
  for (int i = 0; i < 80; ++i) annotation += "\xc3\xa9";  // é
  annotation += "\"";
  auto o = run(pod_json(R"([{"name":"base","image":"x"}])", kKpoLabels, annotation), store_json(kBaseRec));
  REQUIRE(o.decision.warnings.size() == 1);
  const std::string& w = o.decision.warnings[0];
  CHECK(w.size() <= 120);
  REQUIRE(w.size() >= 4);
  // The byte before "..." ends a character: it is ASCII or the last byte of "é".
  const auto last = static_cast<unsigned char>(w[w.size() - 4]);
  CHECK((last < 0x80 || last == 0xa9));
}

TEST_CASE("a pod whose request is above its limit is left as it asked", "[decision]") {
  auto o = run(pod_json(R"([{"name":"base","image":"x","resources":{"requests":{"memory":"8Gi"},"limits":{"memory":"1Gi"}}}])"),
               store_json(kBaseRec, R"({"containerName":"*","controlledValues":"RequestsOnly"})"));
  CHECK(at(o, "/spec/containers/0/resources/requests/memory") == "8Gi");
  CHECK(o.decision.reason == "VPA etl-load: base: cpu request unset -> 250m; "
                             "base: memory request 8Gi kept (target 600Mi): its request is above its limit");
  REQUIRE(o.decision.notes.size() == 1);
  CHECK(o.decision.notes[0].code == Reason::RequestAboveLimit);
}

namespace {

std::string annotation(const Decision& d, std::string_view key) {
  for (const auto& [k, v] : d.audit_annotations) {
    if (k == key) return v;
  }
  return "(none)";
}

}  // namespace

TEST_CASE("every outcome has a reason code, one line and audit annotations saying so", "[decision][reason]") {
  const std::string containers = R"([{"name":"base","image":"x","resources":{"requests":{"cpu":"500m","memory":"1Gi"}}}])";
  const std::string matching = R"([{"name":"base","image":"x","resources":{"requests":{"cpu":"250m","memory":"600Mi"}}}])";
  const std::string executor = R"("dag_id":"etl","task_id":"load","kubernetes_executor":"True")";
  struct Row {
    std::string review;
    std::string store;
    Outcome outcome;
    Reason code;
    std::string reason;
    std::string vpa;  // the audit annotation, "(none)" when no VPA was found
  };
  const std::string store = store_json(kBaseRec);
  const std::vector<Row> rows = {
      {review_json(pod_json(containers), "UPDATE"), store, Outcome::Skipped, Reason::NotCreate,
       "operation UPDATE is not a CREATE", "(none)"},
      {review_json(pod_json(containers, R"("app":"web")")), store, Outcome::Skipped, Reason::NotTaskPod,
       "not an Airflow task pod (no dag_id/task_id labels)", "(none)"},
      {review_json(pod_json(containers, kKpoLabels, R"("kubernetes.io/config.mirror":"x")")), store, Outcome::Skipped,
       Reason::MirrorPod, "mirror pod", "(none)"},
      {review_json(pod_json(containers, kKpoLabels, R"("airflow-vpa-webhook.io/skip":"true")")), store,
       Outcome::Skipped, Reason::OptedOut, "opted out by annotation airflow-vpa-webhook.io/skip", "(none)"},
      {review_json(pod_json(containers, executor)), store, Outcome::Skipped, Reason::NoVpa,
       "no VPA governs task airflow/etl/load/Executor", "(none)"},
      {review_json(pod_json(containers)), store_json(""), Outcome::Skipped, Reason::NoRecommendation,
       "VPA etl-load has no recommendation yet", "etl-load"},
      {review_json(pod_json(matching)), store, Outcome::Unchanged, Reason::AlreadyMatch,
       "requests already match VPA etl-load", "etl-load"},
      {review_json(pod_json(containers)), store, Outcome::Patched, Reason::Changed,
       "VPA etl-load: base: cpu request 500m -> 250m, memory request 1Gi -> 600Mi", "etl-load"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.reason);
    auto snapshot = Snapshot::build(decode_objects(row.store), StoreOptions{});
    ParsedReview parsed(row.review);
    const Decision d = decide(parsed.request(), *snapshot, Config{}, Mode::Enforce);
    CHECK(d.allowed);
    CHECK(d.outcome == row.outcome);
    CHECK(d.code == row.code);
    CHECK(d.reason == row.reason);
    CHECK(annotation(d, "decision") == to_string(row.outcome));
    CHECK(annotation(d, "reason") == row.reason);
    CHECK(annotation(d, "vpa") == row.vpa);
    // Enforce warns only of the pod's own mistakes; dry-run says why, whatever the outcome.
    CHECK(d.warnings.empty());
    const Decision audited = decide(parsed.request(), *snapshot, Config{}, Mode::DryRun);
    REQUIRE_FALSE(audited.warnings.empty());
    if (row.outcome != Outcome::Patched) CHECK(audited.warnings[0] == "airflow-vpa-webhook: " + row.reason);
  }
}

TEST_CASE("the VPA is spelled by its name in the pod annotation, the audit annotation and the reason", "[decision][reason]") {
  auto o = run(pod_json(R"([{"name":"base","image":"x","resources":{"requests":{"cpu":"500m","memory":"1Gi"}}}])"),
               store_json(kBaseRec), Mode::Enforce);
  CHECK(at(o, "/metadata/annotations/airflow-vpa-webhook.io~1vpa") == "etl-load");
  CHECK(annotation(o.decision, "vpa") == "etl-load");
  CHECK(o.decision.reason.starts_with("VPA etl-load: "));
}

TEST_CASE("a container the recommendation does not mention is reported as such", "[decision][reason]") {
  SECTION("alone: nothing changes, and the reason says why") {
    auto o = run(pod_json(R"([{"name":"sidecar","image":"y","resources":{"requests":{"cpu":"1m"}}}])"),
                 store_json(kBaseRec));
    CHECK(o.decision.outcome == Outcome::Unchanged);
    CHECK(o.decision.code == Reason::LeftAsAsked);
    CHECK(o.decision.reason == "VPA etl-load changes nothing: sidecar: not in the recommendation");
    REQUIRE(o.decision.notes.size() == 1);
    CHECK(o.decision.notes[0].code == Reason::NotInRecommendation);
  }
  SECTION("beside a container that changes, in dry-run") {
    auto o = run(pod_json(R"([{"name":"base","image":"x","resources":{"requests":{"cpu":"500m","memory":"1Gi"}}},)"
                          R"({"name":"sidecar","image":"y","resources":{"requests":{"cpu":"1m"}}}])"),
                 store_json(kBaseRec), Mode::DryRun);
    CHECK(o.decision.outcome == Outcome::Audited);
    CHECK(o.decision.reason ==
          "VPA etl-load: base: cpu request 500m -> 250m, memory request 1Gi -> 600Mi; sidecar: not in the recommendation");
    CHECK(o.decision.warnings == std::vector<std::string>{
                                     "airflow-vpa-webhook: dry-run: base: cpu request 500m -> 250m, memory request 1Gi -> 600Mi",
                                     "airflow-vpa-webhook: sidecar: not in the recommendation"});
  }
}

TEST_CASE("each bound that moves a request says which and to what, beside what the recommendation said",
          "[decision][reason]") {
  const std::string base_1g = R"([{"name":"base","image":"x","resources":{"requests":{"cpu":"500m","memory":"1Gi"}}}])";
  struct Row {
    std::string pod;
    std::string store;
    Config config;
    std::string summary;  // "" when nothing changes
    std::string reason;
  };
  Config webhook_bounds;
  webhook_bounds.min_request[Resource::Memory] = Quantity::parse("1Gi");
  webhook_bounds.max_request[Resource::Cpu] = Quantity::parse("200m");
  const std::string container_range =
      R"({"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"lr","namespace":"airflow"},"spec":{"limits":[)"
      R"({"type":"Container","min":{"cpu":"300m"},"max":{"memory":"500Mi"}}]}})";
  const std::string pod_range =
      R"({"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"lr","namespace":"airflow"},"spec":{"limits":[)"
      R"({"type":"Pod","max":{"memory":"1Gi"}}]}})";
  const std::vector<Row> rows = {
      {base_1g, store_json(kBaseRec, R"({"containerName":"*","minAllowed":{"cpu":"300m"},"maxAllowed":{"memory":"512Mi"}})"), {},
       "base: cpu request 500m -> 300m (target 250m, raised to minAllowed 300m), "
       "memory request 1Gi -> 512Mi (target 600Mi, capped to maxAllowed 512Mi)",
       ""},
      {R"([{"name":"base","image":"x","resources":{"requests":{"cpu":"500m","memory":"2Gi"}}}])", store_json(kBaseRec),
       webhook_bounds,
       "base: cpu request 500m -> 200m (target 250m, capped to the webhook maximum 200m), "
       "memory request 2Gi -> 1Gi (target 600Mi, raised to the webhook minimum 1Gi)",
       ""},
      {base_1g, store_json(kBaseRec, "", container_range), {},
       "base: cpu request 500m -> 300m (target 250m, raised to fit the LimitRange min 300m), "
       "memory request 1Gi -> 500Mi (target 600Mi, capped to fit the LimitRange max 500Mi)",
       ""},
      {R"([{"name":"base","image":"x","resources":{"requests":{"cpu":"500m","memory":"512Mi"}}}])",
       store_json(R"({"containerName":"base","target":{"cpu":"250m","memory":"2Gi"}})", "", pod_range), {},
       "base: cpu request 500m -> 250m",
       "VPA etl-load: base: cpu request 500m -> 250m; "
       "base: memory request 512Mi kept (target 2Gi): the new total would break the pod LimitRange"},
      {base_1g, store_json(kBaseRec, R"({"containerName":"base","mode":"Off"})"), {}, "",
       "VPA etl-load changes nothing: base: left alone: container policy mode Off"},
      {base_1g, store_json(kBaseRec, R"({"containerName":"base","controlledResources":["cpu"]})"), {},
       "base: cpu request 500m -> 250m",
       "VPA etl-load: base: cpu request 500m -> 250m; "
       "base: memory request 1Gi kept (target 600Mi): not in the VPA's controlledResources"},
      {R"([{"name":"base","image":"x","resources":{"requests":{"cpu":"lots","memory":"1Gi"}}}])", store_json(kBaseRec), {},
       "", "VPA etl-load changes nothing: base: left alone: its resources hold an invalid quantity"},
      {base_1g, store_json(R"({"containerName":"base","target":{"cpu":"0","memory":"600Mi"}})"), {},
       "base: memory request 1Gi -> 600Mi",
       "VPA etl-load: base: memory request 1Gi -> 600Mi; base: cpu request 500m kept (target 0): the recommendation is zero"},
      {R"([{"name":"base","image":"x","resources":{"requests":{"cpu":"250m","memory":"1Gi"}}}])", store_json(kBaseRec), {},
       "base: memory request 1Gi -> 600Mi",
       "VPA etl-load: base: memory request 1Gi -> 600Mi; "
       "base: cpu request 250m kept (target 250m): already as recommended"},
      {base_1g, store_json(R"({"containerName":"base","target":{"cpu":"250m"}})"), {},
       "base: cpu request 500m -> 250m",
       "VPA etl-load: base: cpu request 500m -> 250m; base: memory request 1Gi kept: not in the recommendation"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.summary, row.reason);
    auto o = run(pod_json(row.pod), row.store, Mode::Enforce, row.config);
    CHECK(o.decision.summary == row.summary);
    CHECK(o.decision.reason == (row.reason.empty() ? "VPA etl-load: " + row.summary : row.reason));
    // The pod annotation carries the same summary the reason does.
    if (!row.summary.empty()) CHECK(at(o, "/metadata/annotations/airflow-vpa-webhook.io~1updates") == row.summary);
  }
}

TEST_CASE("warnings are cut after a whole word and the last one counts those left out", "[decision][warnings]") {
  SECTION("a long warning ends at a word with an ellipsis") {
    std::vector<std::string> w = {"airflow-vpa-webhook: base: memory request 1Gi kept (target 640Mi): held back by the history gate"};
    bound_warnings(w, 4, 60);
    CHECK(w == std::vector<std::string>{"airflow-vpa-webhook: base: memory request 1Gi kept..."});
  }
  SECTION("a space right at the cut keeps the word before it whole") {
    std::vector<std::string> w = {"aaaa bbbb cccc"};
    bound_warnings(w, 4, 12);
    CHECK(w[0] == "aaaa bbbb...");
  }
  SECTION("punctuation before the ellipsis is dropped") {
    std::vector<std::string> w = {"held back: 1m of history, 35 samples"};
    bound_warnings(w, 4, 15);
    CHECK(w[0] == "held back...");
  }
  SECTION("a single word longer than the bound is cut at a whole UTF-8 character") {
    std::string word = "x";
    for (int i = 0; i < 20; ++i) word += "\xc3\xa9";  // é
    std::vector<std::string> w = {word};
    bound_warnings(w, 4, 10);
    CHECK(w[0] == "x\xc3\xa9\xc3\xa9\xc3\xa9...");  // 7 bytes of room: x and three é
  }
  SECTION("short warnings stay as they are") {
    std::vector<std::string> w = {"one", "two"};
    bound_warnings(w, 2, 10);
    CHECK(w == std::vector<std::string>{"one", "two"});
  }
  SECTION("past the count, the last says exactly how many more") {
    std::vector<std::string> w = {"a", "b", "c", "d", "e", "f"};
    bound_warnings(w, 4, 120);
    CHECK(w == std::vector<std::string>{"a", "b", "c", "airflow-vpa-webhook: +3 more (the audit annotation `reason` has them all)"});
    std::vector<std::string> one = {"a", "b"};
    bound_warnings(one, 1, 120);
    CHECK(one == std::vector<std::string>{"airflow-vpa-webhook: +2 more (the audit annotation `reason` has them all)"});
    std::vector<std::string> none = {"a"};
    bound_warnings(none, 0, 120);
    CHECK(none.empty());
  }
  SECTION("the count and the cut together") {
    std::vector<std::string> w = {"a", "b", "c"};
    bound_warnings(w, 2, 32);
    CHECK(w == std::vector<std::string>{"a", "airflow-vpa-webhook: +2 more..."});
  }
}

TEST_CASE("the reason vocabulary: one code and one phrasing per reason, slots filled in order", "[reason]") {
  std::set<std::string_view> codes;
  std::set<std::string_view> phrases;
  for (std::size_t i = 0; i < kReasonCount; ++i) {
    const auto r = static_cast<Reason>(i);
    CHECK(codes.insert(to_string(r)).second);
    CHECK(phrases.insert(phrase(r)).second);
  }
  CHECK(to_string(Reason::NoVpa) == "no-vpa");
  CHECK(to_string(Reason::HistoryGate) == "history-gate");
  CHECK(say(Reason::NoVpa, {"airflow/etl/load/PodOperator"}) == "no VPA governs task airflow/etl/load/PodOperator");
  CHECK(say(Reason::OomFloor, {"400Mi", "300Mi request", "1", "2026-12-06T18:26:27Z"}) ==
        "raised to the OOM floor 400Mi (OOMKilled with 300Mi request on try 1 at 2026-12-06T18:26:27Z)");
  // A missing part leaves its slot empty, a surplus one is dropped: text never fails a decision.
  CHECK(say(Reason::LeftAsAsked, {"etl-load"}) == "VPA etl-load changes nothing: ");
  CHECK(say(Reason::NotPod, {"surplus"}) == "not a v1 Pod");
}
