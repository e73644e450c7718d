// `airflow-vpa-webhook review`: the real binary answers exactly what the server answers.
#include <catch2/catch.hpp>

#include "avw/core/base64.hpp"
#include "avw/core/store.hpp"
#include "avw/server/admission.hpp"
#include "harness.hpp"
#include "support/json_patch.hpp"
#include "support/net/process.hpp"

using namespace avw;
using namespace avw::test;

namespace {

const std::string kRecommendations = std::string(AVW_SOURCE_DIR) + "/tests/fixtures/recommendations-first-day.json";

std::string fixture_path(std::string_view name) { return std::string(AVW_FIXTURES_DIR) + "/" + std::string(name); }

std::string admit_response(const std::string& review, core::Mode mode) {
  const auto loaded = source::load_recommendations(kRecommendations, core::StoreOptions{});
  return server::admit(review, *loaded.snapshot, core::Config{}, mode).response;
}

}  // namespace

TEST_CASE("review prints the response the server would send, byte for byte", "[review]") {
  TempDir dir;
  const std::string fixture = GENERATE(as<std::string>{}, "admission/kpo-pod.json", "admission/executor-pod.json",
                                       "admission/limits-init-pod.json", "admission/dryrun.json",
                                       "admission/long-names.json");
  const bool dry_run = GENERATE(false, true);
  CAPTURE(fixture, dry_run);
  const std::string review = read_fixture(fixture);
  const std::string expected = admit_response(review, dry_run ? core::Mode::DryRun : core::Mode::Enforce) + "\n";

  SECTION("from --review FILE") {
    std::vector<std::string> argv = {AVW_BINARY, "review", "--recommendations", kRecommendations, "--review",
                                     fixture_path(fixture)};
    if (dry_run) argv.emplace_back("--dry-run");
    CHECK(run_process(argv, stdio(dir.file("out"), dir.file("err"))) == 0);
    CHECK(read_file(dir.file("out")) == expected);
    CHECK(read_file(dir.file("err")).empty());
  }
  SECTION("from stdin") {
    std::vector<std::string> argv = {AVW_BINARY, "review", "--recommendations", kRecommendations};
    if (dry_run) argv.emplace_back("--dry-run");
    CHECK(run_process(argv, stdio(dir.file("out"), dir.file("err"), fixture_path(fixture))) == 0);
    CHECK(read_file(dir.file("out")) == expected);
  }
}

TEST_CASE("the server and review agree on the wire", "[review][server]") {
  Harness h;
  REQUIRE(eventually([&] { return h.client().request("GET", "/readyz").status == 200; }));
  TempDir dir;
  const std::string review = read_fixture("admission/kpo-pod.json");
  CHECK(run_process({AVW_BINARY, "review", "--recommendations", kRecommendations, "--review",
                     fixture_path("admission/kpo-pod.json")},
                    stdio(dir.file("out"))) == 0);
  CHECK(h.client().request("POST", "/mutate", review).body + "\n" == read_file(dir.file("out")));
}

TEST_CASE("review fails with one line on stderr and exit 2 on bad input", "[review]") {
  TempDir dir;
  write_file_atomic(dir.file("no-uid.json"),
                    R"({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{}})");
  write_file_atomic(dir.file("not-json.json"), "{ nope");
  // Generators are built once per test case, while each run has its own directory: rows
  // name files as {dir}/... and the placeholder is filled in below.
  const std::string not_json = "{dir}/not-json.json";
  const std::string no_uid = "{dir}/no-uid.json";
  const std::string missing = "{dir}/missing.json";
  struct Row {
    std::vector<std::string> args;
    std::string message_start;
  };
  const Row row = GENERATE_COPY(values<Row>({
      {{"review", "--recommendations", kRecommendations, "--review", not_json},
       "airflow-vpa-webhook: review: "},
      {{"review", "--recommendations", kRecommendations, "--review", no_uid},
       "airflow-vpa-webhook: review: "},
      {{"review", "--recommendations", kRecommendations, "--review", missing},
       "airflow-vpa-webhook: review: cannot open " + missing},
      {{"review", "--recommendations", not_json, "--review", fixture_path("admission/kpo-pod.json")},
       "airflow-vpa-webhook: review: " + not_json + ": "},
      {{"review", "--review", fixture_path("admission/kpo-pod.json")},
       "airflow-vpa-webhook: review: --recommendations FILE is required"},
      {{"review", "--listen", "1.2.3.4:5"}, "airflow-vpa-webhook: review: --listen is a flag of serve"},
  }));
  auto fill = [&](std::string text) {
    if (const auto at = text.find("{dir}"); at != std::string::npos) text.replace(at, 5, dir.path());
    return text;
  };
  std::vector<std::string> argv = {AVW_BINARY};
  for (const auto& a : row.args) argv.push_back(fill(a));
  CAPTURE(argv);
  CHECK(run_process(argv, stdio(dir.file("out"), dir.file("err"))) == 2);
  const std::string err = read_file(dir.file("err"));
  CHECK(err.starts_with(fill(row.message_start)));
  CHECK(std::count(err.begin(), err.end(), '\n') == 1);
  CHECK(err.back() == '\n');
  CHECK(read_file(dir.file("out")).empty());
}

TEST_CASE("help and version print to stdout and exit 0", "[review][cli]") {
  TempDir dir;
  const auto args = GENERATE(as<std::vector<std::string>>{}, std::vector<std::string>{"--help"},
                             std::vector<std::string>{"serve", "--help"}, std::vector<std::string>{"help", "review"},
                             std::vector<std::string>{"--version"});
  std::vector<std::string> argv = {AVW_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  CHECK(run_process(argv, stdio(dir.file("out"), dir.file("err"))) == 0);
  CHECK(read_file(dir.file("out")).starts_with("airflow-vpa-webhook") == (args[0] == "--version"));
  CHECK_FALSE(read_file(dir.file("out")).empty());
  CHECK(read_file(dir.file("err")).empty());
}

TEST_CASE("review reproduces an OOM floor recorded in a recommendations file's AirflowTask", "[review][oom]") {
  TempDir dir;
  // The example recommendations, with the status the closed loop writes after base was
  // OOMKilled with 1Gi (no limit): its next pods get at least 1.2 x 1Gi.
  std::string recommendations = read_file(kRecommendations);
  const std::string selector = R"("selector": "dag_id=etl_daily,task_id=load,kubernetes_pod_operator=True")";
  const auto at = recommendations.find(selector);
  REQUIRE(at != std::string::npos);
  recommendations.insert(at + selector.size(),
                         R"(, "oomKills": [{"container": "base", "memoryRequest": "1Gi", "killedAt": "2026-12-06T18:26:27Z",)"
                         R"( "pod": "load-6fcfv", "runId": "scheduled__2026-12-06T00:00:00+00:00", "tryNumber": 1, "kills": 1, "cleanRuns": []}])");
  write_file_atomic(dir.file("recs.json"), recommendations);
  CHECK(run_process({AVW_BINARY, "review", "--recommendations", dir.file("recs.json"), "--review",
                     fixture_path("admission/kpo-pod.json")},
                    stdio(dir.file("out"), dir.file("err"))) == 0);
  INFO(read_file(dir.file("err")));
  const std::string out = read_file(dir.file("out"));
  const std::string review = read_fixture("admission/kpo-pod.json");
  const std::string patch = *core::base64_decode(json_at(out, "/response/patch"));
  const std::string pod = apply_json_patch(json_at(review, "/request/object"), patch);
  CHECK(json_at(pod, "/spec/containers/0/resources/requests/memory") == "1288490189");  // 1.2Gi, whole bytes
  CHECK(json_at(pod, "/spec/containers/0/resources/requests/cpu") == "25m");            // the recommendation
  CHECK_THAT(json_at(pod, "/metadata/annotations/airflow-vpa-webhook.io~1updates"),
             Catch::Contains("raised to the OOM floor 1288490189 (OOMKilled with 1Gi request on try 1"));
}

TEST_CASE("review takes a bare Pod, JSON or YAML, and answers the CREATE review it would get", "[review]") {
  TempDir dir;
  // The captured pod as the API server handed it to the webhook, alone.
  const std::string review = read_fixture("admission/kpo-pod.json");
  const std::string pod_json = json_at(review, "/request/object");
  write_file_atomic(dir.file("pod.json"), pod_json);
  REQUIRE(run_process({AVW_BINARY, "review", "--recommendations", kRecommendations, "--review", dir.file("pod.json")},
                      stdio(dir.file("out"), dir.file("err"))) == 0);
  CHECK(read_file(dir.file("err")).empty());
  std::string out = read_file(dir.file("out"));
  CHECK(json_at(out, "/response/uid") == "00000000-0000-0000-0000-000000000000");
  CHECK(json_at(out, "/response/allowed") == "true");
  const std::string pod = apply_json_patch(pod_json, *core::base64_decode(json_at(out, "/response/patch")));
  CHECK(json_at(pod, "/spec/containers/0/resources/requests/cpu") == "25m");
  CHECK(json_at(pod, "/spec/containers/0/resources/requests/memory") == "250Mi");
  CHECK(json_at(pod, "/metadata/annotations/airflow-vpa-webhook.io~1vpa") == "etl-daily-load");

  // The manifest the capture created that pod from, in YAML, on stdin: the same decision.
  REQUIRE(run_process({AVW_BINARY, "review", "--recommendations", kRecommendations},
                      stdio(dir.file("out"), dir.file("err"), fixture_path("inputs/kpo-pod.yaml"))) == 0);
  CHECK(read_file(dir.file("err")).empty());
  out = read_file(dir.file("out"));
  const std::string patch = *core::base64_decode(json_at(out, "/response/patch"));
  CHECK(json_at(patch, "/0/path") == "/metadata/annotations");  // the manifest has none
  CHECK(patch.find(R"("path":"/spec/containers/0/resources/requests/cpu","value":"25m")") != std::string::npos);
  CHECK(patch.find(R"("path":"/spec/containers/0/resources/requests/memory","value":"250Mi")") != std::string::npos);

  // Anything else is still refused the way a broken review is.
  write_file_atomic(dir.file("list.yaml"), "- not\n- a pod\n");
  CHECK(run_process({AVW_BINARY, "review", "--recommendations", kRecommendations, "--review", dir.file("list.yaml")},
                    stdio(dir.file("out"), dir.file("err"))) == 2);
  CHECK_THAT(read_file(dir.file("err")), Catch::Contains("not valid JSON"));
}

TEST_CASE("review --dry-run says why a pod without a VPA is left alone", "[review][reason]") {
  TempDir dir;
  std::string pod = read_file(fixture_path("inputs/kpo-pod.yaml"));
  pod.replace(pod.find("dag_id: etl_daily"), 17, "dag_id: reports");
  write_file_atomic(dir.file("pod.yaml"), pod);
  REQUIRE(run_process({AVW_BINARY, "review", "--dry-run", "--recommendations", kRecommendations, "--review",
                       dir.file("pod.yaml")},
                      stdio(dir.file("out"), dir.file("err"))) == 0);
  CHECK(read_file(dir.file("err")).empty());
  const std::string out = read_file(dir.file("out"));
  CHECK(json_at(out, "/response/allowed") == "true");
  CHECK_FALSE(json_has(out, "/response/patch"));
  CHECK(json_at(out, "/response/auditAnnotations/decision") == "skipped");
  CHECK(json_at(out, "/response/auditAnnotations/reason") == "no VPA governs task airflow/reports/load/PodOperator");
  CHECK_FALSE(json_has(out, "/response/auditAnnotations/vpa"));
  CHECK(json_at(out, "/response/warnings") ==
        R"(["airflow-vpa-webhook: no VPA governs task airflow/reports/load/PodOperator"])");
}

TEST_CASE("review --dry-run shows which container's memory the history gate holds back while cpu changes",
          "[review][reason]") {
  TempDir dir;
  // What the real recommender wrote while the task's pods still ran: a checkpoint with a
  // minute of cpu history and no memory histogram yet.
  const std::string checkpoints = json_at(read_fixture("recommender/checkpoints.json"), "/items");
  write_file_atomic(dir.file("recs.json"),
                    R"({"apiVersion":"v1","kind":"List","items":[)" + read_fixture("recommender/vpa-etl-load.json") +
                        R"(,{"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask","metadata":{"name":"etl-load","namespace":"airflow"},)"
                        R"("spec":{"replicas":0},"status":{"replicas":0,"selector":"dag_id=etl,task_id=load,kubernetes_pod_operator=True"}},)" +
                        checkpoints.substr(1, checkpoints.size() - 2) + "]}");
  write_file_atomic(dir.file("pod.yaml"), R"(apiVersion: v1
kind: Pod
metadata:
  generateName: load-
  namespace: airflow
  labels: {dag_id: etl, task_id: load, kubernetes_pod_operator: "True", try_number: "1"}
  annotations: {airflow-vpa-webhook.io/min-history: 1m, airflow-vpa-webhook.io/min-samples: "30"}
spec:
  restartPolicy: Never
  containers:
  - name: base
    image: registry.local/etl:1.4
    resources:
      requests: {cpu: "1", memory: 1Gi}
)");
  REQUIRE(run_process({AVW_BINARY, "review", "--dry-run", "--recommendations", dir.file("recs.json"), "--review",
                       dir.file("pod.yaml")},
                      stdio(dir.file("out"), dir.file("err"))) == 0);
  CHECK(read_file(dir.file("err")).empty());
  const std::string out = read_file(dir.file("out"));
  CHECK_FALSE(json_has(out, "/response/patch"));
  CHECK(json_at(out, "/response/auditAnnotations/decision") == "audited");
  CHECK(json_at(out, "/response/auditAnnotations/vpa") == "etl-load");
  CHECK(json_at(out, "/response/auditAnnotations/gates") == "history");
  CHECK(json_at(out, "/response/auditAnnotations/updates") == "base: cpu request 1 -> 511m");
  const std::string held =
      "base: memory request 1Gi kept (target 671629701): held back by the history gate: no memory history checkpointed yet";
  CHECK(json_at(out, "/response/auditAnnotations/reason") == "VPA etl-load: base: cpu request 1 -> 511m; " + held);
  // The would-be patch sets cpu only.
  const std::string would_patch = json_at(out, "/response/auditAnnotations/would-patch");
  CHECK_THAT(would_patch, Catch::Contains(R"("path":"/spec/containers/0/resources/requests/cpu","value":"511m")"));
  CHECK_THAT(would_patch, !Catch::Contains("requests/memory"));
  // Two warnings: the change, and the hold cut after a whole word to the 120 bytes the docs promise.
  CHECK(json_at(out, "/response/warnings/0") == "airflow-vpa-webhook: dry-run: base: cpu request 1 -> 511m");
  CHECK(json_at(out, "/response/warnings/1") ==
        "airflow-vpa-webhook: base: memory request 1Gi kept (target 671629701): held back by the history gate: no memory...");
  CHECK_FALSE(json_has(out, "/response/warnings/2"));
}
