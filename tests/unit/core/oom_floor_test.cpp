// The closed loop's memory floor: the bump's arithmetic, how a pod's end changes a task's
// status.oomKills, and the `oom` gate as the planner applies it.
#include <catch2/catch.hpp>

#include <string>

#include "avw/core/admission.hpp"
#include "avw/core/object_list.hpp"
#include "avw/core/patch.hpp"
#include "avw/core/decision.hpp"
#include "avw/core/oom_floor.hpp"
#include "avw/core/store.hpp"
#include "support/json_patch.hpp"

using namespace avw::core;
using avw::test::apply_json_patch;
using avw::test::json_at;

namespace {

Quantity q(std::string_view text) { return *Quantity::parse(text); }

constexpr std::int64_t kKilledAt = 1'796'000'000;

/// A finished task pod with one `base` container, as the pod watch decodes it.
TaskPod ended_pod(std::string name, std::string_view reason, std::optional<std::string_view> request,
                  std::optional<std::string_view> limit, std::int64_t finished_at, std::int64_t created) {
  TaskPod pod;
  pod.namespace_ = "airflow";
  pod.name = std::move(name);
  pod.created = created;
  pod.phase = reason == "Completed" ? PodPhase::Succeeded : PodPhase::Failed;
  TaskPodContainer c;
  c.name = "base";
  if (request) c.requests[Resource::Memory] = q(*request);
  if (limit) c.limits[Resource::Memory] = q(*limit);
  c.terminated = ContainerEnd{std::string(reason), reason == "OOMKilled" ? 137 : 0, finished_at - 60, finished_at};
  pod.containers.push_back(std::move(c));
  return pod;
}

RecommendedMemory recommending(std::optional<std::string_view> memory) {
  return [memory](std::string_view) -> std::optional<Quantity> {
    if (!memory) return std::nullopt;
    return q(*memory);
  };
}

std::string task_with_kills(std::string_view kills) {
  return std::string(R"({"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask","metadata":{"name":"etl-load","namespace":"airflow"},)"
                     R"("spec":{"replicas":0},"status":{"replicas":0,"selector":"dag_id=etl,task_id=load,kubernetes_pod_operator=True","oomKills":)") +
         std::string(kills) + "}}";
}

std::string vpa(std::string_view memory_target, std::string_view policy = "") {
  std::string v = R"({"apiVersion":"autoscaling.k8s.io/v1","kind":"VerticalPodAutoscaler","metadata":{"name":"etl-load","namespace":"airflow","creationTimestamp":"2026-11-23T17:09:07Z"},)"
                  R"("spec":{"targetRef":{"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask","name":"etl-load"},"updatePolicy":{"updateMode":"Off"})";
  if (!policy.empty()) v += R"(,"resourcePolicy":{"containerPolicies":[)" + std::string(policy) + "]}";
  v += "}";
  if (!memory_target.empty()) {
    v += R"(,"status":{"recommendation":{"containerRecommendations":[{"containerName":"base","target":{"cpu":"100m","memory":")" +
         std::string(memory_target) + R"("}}]}})";
  }
  v += "}";
  return v;
}

std::string kill_json(std::string_view request, std::string_view limit, std::string_view lifted = "") {
  std::string k = R"({"container":"base","killedAt":"2026-12-06T18:26:27Z","pod":"etl-load-oom","runId":"r1","tryNumber":1)";
  if (!request.empty()) k += R"(,"memoryRequest":")" + std::string(request) + "\"";
  if (!limit.empty()) k += R"(,"memoryLimit":")" + std::string(limit) + "\"";
  if (!lifted.empty()) k += R"(,"liftedAt":")" + std::string(lifted) + "\"";
  return k + "}";
}

struct Result {
  Decision decision;
  std::string pod;
};

Result admit(std::string_view resources, const std::string& store, std::string_view extra = "") {
  std::string s = R"({"apiVersion":"v1","kind":"List","items":[)" + store;
  if (!extra.empty()) s += "," + std::string(extra);
  s += "]}";
  auto snapshot = Snapshot::build(decode_objects(s), StoreOptions{});
  const std::string pod =
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"load-","namespace":"airflow","labels":{"dag_id":"etl","task_id":"load","kubernetes_pod_operator":"True","try_number":"1"}},)"
      R"("spec":{"containers":[{"name":"base","image":"x","resources":)" + std::string(resources) + "}]}}";
  const std::string review =
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u",)"
      R"("kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},)"
      R"("namespace":"airflow","operation":"CREATE","object":)" + pod + "}}";
  ParsedReview parsed(review);
  Result r{decide(parsed.request(), *snapshot, Config{}, Mode::Enforce), pod};
  if (!r.decision.patch.empty()) r.pod = apply_json_patch(pod, patch_to_json(r.decision.patch));
  return r;
}

std::string memory(const Result& r, std::string_view kind) {
  return json_at(r.pod, "/spec/containers/0/resources/" + std::string(kind) + "/memory");
}

bool oom_engaged(const Decision& d) {
  for (Gate g : d.gates) {
    if (g == Gate::Oom) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("an OOM floor is the larger of 1.2 times the killed amount and 100Mi more", "[oom]") {
  const OomPolicy policy;
  CHECK(oom_bumped(q("300Mi"), policy) == q("400Mi"));   // +100Mi wins below 500Mi
  CHECK(oom_bumped(q("500Mi"), policy) == q("600Mi"));   // the two agree
  CHECK(oom_bumped(q("600Mi"), policy) == q("720Mi"));   // x1.2 wins above
  CHECK(oom_bumped(q("2Gi"), policy) == q("2576980378")); // 2.4Gi rounded up to a whole byte
  CHECK(oom_bumped(q("1G"), policy).to_string() == "1171875Ki");  // 1.2e9 bytes, binary where exact
  CHECK(oom_bumped(q("300Mi"), policy).to_string() == "400Mi");
  OomPolicy steep;
  steep.bump_ratio = q("1.5");
  steep.min_bump = q("0");
  CHECK(oom_bumped(q("1Gi"), steep) == q("1536Mi"));

  const MemoryFloor both = memory_floor(q("300Mi"), q("600Mi"), policy);
  CHECK(both.request == q("400Mi"));
  CHECK(both.limit == q("720Mi"));
  const MemoryFloor request_only = memory_floor(q("300Mi"), std::nullopt, policy);
  CHECK(request_only.request == q("400Mi"));
  CHECK_FALSE(request_only.limit);
  CHECK_FALSE(memory_floor(std::nullopt, std::nullopt, policy).request);
}

TEST_CASE("a pod's OOM kill is recorded once, whoever sees it and however often", "[oom]") {
  const OomPolicy policy;
  const TaskPod killed = ended_pod("etl-load-oom", "OOMKilled", "300Mi", "600Mi", kKilledAt, kKilledAt - 120);
  OomUpdate first = learn_from_pod_end({}, killed, "r1", 1, policy, recommending("250Mi"), kKilledAt + 5);
  REQUIRE(first.raised == std::vector<std::string>{"base"});
  REQUIRE(first.kills.size() == 1);
  const OomKill& k = first.kills.front();
  CHECK(k.memory_request == q("300Mi"));
  CHECK(k.memory_limit == q("600Mi"));
  CHECK(k.killed_at == kKilledAt);
  CHECK(k.pod == "etl-load-oom");
  CHECK(k.run_id == "r1");
  CHECK(k.try_number == 1);
  CHECK(k.kills == 1);
  CHECK(k.active());

  // The same pod again (another replica, a relist after a restart): nothing changes.
  OomUpdate again = learn_from_pod_end(first.kills, killed, "r1", 1, policy, recommending("250Mi"), kKilledAt + 60);
  CHECK_FALSE(again.changed());
  CHECK(again.kills == first.kills);

  // An older kill (a pod listed late) changes nothing either.
  const TaskPod older = ended_pod("etl-load-old", "OOMKilled", "200Mi", "400Mi", kKilledAt - 86400, kKilledAt - 86500);
  CHECK_FALSE(learn_from_pod_end(first.kills, older, "r0", 1, policy, recommending("250Mi"), kKilledAt).changed());

  // A later kill at the floor raises it again; one with less than the floor's basis (a pod
  // admitted before the floor existed) keeps the basis.
  const TaskPod at_floor = ended_pod("etl-load-2", "OOMKilled", "250Mi", "500Mi", kKilledAt + 86400, kKilledAt + 86000);
  OomUpdate second = learn_from_pod_end(first.kills, at_floor, "r2", 1, policy, recommending("250Mi"), kKilledAt + 86400);
  REQUIRE(second.raised.size() == 1);
  CHECK(second.kills.front().memory_request == q("300Mi"));
  CHECK(second.kills.front().memory_limit == q("600Mi"));
  CHECK(second.kills.front().kills == 2);
  CHECK(second.kills.front().pod == "etl-load-2");
}

TEST_CASE("a killed container with neither request nor limit sets no floor and says so", "[oom]") {
  const TaskPod killed = ended_pod("p", "OOMKilled", std::nullopt, std::nullopt, kKilledAt, kKilledAt - 60);
  const OomUpdate u = learn_from_pod_end({}, killed, "r1", 1, OomPolicy{}, {}, kKilledAt);
  CHECK(u.kills.empty());
  CHECK(u.unsized == std::vector<std::string>{"base"});
}

TEST_CASE("a floor ends after three clean runs once the recommendation has reached it", "[oom]") {
  const OomPolicy policy;
  const TaskPod killed = ended_pod("etl-load-oom", "OOMKilled", "300Mi", "600Mi", kKilledAt, kKilledAt - 120);
  std::vector<OomKill> kills = learn_from_pod_end({}, killed, "r1", 1, policy, {}, kKilledAt).kills;

  // Daily runs, each created after the kill and completed.
  auto clean = [&](std::string run, std::int64_t day, std::optional<std::string_view> recommended) {
    const TaskPod pod = ended_pod("etl-load-" + run, "Completed", "400Mi", "800Mi", kKilledAt + day * 86400 + 600,
                                  kKilledAt + day * 86400);
    return learn_from_pod_end(kills, pod, run, 1, policy, recommending(recommended), kKilledAt + day * 86400 + 600);
  };
  OomUpdate u = clean("d1", 1, "450Mi");
  CHECK(u.counted_clean_run);
  CHECK(u.lifted.empty());
  kills = u.kills;
  CHECK(kills.front().clean_runs == std::vector<std::string>{"d1"});
  // The same run seen twice counts once.
  CHECK_FALSE(clean("d1", 1, "450Mi").changed());
  kills = clean("d2", 2, "450Mi").kills;
  // Three clean runs, but the recommendation (250Mi) is still under the floor (400Mi): kept.
  u = clean("d3", 3, "250Mi");
  CHECK(u.lifted.empty());
  CHECK(u.kills.front().active());
  kills = u.kills;
  // A fourth run, with the recommendation at 450Mi: lifted now.
  u = clean("d4", 4, "450Mi");
  CHECK(u.lifted == std::vector<std::string>{"base"});
  REQUIRE(u.kills.front().lifted_at);
  CHECK(*u.kills.front().lifted_at == kKilledAt + 4 * 86400 + 600);
  CHECK(u.kills.front().clean_runs.size() == 3);

  // A run created before the kill is not a clean run of the floor.
  const TaskPod early = ended_pod("etl-load-early", "Completed", "300Mi", "600Mi", kKilledAt + 300, kKilledAt - 10);
  CHECK_FALSE(learn_from_pod_end(kills, early, "e", 1, policy, recommending("1Gi"), kKilledAt + 300).changed());

  // A new kill after a lift raises a new floor from scratch.
  const TaskPod again = ended_pod("etl-load-again", "OOMKilled", "450Mi", "900Mi", kKilledAt + 10 * 86400, kKilledAt + 10 * 86400 - 60);
  const OomUpdate relapse = learn_from_pod_end(u.kills, again, "d10", 1, policy, {}, kKilledAt + 10 * 86400);
  CHECK(relapse.kills.front().active());
  CHECK(relapse.kills.front().kills == 1);
  CHECK(relapse.kills.front().memory_request == q("450Mi"));
  CHECK(relapse.kills.front().clean_runs.empty());
}

TEST_CASE("status.oomKills round-trips through its JSON", "[oom]") {
  OomKill k;
  k.container = "base";
  k.memory_request = q("300Mi");
  k.memory_limit = q("600Mi");
  k.killed_at = kKilledAt;
  k.pod = "etl-load-oom";
  k.run_id = "scheduled__2026-12-06T00:00:00+00:00";
  k.try_number = 1;
  k.kills = 2;
  k.clean_runs = {"a", "b"};
  OomKill lifted = k;
  lifted.container = "airflow-xcom-sidecar";
  lifted.memory_limit.reset();
  lifted.lifted_at = kKilledAt + 100;
  const std::string json = oom_kills_to_json({k, lifted});
  const DecodedObjects decoded = decode_objects(task_with_kills(json));
  REQUIRE(decoded.errors.empty());
  REQUIRE(decoded.targets.size() == 1);
  CHECK(decoded.targets.front().oom_kills == std::vector<OomKill>{k, lifted});
  CHECK(json_at(json, "/0/killedAt") == format_rfc3339(kKilledAt));
  CHECK(json_at(json, "/1/liftedAt") == format_rfc3339(kKilledAt + 100));
}

TEST_CASE("a malformed oomKills entry skips its AirflowTask with the path of the fault", "[oom]") {
  for (const auto& [kills, path] : std::vector<std::pair<std::string, std::string>>{
           {R"([{"killedAt":"2026-12-06T18:26:27Z"}])", "status.oomKills[0].container: missing"},
           {R"([{"container":"base"}])", "status.oomKills[0].killedAt: missing"},
           {R"([{"container":"base","killedAt":"yesterday"}])", "status.oomKills[0].killedAt: invalid timestamp"},
           {R"([{"container":"base","killedAt":"2026-12-06T18:26:27Z","memoryRequest":"-1Gi"}])",
            "status.oomKills[0].memoryRequest: negative quantity"},
           {R"({"container":"base"})", "status.oomKills: expected an array"}}) {
    INFO(kills);
    const DecodedObjects decoded = decode_objects(task_with_kills(kills));
    CHECK(decoded.targets.empty());
    REQUIRE(decoded.errors.size() == 1);
    CHECK_THAT(decoded.errors.front(), Catch::Contains(path));
  }
}

TEST_CASE("the oom gate raises request and scaled limit to the floor", "[oom][planner]") {
  const std::string store = vpa("250Mi") + "," + task_with_kills("[" + kill_json("300Mi", "600Mi") + "]");
  const Result r = admit(R"({"requests":{"cpu":"250m","memory":"300Mi"},"limits":{"memory":"600Mi"}})", store);
  REQUIRE(r.decision.outcome == Outcome::Patched);
  CHECK(oom_engaged(r.decision));
  // Floor 400Mi; the limit keeps the pod's 2x ratio (800Mi), above its own floor of 720Mi.
  CHECK(memory(r, "requests") == "400Mi");
  CHECK(memory(r, "limits") == "800Mi");
  CHECK_THAT(r.decision.summary,
             Catch::Contains("memory request 300Mi -> 400Mi") &&
                 Catch::Contains("raised to the OOM floor 400Mi (OOMKilled with 300Mi request on try 1 at 2026-12-06T18:26:27Z)"));
  bool annotated = false;
  for (const auto& [key, value] : r.decision.audit_annotations) annotated = annotated || (key == "gates" && value == "oom");
  CHECK(annotated);
}

TEST_CASE("the oom gate lifts a limit that stays put to the limit's floor", "[oom][planner]") {
  SECTION("RequestsOnly keeps limits, but not below the kill") {
    const std::string store =
        vpa("250Mi", R"({"containerName":"*","controlledValues":"RequestsOnly"})") + "," +
        task_with_kills("[" + kill_json("300Mi", "600Mi") + "]");
    const Result r = admit(R"({"requests":{"memory":"300Mi"},"limits":{"memory":"600Mi"}})", store);
    CHECK(memory(r, "requests") == "400Mi");
    CHECK(memory(r, "limits") == "720Mi");
    CHECK_THAT(r.decision.summary, Catch::Contains("limit raised to the OOM floor 720Mi (OOMKilled with 600Mi limit"));
  }
  SECTION("a recommendation above the floor needs no gate, but the limit still does") {
    const std::string store =
        vpa("500Mi", R"({"containerName":"*","controlledValues":"RequestsOnly"})") + "," +
        task_with_kills("[" + kill_json("300Mi", "600Mi") + "]");
    const Result r = admit(R"({"requests":{"memory":"300Mi"},"limits":{"memory":"600Mi"}})", store);
    CHECK(memory(r, "requests") == "500Mi");
    CHECK(memory(r, "limits") == "720Mi");
  }
}

TEST_CASE("maxAllowed bounds the OOM floor, and the limit's floor with it", "[oom][planner]") {
  const std::string store = vpa("250Mi", R"({"containerName":"base","maxAllowed":{"memory":"350Mi"}})") + "," +
                            task_with_kills("[" + kill_json("300Mi", "600Mi") + "]");
  SECTION("RequestsAndLimits: the limit keeps the pod's ratio") {
    const Result r = admit(R"({"requests":{"memory":"300Mi"},"limits":{"memory":"600Mi"}})", store);
    CHECK(memory(r, "requests") == "350Mi");
    CHECK(memory(r, "limits") == "700Mi");
    CHECK_THAT(r.decision.summary, Catch::Contains("capped to maxAllowed"));
  }
  SECTION("a fixed limit under the floor rises by the share of the floor maxAllowed leaves") {
    const std::string only = vpa("250Mi", R"({"containerName":"base","maxAllowed":{"memory":"350Mi"},"controlledValues":"RequestsOnly"})") +
                             "," + task_with_kills("[" + kill_json("300Mi", "600Mi") + "]");
    const Result r = admit(R"({"requests":{"memory":"300Mi"},"limits":{"memory":"600Mi"}})", only);
    CHECK(memory(r, "requests") == "350Mi");
    CHECK(memory(r, "limits") == "630Mi");  // 720Mi x 350/400
  }
}

TEST_CASE("a LimitRange max caps the OOM floor's limit as it caps any limit", "[oom][planner]") {
  const std::string store = vpa("250Mi", R"({"containerName":"*","controlledValues":"RequestsOnly"})") + "," +
                            task_with_kills("[" + kill_json("300Mi", "600Mi") + "]");
  const std::string range =
      R"({"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"lr","namespace":"airflow"},"spec":{"limits":[{"type":"Container","max":{"memory":"700Mi"}}]}})";
  const Result r = admit(R"({"requests":{"memory":"300Mi"},"limits":{"memory":"600Mi"}})", store, range);
  CHECK(memory(r, "requests") == "400Mi");
  CHECK(memory(r, "limits") == "700Mi");
}

TEST_CASE("an OOM floor applies where no recommendation does", "[oom][planner]") {
  SECTION("the VPA has no recommendation yet") {
    const std::string store = vpa("") + "," + task_with_kills("[" + kill_json("300Mi", "") + "]");
    const Result r = admit(R"({"requests":{"cpu":"1","memory":"300Mi"}})", store);
    REQUIRE(r.decision.outcome == Outcome::Patched);
    CHECK(memory(r, "requests") == "400Mi");
    CHECK(json_at(r.pod, "/spec/containers/0/resources/requests/cpu") == "1");
  }
  SECTION("a pod without a memory request gets the floor itself") {
    const std::string store = vpa("") + "," + task_with_kills("[" + kill_json("300Mi", "") + "]");
    const Result r = admit(R"({"requests":{"cpu":"1"}})", store);
    CHECK(memory(r, "requests") == "400Mi");
  }
  SECTION("a lifted floor holds nothing") {
    const std::string store = vpa("") + "," + task_with_kills("[" + kill_json("300Mi", "", "2026-12-10T00:00:00Z") + "]");
    const Result r = admit(R"({"requests":{"cpu":"1","memory":"300Mi"}})", store);
    CHECK(r.decision.outcome == Outcome::Skipped);
    CHECK_THAT(r.decision.reason, Catch::Contains("has no recommendation yet"));
  }
  SECTION("a container policy with mode Off is respected") {
    const std::string store = vpa("250Mi", R"({"containerName":"base","mode":"Off"})") + "," +
                              task_with_kills("[" + kill_json("300Mi", "") + "]");
    const Result r = admit(R"({"requests":{"memory":"300Mi"}})", store);
    CHECK(r.decision.patch.empty());
  }
}
