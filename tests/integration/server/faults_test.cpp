// Faults under steady load. In every case a few client threads keep sending the captured
// AdmissionReview of a KubernetesPodOperator pod while a fault is injected, and every single
// request must be answered 200 with the right patch: the API server down, failing or hanging
// (the server in-process with source::make_api_source and short backoff, so minutes become
// seconds; scripts/soak runs the real minutes), certificates rotated, and SIGTERM on the real
// binary with the Kubernetes API source.
#include <signal.h>

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <spdlog/spdlog.h>

#include "avw/source/api_source.hpp"
#include "harness.hpp"
#include "integration/source/harness.hpp"
#include "support/json_patch.hpp"
#include "support/net/admission_load.hpp"
#include "support/net/fake_api_server.hpp"
#include "support/net/webhook_process.hpp"

using namespace avw;
using namespace avw::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* kCpu = "/spec/containers/0/resources/requests/cpu";
// The fixture VPA etl-daily-load governs the pod of admission/kpo-pod.json (cpu 25m).
constexpr const char* kVpa = "etl-daily-load";

std::string kpo_review() { return read_fixture("admission/kpo-pod.json"); }

// The in-process server logs every admission: thousands of lines that cost the loaded
// machine more than the test. Warnings and errors still show.
struct QuietLog {
  QuietLog() { spdlog::set_level(spdlog::level::warn); }
  ~QuietLog() { spdlog::set_level(previous); }
  QuietLog(const QuietLog&) = delete;
  QuietLog& operator=(const QuietLog&) = delete;
  spdlog::level::level_enum previous = spdlog::get_level();
};

// Waits until the load has had `count` more answers; says what failed when it does not.
void wait_for_answers(const AdmissionLoad& load, std::uint64_t count) {
  const auto target = load.answered() + count;
  const bool reached = eventually([&] { return load.answered() >= target; });
  if (reached) return;
  const LoadReport report = load.report();
  for (const auto& f : report.failures) UNSCOPED_INFO(f);
  FAIL("the load got " << report.answered << " answers, not " << target << " (" << report.failed << " failed, "
                       << report.refused << " refused)");
}

// Which cpu requests answers may carry (the test widens the set while a change propagates),
// and what each load thread saw last.
class CpuExpectation {
 public:
  CpuExpectation(std::set<std::string> allowed, unsigned threads)
      : review_(kpo_review()), allowed_(std::move(allowed)), last_(threads) {}

  void allow(std::set<std::string> values) {
    std::lock_guard lock(mutex_);
    allowed_ = std::move(values);
  }

  std::string check(unsigned thread, const HttpResponse& r) {
    if (r.status != 200) return "status " + std::to_string(r.status) + ": " + r.body;
    if (json_at(r.body, "/response/allowed") != "true") return "not allowed: " + r.body;
    const std::string pod = patched_pod(r, review_);
    if (pod.empty()) return "no patch: " + r.body;
    const std::string cpu = json_at(pod, kCpu);
    std::lock_guard lock(mutex_);
    last_.at(thread) = cpu;
    if (allowed_.contains(cpu)) return {};
    std::string want;
    for (const auto& a : allowed_) want += (want.empty() ? "" : " or ") + a;
    return "cpu request " + cpu + ", expected " + want;
  }

  /// True once the last answer of every thread carried `cpu`: every worker serves it then
  /// (each thread keeps one connection, and connections go to the workers in turn).
  bool every_thread_saw(const std::string& cpu) const {
    std::lock_guard lock(mutex_);
    return std::all_of(last_.begin(), last_.end(), [&](const std::string& c) { return c == cpu; });
  }

  const std::string& review() const { return review_; }

 private:
  const std::string review_;
  mutable std::mutex mutex_;
  std::set<std::string> allowed_;
  std::vector<std::string> last_;
};

LoadOptions load_for(std::uint16_t port, ClientOptions client, CpuExpectation& expect, unsigned keep_alive,
                     unsigned new_connections = 0) {
  LoadOptions o;
  o.port = port;
  o.client = std::move(client);
  o.review = expect.review();
  o.keep_alive_threads = keep_alive;
  o.new_connection_threads = new_connections;
  o.check = [&expect](unsigned thread, const HttpResponse& r) { return expect.check(thread, r); };
  return o;
}

void check_no_failure(const LoadReport& report) {
  INFO("answered " << report.answered << ", failed " << report.failed << ", refused " << report.refused);
  for (const auto& f : report.failures) UNSCOPED_INFO(f);
  CHECK(report.failed == 0);
  CHECK(report.refused == 0);
  CHECK(report.answered > 0);
}

// The server in-process, reading the fake API server through source::make_api_source.
HarnessOptions kube_harness(const FakeApiServer& api, source::ApiSourceOptions source) {
  HarnessOptions o;
  o.write_recommendations = false;
  o.configure = [](server::ServerOptions& s) {
    // The fixture VPA has no checkpoint: open the history gate.
    s.decision.gates.min_history_seconds = 0;
    s.decision.gates.min_samples = 0;
  };
  o.make_source = [config = config_for(api), source](boost::asio::io_context& control, metrics::Registry& registry) {
    return source::make_api_source(control, config, source, registry);
  };
  return o;
}

void set_cpu(FakeApiServer& api, const std::string& cpu) {
  api.upsert("verticalpodautoscalers", make_vpa("airflow", kVpa, kVpa, cpu, "256Mi"));
}

// The server in-process on the fake API server, synced, under load from three keep-alive
// threads that expect the fixture VPA's 25m (and GET /readyz to answer 200 every tenth request).
struct UnderLoad {
  explicit UnderLoad(source::ApiSourceOptions source = fast_options()) : h(kube_harness(api, std::move(source))) {
    REQUIRE(eventually([&] { return h.client().request("GET", "/readyz").status == 200; }));
    LoadOptions o = load_for(h.port(), h.client_options(), expect, 3);
    o.readyz_every = 10;
    load = std::make_unique<AdmissionLoad>(std::move(o));
    wait_for_answers(*load, 50);
  }

  /// The VPA changed to `cpu` during the fault the test injected: answers keep coming, from
  /// the old snapshot; after `recover` the change reaches every worker, and none goes back.
  void change_arrives_after(const std::string& cpu, const std::function<void()>& recover) {
    wait_for_answers(*load, 100);
    expect.allow({"25m", cpu});
    recover();
    REQUIRE(eventually([&] { return expect.every_thread_saw(cpu); }));
    expect.allow({cpu});
    wait_for_answers(*load, 50);
    check_no_failure(load->stop());
    CHECK(h.client().request("GET", "/readyz").status == 200);
  }

  std::uint64_t vpa_counter(const std::string& name, const std::string& label, const std::string& value) {
    return h.registry.counter(name, "", {{"resource", "verticalpodautoscalers"}, {label, value}}).value();
  }
  std::uint64_t vpa_api_errors(const std::string& code) { return vpa_counter("avw_kube_api_errors_total", "code", code); }

  QuietLog quiet;
  FakeApiServer api;
  Harness h;
  CpuExpectation expect{{"25m"}, 3};
  std::unique_ptr<AdmissionLoad> load;
};

}  // namespace

TEST_CASE("while the API server is down admissions use the last snapshot, and a change made meanwhile "
          "arrives once it is back",
          "[server][faults]") {
  UnderLoad u;
  // Resumed from the history, or (when it was compacted meanwhile) listed again after a 410.
  const bool compacted = GENERATE(false, true);
  CAPTURE(compacted);
  u.api.pause();  // the listener and every connection closed, as when the process stops
  set_cpu(u.api, "333m");
  if (compacted) u.api.compact();
  // A few seconds down: the source retries with its backoff capped (200 ms here).
  const auto errors = u.vpa_api_errors("network");
  REQUIRE(eventually([&] { return u.vpa_api_errors("network") >= errors + 20; }));

  u.change_arrives_after("333m", [&] { u.api.resume(); });
  const auto relists = u.vpa_counter("avw_kube_relists_total", "reason", "expired");
  if (compacted) {
    CHECK(relists >= 1);
  } else {
    CHECK(relists == 0);
  }
}

TEST_CASE("while the API server answers 500 to everything admissions are unaffected, and the source "
          "recovers after",
          "[server][faults]") {
  UnderLoad u;
  u.api.fail_all(500);
  u.api.drop_watches();  // their resumes meet the 500s
  set_cpu(u.api, "444m");
  const auto errors = u.vpa_api_errors("500");
  REQUIRE(eventually([&] { return u.vpa_api_errors("500") >= errors + 20; }));
  u.change_arrives_after("444m", [&] { u.api.fail_all(0); });
}

TEST_CASE("while the API server hangs admissions are unaffected, and the source recovers by itself",
          "[server][faults]") {
  source::ApiSourceOptions source = fast_options();
  // A silent watch is given up timeoutSeconds (1..2 s) + 1 s after it started, a request or
  // connection after 1 s.
  source.watch_timeout = 1s;
  source.watch_grace = 1s;
  source.client.request_timeout = 1s;
  source.client.connect_timeout = 1s;
  UnderLoad u(source);

  SECTION("accepting connections and never answering") {
    u.api.hang(true);
    set_cpu(u.api, "555m");
    // Open watches went silent and were given up; new connections never finish TLS.
    const auto errors = u.vpa_api_errors("network");
    REQUIRE(eventually([&] { return u.vpa_api_errors("network") >= errors + 3; }));
    u.change_arrives_after("555m", [&] { u.api.hang(false); });
  }
  SECTION("stalling an open watch") {
    // Nothing ends: the source must notice the silent watch itself and resume it.
    const auto restarts = u.vpa_counter("avw_kube_watch_restarts_total", "reason", "dropped");
    REQUIRE(eventually([&] { return u.api.stall_watches("verticalpodautoscalers") == 1; }));
    set_cpu(u.api, "555m");
    u.change_arrives_after("555m", [] {});
    CHECK(u.vpa_counter("avw_kube_watch_restarts_total", "reason", "dropped") >= restarts + 1);
  }
}

TEST_CASE("certificates replaced mid-load fail no request, and new connections get the new one",
          "[server][faults][tls]") {
  QuietLog quiet;
  Harness h;  // the example recommendations: cpu 25m for this pod
  CpuExpectation expect({"25m"}, 4);
  // Three keep-alive connections across every rotation, and one new connection per request.
  AdmissionLoad load(load_for(h.port(), h.client_options(), expect, 3, 1));
  wait_for_answers(load, 50);

  for (std::uint64_t serial = 201; serial <= 205; ++serial) {
    CAPTURE(serial);
    h.ca.issue(h.cert_file, h.key_file, server_certificate(serial));
    char hex[8];
    std::snprintf(hex, sizeof hex, "%llx", static_cast<unsigned long long>(serial));
    REQUIRE(eventually([&] { return h.client().peer_serial_hex() == hex; }));
    wait_for_answers(load, 30);
  }
  check_no_failure(load.stop());
  CHECK(h.metric("avw_tls_reloads_total{result=\"success\"}").value_or(0) >= 5);
}

TEST_CASE("SIGTERM under load with the kube source: requests sent are answered, new connections are "
          "refused cleanly, exit 0",
          "[server][faults][shutdown]") {
  FakeApiServer api;
  WebhookProcess server(
      with_api(api, {"--min-history", "0", "--min-samples", "0", "--shutdown-timeout", "30s", "--header-timeout", "60s"}));
  REQUIRE(eventually([&] { return HttpsClient(server.port(), server.client_options()).request("GET", "/readyz").status == 200; }));
  // One watch each for VPAs, AirflowTasks, LimitRanges, checkpoints and namespaces, and the
  // closed loop's watch of task pods.
  REQUIRE(eventually([&] { return api.open_watches() == 6; }));
  CpuExpectation expect({"25m"}, 6);
  AdmissionLoad load(load_for(server.port(), server.client_options(), expect, 3, 3));
  wait_for_answers(load, 100);
  // A request half sent when the signal comes keeps the drain open until it is complete.
  HttpsClient slow(server.port(), server.client_options());
  const std::string body = kpo_review();
  slow.send("POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n");
  const LoadReport before = load.report();
  REQUIRE(before.failed == 0);
  REQUIRE(before.refused == 0);

  server.process().signal(SIGTERM);
  // New connections during the drain: refused, while the process still finishes its work.
  CHECK(eventually([&] { return load.report().refused >= 3; }));
  CHECK_FALSE(server.process().wait_for({}));
  const HttpResponse late = slow.raw("Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  CHECK(late.status == 200);
  CHECK_FALSE(late.keep_alive);
  CHECK(json_at(patched_pod(late, body), kCpu) == "25m");

  const auto code = server.process().wait_for(30s);
  const LoadReport report = load.stop();
  INFO(server.log());
  INFO("answered " << report.answered << ", failed " << report.failed << ", refused " << report.refused);
  for (const auto& f : report.failures) UNSCOPED_INFO(f);
  // Every request written was answered: a failure after TLS would be a half-answered one.
  CHECK(report.failed == 0);
  CHECK(report.answered > before.answered);
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK(server.log().find("\"msg\":\"stopped\"") != std::string::npos);
}
