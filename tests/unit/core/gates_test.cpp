// Safety gates, fed with the objects the real VPA recommender wrote (tests/fixtures/recommender).
#include <catch2/catch.hpp>

#include <string>

#include "avw/core/admission.hpp"
#include "avw/core/object_list.hpp"
#include "avw/core/patch.hpp"
#include "avw/core/decision.hpp"
#include "avw/core/gates.hpp"
#include "avw/core/store.hpp"
#include "support/fixtures.hpp"
#include "support/json_patch.hpp"

using namespace avw::core;
using avw::test::apply_json_patch;
using avw::test::json_at;
using avw::test::read_fixture;

namespace {

constexpr std::string_view kTask =
    R"({"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask","metadata":{"name":"etl-load","namespace":"airflow"},)"
    R"("spec":{"replicas":0},"status":{"replicas":0,"selector":"dag_id=etl,task_id=load,kubernetes_pod_operator=True"}})";

std::string items_of(const std::string& list) {
  const std::string items = json_at(list, "/items");
  return items.substr(1, items.size() - 2);
}

/// The recorded VPA, its target, the given checkpoints file and any extra items.
std::string store_with(std::string_view vpa_file, std::string_view checkpoints_file, std::string_view extra = "") {
  std::string s = R"({"apiVersion":"v1","kind":"List","items":[)";
  s += read_fixture(std::string(vpa_file));
  s += ",";
  s += kTask;
  if (!checkpoints_file.empty()) {
    s += ",";
    s += items_of(read_fixture(std::string(checkpoints_file)));
  }
  if (!extra.empty()) {
    s += ",";
    s += extra;
  }
  s += "]}";
  return s;
}

std::string pod_with(std::string_view annotations = "", std::string_view try_number = "1",
                     std::string_view resources = R"({"requests":{"cpu":"1","memory":"1Gi"}})") {
  std::string pod = R"({"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"load-","namespace":"airflow",)"
                    R"("labels":{"dag_id":"etl","task_id":"load","kubernetes_pod_operator":"True","try_number":")";
  pod += try_number;
  pod += R"("})";
  if (!annotations.empty()) {
    pod += R"(,"annotations":{)";
    pod += annotations;
    pod += "}";
  }
  pod += R"(},"spec":{"containers":[{"name":"base","image":"x","resources":)";
  pod += resources;
  pod += "}]}}";
  return pod;
}

struct Result {
  Decision decision;
  std::string pod;
};

Result decide_on(const std::string& pod, const std::string& store, Config config = {}) {
  auto snapshot = Snapshot::build(decode_objects(store), StoreOptions{});
  const std::string review =
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u",)"
      R"("kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},)"
      R"("namespace":"airflow","operation":"CREATE","object":)" + pod + "}}";
  ParsedReview parsed(review);
  Result r{decide(parsed.request(), *snapshot, config, Mode::Enforce), pod};
  if (!r.decision.patch.empty()) r.pod = apply_json_patch(pod, patch_to_json(r.decision.patch));
  return r;
}

std::string request_of(const Result& r, std::string_view resource) {
  return json_at(r.pod, "/spec/containers/0/resources/requests/" + std::string(resource));
}

bool engaged(const Decision& d, Gate g) {
  for (Gate x : d.gates) {
    if (x == g) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("durations and fractions of gate annotations parse exactly", "[gates]") {
  CHECK(parse_duration_seconds("48h") == 48 * 3600);
  CHECK(parse_duration_seconds("1h30m") == 5400);
  CHECK(parse_duration_seconds("2d") == 2 * 86400);
  CHECK(parse_duration_seconds("90s") == 90);
  CHECK(parse_duration_seconds("0") == 0);
  for (std::string_view bad : {"", "h", "48", "4.5h", "-1h", "1w", "1h30", "99999999999h"}) {
    INFO(bad);
    CHECK_FALSE(parse_duration_seconds(bad));
  }
  CHECK(parse_fraction("50%") == Quantity::parse("0.5"));
  CHECK(parse_fraction("0.25") == Quantity::parse("250m"));
  CHECK(parse_fraction("150%") == Quantity::parse("1.5"));
  for (std::string_view bad : {"", "%", "-10%", "1k", "1Mi", "half", "1e3"}) {
    INFO(bad);
    CHECK_FALSE(parse_fraction(bad));
  }
}

TEST_CASE("a minute of history is held back by the default history gate", "[gates]") {
  auto r = decide_on(pod_with(), store_with("recommender/vpa-etl-load.json", "recommender/checkpoints.json"));
  CHECK(r.decision.outcome == Outcome::Unchanged);
  CHECK(r.decision.patch.empty());
  CHECK(engaged(r.decision, Gate::History));
  CHECK_THAT(r.decision.reason, Catch::Contains("1m of history and 35 samples, 48h and 10 required"));
  bool annotated = false;
  for (const auto& [key, value] : r.decision.audit_annotations) annotated = annotated || (key == "gates" && value == "history");
  CHECK(annotated);
}

TEST_CASE("memory waits for checkpointed memory history while cpu applies", "[gates]") {
  const std::string annotations = R"("airflow-vpa-webhook.io/min-history":"1m","airflow-vpa-webhook.io/min-samples":"30")";
  SECTION("pods still running: the checkpoint has no memory histogram yet") {
    auto r = decide_on(pod_with(annotations), store_with("recommender/vpa-etl-load.json", "recommender/checkpoints.json"));
    REQUIRE(r.decision.outcome == Outcome::Patched);
    CHECK(request_of(r, "cpu") == "511m");
    CHECK(request_of(r, "memory") == "1Gi");
    CHECK(engaged(r.decision, Gate::History));
  }
  SECTION("after the pods ended the memory peaks are checkpointed") {
    auto r = decide_on(pod_with(annotations), store_with("recommender/vpa-etl-load-nopods.json", "recommender/checkpoints-nopods.json"));
    REQUIRE(r.decision.outcome == Outcome::Patched);
    CHECK(request_of(r, "cpu") == "511m");
    CHECK(request_of(r, "memory") == "671629701");
    CHECK(r.decision.gates.empty());
  }
}

TEST_CASE("a container without a checkpoint is held back; a source without any turns the gate off", "[gates]") {
  const std::string other_checkpoint =
      R"({"apiVersion":"autoscaling.k8s.io/v1","kind":"VerticalPodAutoscalerCheckpoint","metadata":{"name":"x-base","namespace":"airflow"},)"
      R"("spec":{"vpaObjectName":"x","containerName":"base"},"status":{"firstSampleStart":"2026-11-01T00:00:00Z","lastSampleStart":"2026-11-20T00:00:00Z","totalSamplesCount":500}})";
  auto held = decide_on(pod_with(), store_with("recommender/vpa-etl-load.json", "", other_checkpoint));
  CHECK(held.decision.outcome == Outcome::Unchanged);
  CHECK_THAT(held.decision.reason, Catch::Contains("no checkpoint yet"));

  auto vouched = decide_on(pod_with(), store_with("recommender/vpa-etl-load.json", ""));
  CHECK(vouched.decision.outcome == Outcome::Patched);
  CHECK(request_of(vouched, "cpu") == "511m");
}

TEST_CASE("a namespace annotation overrides the default and a pod annotation the namespace", "[gates]") {
  const std::string ns =
      R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"airflow","annotations":{"airflow-vpa-webhook.io/min-history":"0","airflow-vpa-webhook.io/min-samples":"0"}}})";
  auto open = decide_on(pod_with(), store_with("recommender/vpa-etl-load-nopods.json", "recommender/checkpoints-nopods.json", ns));
  CHECK(open.decision.outcome == Outcome::Patched);
  auto closed = decide_on(pod_with(R"("airflow-vpa-webhook.io/min-history":"30d")"),
                          store_with("recommender/vpa-etl-load-nopods.json", "recommender/checkpoints-nopods.json", ns));
  CHECK(closed.decision.outcome == Outcome::Unchanged);
  CHECK_THAT(closed.decision.reason, Catch::Contains("720h and 0 required"));
}

TEST_CASE("an invalid gate annotation is ignored with a warning", "[gates]") {
  auto r = decide_on(pod_with(R"("airflow-vpa-webhook.io/min-history":"soon")"),
                     store_with("recommender/vpa-etl-load.json", "recommender/checkpoints.json"));
  CHECK(r.decision.outcome == Outcome::Unchanged);  // the default 48h still holds it back
  REQUIRE(r.decision.warnings.size() == 1);
  CHECK_THAT(r.decision.warnings[0], Catch::Contains("min-history=soon ignored"));
}

TEST_CASE("a retry never gets less memory than it asks for", "[gates]") {
  const std::string store = store_with("recommender/vpa-etl-load.json", "");  // target 511m, 671629701 bytes
  Config config;
  SECTION("first try follows the recommendation") {
    auto r = decide_on(pod_with("", "1"), store, config);
    CHECK(request_of(r, "memory") == "671629701");
    CHECK_FALSE(engaged(r.decision, Gate::Retry));
  }
  SECTION("a retry keeps its memory request, cpu still follows") {
    auto r = decide_on(pod_with("", "2"), store, config);
    CHECK(request_of(r, "memory") == "1Gi");
    CHECK(request_of(r, "cpu") == "511m");
    CHECK(engaged(r.decision, Gate::Retry));
    CHECK_THAT(r.decision.reason,
               Catch::EndsWith("; base: memory request 1Gi kept (target 671629701): kept at the pod's request on retry 2"));
  }
  SECTION("the retry factor compounds per extra try") {
    config.gates.retry_memory_factor = *Quantity::parse("1.5");
    auto r = decide_on(pod_with("", "3"), store, config);
    CHECK(request_of(r, "memory") == "2304Mi");  // 1Gi * 1.5 * 1.5
  }
  SECTION("and stays within the policy's maxAllowed") {
    std::string vpa = read_fixture("recommender/vpa-etl-load.json");
    vpa.insert(vpa.find(R"("targetRef")"),
               R"("resourcePolicy":{"containerPolicies":[{"containerName":"*","maxAllowed":{"memory":"2Gi"}}]},)");
    std::string capped = R"({"apiVersion":"v1","kind":"List","items":[)" + vpa + "," + std::string(kTask) + "]}";
    config.gates.retry_memory_factor = *Quantity::parse("1.5");
    auto r = decide_on(pod_with("", "3"), capped, config);
    CHECK(request_of(r, "memory") == "2Gi");
  }
}

TEST_CASE("step limits bound the change relative to the pod's request", "[gates]") {
  const std::string store = store_with("recommender/vpa-etl-load.json", "");
  SECTION("off by default") {
    auto r = decide_on(pod_with("", "1", R"({"requests":{"cpu":"100m","memory":"4Gi"}})"), store);
    CHECK(request_of(r, "cpu") == "511m");
    CHECK(request_of(r, "memory") == "671629701");
  }
  SECTION("from annotations") {
    auto r = decide_on(pod_with(R"("airflow-vpa-webhook.io/max-decrease-memory":"50%","airflow-vpa-webhook.io/max-increase-cpu":"100%")",
                                "1", R"({"requests":{"cpu":"100m","memory":"4Gi"}})"),
                       store);
    CHECK(request_of(r, "cpu") == "200m");
    CHECK(request_of(r, "memory") == "2Gi");
    CHECK(engaged(r.decision, Gate::Step));
    CHECK_THAT(r.decision.summary, Catch::Contains("limited by max-decrease"));
  }
  SECTION("from the config") {
    Config config;
    config.gates.max_decrease[Resource::Memory] = parse_fraction("25%");
    auto r = decide_on(pod_with("", "1", R"({"requests":{"cpu":"100m","memory":"4Gi"}})"), store, config);
    CHECK(request_of(r, "memory") == "3Gi");
  }
}

TEST_CASE("each gate's reason names the container, the resource, what it asked and what was recommended",
          "[gates][reason]") {
  const std::string recent = store_with("recommender/vpa-etl-load.json", "recommender/checkpoints.json");
  SECTION("history: too little of it holds both resources back") {
    auto r = decide_on(pod_with(), recent);
    CHECK(r.decision.code == Reason::LeftAsAsked);
    CHECK(r.decision.reason ==
          "VPA etl-load changes nothing: "
          "base: cpu request 1 kept (target 511m): held back by the history gate: 1m of history and 35 samples, 48h and 10 required; "
          "base: memory request 1Gi kept (target 671629701): held back by the history gate: 1m of history and 35 samples, 48h and 10 required");
    REQUIRE(r.decision.notes.size() == 2);
    CHECK(r.decision.notes[0].code == Reason::HistoryGate);
  }
  SECTION("history: memory held back while cpu changes") {
    auto r = decide_on(pod_with(R"("airflow-vpa-webhook.io/min-history":"1m","airflow-vpa-webhook.io/min-samples":"30")"), recent);
    CHECK(r.decision.code == Reason::Changed);
    CHECK(r.decision.summary == "base: cpu request 1 -> 511m");
    CHECK(r.decision.reason ==
          "VPA etl-load: base: cpu request 1 -> 511m; "
          "base: memory request 1Gi kept (target 671629701): held back by the history gate: no memory history checkpointed yet");
  }
  SECTION("history: a container without a checkpoint") {
    // The recorded objects, their container renamed: its checkpoint is another's.
    const std::string renamed = [] {
      std::string pod = pod_with();
      pod.replace(pod.find(R"("name":"base")"), 13, R"("name":"main")");
      return pod;
    }();
    std::string vpa = read_fixture("recommender/vpa-etl-load.json");
    vpa.replace(vpa.find(R"("containerName": "base")"), 23, R"("containerName": "main")");
    std::string store = R"({"apiVersion":"v1","kind":"List","items":[)" + vpa + "," + std::string(kTask) + "," +
                        items_of(read_fixture("recommender/checkpoints.json")) + "]}";
    auto held = decide_on(renamed, store);
    CHECK_THAT(held.decision.reason,
               Catch::Contains("main: cpu request 1 kept (target 511m): held back by the history gate: no checkpoint yet"));
  }
  const std::string vouched = store_with("recommender/vpa-etl-load.json", "");
  SECTION("step") {
    auto r = decide_on(pod_with(R"("airflow-vpa-webhook.io/max-decrease-memory":"50%","airflow-vpa-webhook.io/max-increase-cpu":"100%")",
                                "1", R"({"requests":{"cpu":"100m","memory":"4Gi"}})"),
                       vouched);
    CHECK(r.decision.summary ==
          "base: cpu request 100m -> 200m (target 511m, limited by max-increase 100%), "
          "memory request 4Gi -> 2Gi (target 671629701, limited by max-decrease 50%)");
    Config config;
    config.gates.max_decrease[Resource::Memory] = parse_fraction("12.5%");
    auto fine = decide_on(pod_with("", "1", R"({"requests":{"cpu":"100m","memory":"4Gi"}})"), vouched, config);
    CHECK_THAT(fine.decision.summary, Catch::Contains("memory request 4Gi -> 3584Mi (target 671629701, limited by max-decrease 12.5%)"));
  }
  SECTION("retry: kept, or raised") {
    auto kept = decide_on(pod_with("", "2"), vouched);
    CHECK(kept.decision.reason ==
          "VPA etl-load: base: cpu request 1 -> 511m; "
          "base: memory request 1Gi kept (target 671629701): kept at the pod's request on retry 2");
    Config config;
    config.gates.retry_memory_factor = *Quantity::parse("1.5");
    auto raised = decide_on(pod_with("", "3"), vouched, config);
    CHECK(raised.decision.summary ==
          "base: cpu request 1 -> 511m, memory request 1Gi -> 2304Mi (target 671629701, raised for retry 3)");
  }
}
