// The HTTPS admission server end to end: real TLS on loopback, the example recommendations,
// the captured AdmissionReviews.
#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include <catch2/catch.hpp>

#include "avw/core/base64.hpp"
#include "avw/core/store.hpp"
#include "avw/server/admission.hpp"
#include "avw/source/file_source.hpp"
#include "harness.hpp"
#include "support/json_patch.hpp"
#include "support/net/raw_socket.hpp"
#include "support/net/socket_options.hpp"

using namespace avw;
using namespace avw::test;

namespace {

std::string kpo_review() { return read_fixture("admission/kpo-pod.json"); }

/// What server::admit answers for `body` with the example recommendations: the server and
/// `review` must send exactly these bytes.
std::string expected_response(std::string_view body, core::Mode mode) {
  TempDir dir;
  write_file_atomic(dir.file("r.json"), example_recommendations());
  const auto loaded = source::load_recommendations(dir.file("r.json"), core::StoreOptions{});
  return server::admit(body, *loaded.snapshot, core::Config{}, mode).response;
}

std::string decoded_patch(const std::string& response) {
  const auto patch = core::base64_decode(json_at(response, "/response/patch"));
  REQUIRE(patch);
  return *patch;
}

}  // namespace

TEST_CASE("an enforced task pod gets the patch that sets its requests from its VPA", "[server]") {
  Harness h;
  REQUIRE(eventually([&] { return h.client().request("GET", "/readyz").status == 200; }));
  auto client = h.client();
  const std::string review = kpo_review();
  const auto r = client.request("POST", "/mutate?timeout=10s", review);

  REQUIRE(r.status == 200);
  CHECK(r.header("Content-Type") == "application/json");
  CHECK(r.body == expected_response(review, core::Mode::Enforce));
  CHECK(json_at(r.body, "/response/uid") == "71855644-6b31-452d-82c9-d8999240b18e");
  CHECK(json_at(r.body, "/response/allowed") == "true");
  CHECK(json_at(r.body, "/response/patchType") == "JSONPatch");

  // Applied as the API server applies it, to the pod it was sent.
  const std::string pod = apply_json_patch(json_at(review, "/request/object"), decoded_patch(r.body));
  CHECK(json_at(pod, "/spec/containers/0/name") == "base");
  CHECK(json_at(pod, "/spec/containers/0/resources/requests/cpu") == "25m");
  CHECK(json_at(pod, "/spec/containers/0/resources/requests/memory") == "250Mi");
  CHECK(json_at(pod, "/spec/containers/1/name") == "airflow-xcom-sidecar");
  CHECK(json_at(pod, "/spec/containers/1/resources/requests/cpu") == "25m");
  CHECK(json_at(pod, "/spec/containers/1/resources/requests/memory") == "250Mi");
  CHECK(json_at(pod, "/metadata/annotations/airflow-vpa-webhook.io~1vpa") == "etl-daily-load");
  CHECK(json_at(pod, "/metadata/annotations/airflow-vpa-webhook.io~1updates").find("base: cpu request 500m -> 25m") !=
        std::string::npos);
  // The labels the operator finds its pod by are untouched.
  CHECK(json_at(pod, "/metadata/labels") == json_at(review, "/request/object/metadata/labels"));

  CHECK(h.metric("avw_admission_requests_total{path=\"/mutate\",outcome=\"patched\"}") == 1.0);
  CHECK(h.metric("avw_admission_duration_seconds_count{path=\"/mutate\"}") == 1.0);
  // 500m + 1m asked, 25m + 25m set.
  CHECK(h.metric("avw_admission_cpu_request_millicores_total{mode=\"enforce\",requests=\"original\"}") == 501.0);
  CHECK(h.metric("avw_admission_cpu_request_millicores_total{mode=\"enforce\",requests=\"new\"}") == 50.0);
  CHECK(h.metric("avw_admission_memory_request_bytes_total{mode=\"enforce\",requests=\"new\"}") == 2.0 * 262144000);
}

TEST_CASE("an audited pod gets no patch but audit annotations", "[server]") {
  Harness h;
  REQUIRE(eventually([&] { return h.client().request("GET", "/readyz").status == 200; }));
  const std::string review = kpo_review();
  const auto r = h.client().request("POST", "/audit", review);
  REQUIRE(r.status == 200);
  CHECK(r.body == expected_response(review, core::Mode::DryRun));
  CHECK(json_at(r.body, "/response/allowed") == "true");
  CHECK_FALSE(json_has(r.body, "/response/patch"));
  CHECK(json_has(r.body, "/response/auditAnnotations"));
  CHECK(h.metric("avw_admission_requests_total{path=\"/audit\",outcome=\"audited\"}") == 1.0);
  CHECK(h.metric("avw_admission_cpu_request_millicores_total{mode=\"dry-run\",requests=\"original\"}") == 501.0);
}

TEST_CASE("with --dry-run, /mutate answers as /audit does", "[server]") {
  Harness h(configured([](server::ServerOptions& o) { o.dry_run = true; }));
  REQUIRE(eventually([&] { return h.client().request("GET", "/readyz").status == 200; }));
  const std::string review = kpo_review();
  const auto r = h.client().request("POST", "/mutate", review);
  REQUIRE(r.status == 200);
  CHECK(r.body == expected_response(review, core::Mode::DryRun));
  CHECK_FALSE(json_has(r.body, "/response/patch"));
}

TEST_CASE("bad requests get a clear JSON error and the connection stays usable", "[server]") {
  Harness h;
  REQUIRE(eventually([&] { return h.client().request("GET", "/readyz").status == 200; }));
  struct Row {
    std::string method;
    std::string target;
    std::string content_type;
    std::string body;
    unsigned status;
    std::string allow;
    std::string error_contains;
  };
  const Row row = GENERATE(values<Row>({
      {"GET", "/nope", "", "", 404, "", "not found: /nope"},
      {"GET", "/mutate", "", "", 405, "POST", "use POST"},
      {"PUT", "/audit", "application/json", "{}", 405, "POST", "use POST"},
      {"POST", "/healthz", "application/json", "{}", 405, "GET, HEAD", "use GET or HEAD"},
      {"POST", "/mutate", "text/plain", "{}", 415, "", "application/json"},
      {"POST", "/mutate", "", "{}", 415, "", "application/json"},
      {"POST", "/mutate", "application/json", "{not json", 400, "", ""},
      {"POST", "/audit", "application/json",
       R"({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{}})", 400, "", "uid"},
  }));
  CAPTURE(row.method, row.target, row.content_type, row.body);
  auto client = h.client();
  const auto r = client.request(row.method, row.target, row.body, row.content_type);
  CHECK(r.status == row.status);
  CHECK(r.header("Allow") == row.allow);
  CHECK(r.header("Content-Type") == "application/json");
  CHECK(json_at(r.body, "/error").find(row.error_contains) != std::string::npos);
  CHECK(r.keep_alive);
  CHECK(client.request("GET", "/healthz").status == 200);
  CHECK(h.metric("avw_http_errors_total{status=\"" + std::to_string(row.status) + "\"}") == 1.0);
}

TEST_CASE("responses carry the head HTTP asks for: 100 Continue, Content-Length, keep-alive by version",
          "[server]") {
  Harness h;
  REQUIRE(eventually([&] { return h.client().request("GET", "/readyz").status == 200; }));
  const std::string review = kpo_review();
  const std::string expected = expected_response(review, core::Mode::Enforce);
  // Reads one whole response as bytes: its head up to the blank line and a Content-Length body.
  auto read_raw = [](RawTls& tls, std::string& pending) {
    for (;;) {
      const auto end = pending.find("\r\n\r\n");
      if (end != std::string::npos) {
        const std::string head = pending.substr(0, end + 4);
        const auto at = head.find("Content-Length: ");
        const std::size_t length = at == std::string::npos ? 0 : std::stoul(head.substr(at + 16));
        if (pending.size() >= end + 4 + length) {
          std::string whole = pending.substr(0, end + 4 + length);
          pending.erase(0, whole.size());
          return whole;
        }
      }
      if (tls.receive(pending, std::chrono::seconds(5)) != ReadStatus::Data) return std::string("(closed) ") + pending;
    }
  };
  auto post = [&](std::string_view version, std::string_view extra) {
    return "POST /mutate?timeout=10s " + std::string(version) +
           "\r\nHost: localhost\r\nContent-Type: application/json\r\n" + std::string(extra) +
           "Content-Length: " + std::to_string(review.size()) + "\r\n\r\n";
  };
  const std::string ok_head = "Content-Type: application/json\r\nContent-Length: " +
                              std::to_string(expected.size());

  SECTION("HTTP/1.1 with Expect: 100-continue gets 100 Continue before it sends the body") {
    RawTls tls(h.port(), h.ca_file);
    REQUIRE(tls.handshake());
    REQUIRE(tls.send(post("HTTP/1.1", "Expect: 100-continue\r\n")));
    std::string pending;
    while (pending.size() < 25 && tls.receive(pending, std::chrono::seconds(5)) == ReadStatus::Data) {
    }
    REQUIRE(pending == "HTTP/1.1 100 Continue\r\n\r\n");
    pending.clear();
    REQUIRE(tls.send(review));
    CHECK(read_raw(tls, pending) == "HTTP/1.1 200 OK\r\n" + ok_head + "\r\n\r\n" + expected);
    // Kept alive (no Connection field): a second request on it is answered the same.
    REQUIRE(tls.send(post("HTTP/1.1", "") + review));
    CHECK(read_raw(tls, pending) == "HTTP/1.1 200 OK\r\n" + ok_head + "\r\n\r\n" + expected);
  }
  SECTION("HTTP/1.1 with Connection: close is told so, and closed") {
    RawTls tls(h.port(), h.ca_file);
    REQUIRE(tls.handshake());
    REQUIRE(tls.send(post("HTTP/1.1", "Connection: close\r\n") + review));
    std::string pending;
    CHECK(read_raw(tls, pending) == "HTTP/1.1 200 OK\r\n" + ok_head + "\r\nConnection: close\r\n\r\n" + expected);
    CHECK(tls.wait_closed(std::chrono::seconds(5)));
  }
  SECTION("HTTP/1.0 is answered in 1.0, kept alive only when it asks") {
    RawTls tls(h.port(), h.ca_file);
    REQUIRE(tls.handshake());
    REQUIRE(tls.send(post("HTTP/1.0", "Connection: keep-alive\r\n") + review));
    std::string pending;
    CHECK(read_raw(tls, pending) ==
          "HTTP/1.0 200 OK\r\n" + ok_head + "\r\nConnection: keep-alive\r\n\r\n" + expected);
    REQUIRE(tls.send(post("HTTP/1.0", "") + review));
    CHECK(read_raw(tls, pending) == "HTTP/1.0 200 OK\r\n" + ok_head + "\r\n\r\n" + expected);
    CHECK(tls.wait_closed(std::chrono::seconds(5)));
  }
  SECTION("a 405 names the methods it allows") {
    RawTls tls(h.port(), h.ca_file);
    REQUIRE(tls.handshake());
    REQUIRE(tls.send("GET /mutate HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    std::string pending;
    const std::string r = read_raw(tls, pending);
    const std::string body = r.substr(r.find("\r\n\r\n") + 4);
    CHECK(r == "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\nAllow: POST\r\n"
               "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    CHECK(json_at(body, "/error").find("use POST") != std::string::npos);
  }
}

TEST_CASE("an admission's duration runs from its first bytes to the answer, body reads included", "[server]") {
  // The duration is read from a clock the test moves by hand, so what it observes is exact
  // whatever the machine's load; the clock counts its reads, which tells when the server has
  // taken the header in.
  struct ManualClock {
    std::atomic<std::int64_t> nanos{0};
    std::atomic<int> reads{0};
    void advance(std::chrono::nanoseconds d) { nanos += d.count(); }
  };
  auto clock = std::make_shared<ManualClock>();
  Harness h(configured([clock](server::ServerOptions& o) {
    o.duration_clock = [clock] {
      ++clock->reads;
      return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(clock->nanos.load()));
    };
  }));
  REQUIRE(eventually([&] { return h.client().request("GET", "/readyz").status == 200; }));
  const std::string review = kpo_review();
  RawTls tls(h.port(), h.ca_file);
  REQUIRE(tls.handshake());
  // An idle connection first: time spent waiting for a request is not the request's.
  clock->advance(std::chrono::milliseconds(400));
  const int reads_before = clock->reads.load();
  REQUIRE(tls.send("POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: " +
                   std::to_string(review.size()) + "\r\n\r\n"));
  REQUIRE(eventually([&] { return clock->reads.load() > reads_before; }));
  // The body comes 200 ms (of the clock) after the header.
  clock->advance(std::chrono::milliseconds(200));
  REQUIRE(tls.send(review));
  std::string pending;
  while (pending.find("\r\n\r\n") == std::string::npos && tls.receive(pending, std::chrono::seconds(5)) == ReadStatus::Data) {
  }
  REQUIRE(pending.starts_with("HTTP/1.1 200 OK\r\n"));
  REQUIRE(eventually([&] { return h.metric("avw_admission_duration_seconds_count{path=\"/mutate\"}") == 1.0; }));
  // Exactly the pause between header and body: not the idle 400 ms before (0.6), and not
  // only the time after the body arrived (0).
  CHECK(h.metric("avw_admission_duration_seconds_sum{path=\"/mutate\"}") == Approx(0.2).margin(1e-9));
}

TEST_CASE("json with a charset parameter is accepted", "[server]") {
  Harness h;
  REQUIRE(eventually([&] { return h.client().request("GET", "/readyz").status == 200; }));
  const auto r = h.client().request("POST", "/mutate", kpo_review(), "Application/JSON; charset=utf-8");
  CHECK(r.status == 200);
}

TEST_CASE("a body over --max-request-bytes gets 413 and the connection closes", "[server]") {
  Harness h(configured([](server::ServerOptions& o) { o.max_request_bytes = 1024; }));
  const std::string big(4096, ' ');
  SECTION("announced by Content-Length") {
    const auto r = h.client().request("POST", "/mutate", big);
    CHECK(r.status == 413);
    CHECK_FALSE(r.keep_alive);
    CHECK(json_at(r.body, "/error").find("over the limit") != std::string::npos);
  }
  SECTION("sent chunked") {
    std::string raw = "POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n1000\r\n" + big + "\r\n0\r\n\r\n";
    auto client = h.client();
    const auto r = client.raw(raw);
    CHECK(r.status == 413);
    CHECK_FALSE(r.keep_alive);
  }
  CHECK(h.metric("avw_http_errors_total{status=\"413\"}") == 1.0);
}

TEST_CASE("a malformed HTTP request gets 400 and the connection closes", "[server]") {
  Harness h;
  auto client = h.client();
  const auto r = client.raw("BREW /coffee HTCPCP/1.0\r\n\r\n");
  CHECK(r.status == 400);
  CHECK_FALSE(r.keep_alive);
}

TEST_CASE("one keep-alive connection serves many requests", "[server]") {
  Harness h;
  REQUIRE(eventually([&] { return h.client().request("GET", "/readyz").status == 200; }));
  const double accepted_before = h.metric("avw_connections_accepted_total").value_or(-1);
  auto client = h.client();
  const std::string review = kpo_review();
  for (int i = 0; i < 5; ++i) {
    CHECK(client.request("POST", "/mutate", review).status == 200);
    CHECK(client.request("POST", "/audit", review).status == 200);
    CHECK(client.request("GET", "/healthz").body == "ok\n");
  }
  CHECK(client.is_open());
  // The metric request itself makes one more connection.
  CHECK(h.metric("avw_connections_accepted_total") == accepted_before + 2);
  CHECK(h.metric("avw_admission_requests_total{path=\"/mutate\",outcome=\"patched\"}") == 5.0);
}

TEST_CASE("readyz turns ready once the recommendations are loaded", "[server]") {
  HarnessOptions options;
  options.write_recommendations = false;
  Harness h(options);
  CHECK(h.client().request("GET", "/healthz").status == 200);
  CHECK(h.client().request("GET", "/readyz").status == 503);
  CHECK(h.metric("avw_ready") == 0.0);
  // Admission still answers (allowed, no patch) before the store is loaded.
  const auto early = h.client().request("POST", "/mutate", kpo_review());
  CHECK(early.status == 200);
  CHECK_FALSE(json_has(early.body, "/response/patch"));

  write_file_atomic(h.recommendations_file, example_recommendations());
  CHECK(eventually([&] { return h.client().request("GET", "/readyz").status == 200; }));
  CHECK(h.metric("avw_store_vpas") == 3.0);
  CHECK(h.metric("avw_store_targets") == 3.0);
  CHECK(h.metric("avw_snapshot_reloads_total{source=\"file\",result=\"success\"}") == 1.0);
}

TEST_CASE("a rewritten recommendations file is picked up and a corrupt one keeps the last good state",
          "[server]") {
  Harness h;
  REQUIRE(eventually([&] { return h.client().request("GET", "/readyz").status == 200; }));
  const std::string review = kpo_review();
  auto cpu_of_base = [&] {
    const auto r = h.client().request("POST", "/mutate", review);
    const std::string pod = apply_json_patch(json_at(review, "/request/object"), decoded_patch(r.body));
    return json_at(pod, "/spec/containers/0/resources/requests/cpu");
  };
  REQUIRE(cpu_of_base() == "25m");

  std::string changed = example_recommendations();
  for (auto at = changed.find("\"25m\""); at != std::string::npos; at = changed.find("\"25m\"", at)) {
    changed.replace(at, 5, "\"40m\"");
  }
  write_file_atomic(h.recommendations_file, changed);
  CHECK(eventually([&] { return cpu_of_base() == "40m"; }));

  write_file_atomic(h.recommendations_file, "{ this is not JSON");
  CHECK(eventually([&] {
    return h.metric("avw_snapshot_reloads_total{source=\"file\",result=\"failure\"}").value_or(0) >= 1;
  }));
  CHECK(cpu_of_base() == "40m");
  CHECK(h.client().request("GET", "/readyz").status == 200);
}

TEST_CASE("a certificate swapped on disk is served to the next new connection", "[server][tls]") {
  Harness h;
  auto before = h.client();
  CHECK(before.peer_serial_hex() == "64");  // serial 100
  CHECK(before.peer_common_name() == "localhost");

  h.ca.issue(h.cert_file, h.key_file, server_certificate(200));
  CHECK(eventually([&] { return h.client().peer_serial_hex() == "c8"; }));
  // A connection keeps the context it was accepted with.
  CHECK(before.request("GET", "/healthz").status == 200);
  CHECK(h.metric("avw_tls_reloads_total{result=\"success\"}").value_or(0) >= 1);

  write_file_atomic(h.cert_file, "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n");
  CHECK(eventually([&] { return h.metric("avw_tls_reloads_total{result=\"failure\"}").value_or(0) >= 1; }));
  CHECK(h.client().peer_serial_hex() == "c8");
}

TEST_CASE("with --client-ca, a client must present a certificate signed by it", "[server][tls]") {
  HarnessOptions harness_options;
  harness_options.client_ca = true;
  Harness h(harness_options);
  SECTION("without a certificate the connection fails") {
    // With TLS 1.3 the client may finish its handshake before the server refuses it, so
    // the failure can surface on the first request.
    CHECK_THROWS_AS(HttpsClient(h.port(), h.client_options()).request("GET", "/healthz"), ClientError);
  }
  SECTION("with one it is served") {
    h.ca.issue(h.dir.file("client.crt"), h.dir.file("client.key"), client_certificate("kube-apiserver", 9));
    auto options = h.client_options();
    options.cert_file = h.dir.file("client.crt");
    options.key_file = h.dir.file("client.key");
    HttpsClient client(h.port(), options);
    CHECK(client.request("GET", "/healthz").status == 200);
  }
}

TEST_CASE("TLS below 1.2 is refused and ALPN settles on http/1.1", "[server][tls]") {
  Harness h;
  CHECK(h.client().alpn() == "http/1.1");
  auto options = h.client_options();
  options.max_tls_version = TLS1_1_VERSION;
  // The server's alert, not a client that refused to offer the old protocol.
  CHECK_THROWS_WITH(HttpsClient(h.port(), options), Catch::Contains("protocol version"));
  CHECK(eventually([&] { return h.metric("avw_tls_handshake_failures_total").value_or(0) >= 1; }));
}

TEST_CASE("accepted connections have Nagle's algorithm off", "[server]") {
  // With it on, a connection's first answer waited behind the handshake's unacknowledged
  // session tickets for the client's delayed ACK: 40 ms, for 10 of 16 h2load connections.
  Harness h;
  auto client = h.client();
  REQUIRE(client.request("GET", "/healthz").status == 200);
  const auto no_delay = tcp_no_delay_of_sockets(h.port(), 0);  // the server's end
  REQUIRE(no_delay.size() == 1);
  CHECK(no_delay.front());
}

TEST_CASE("TLS 1.3 settles on AES-128-GCM even for a client that lists AES-256 first", "[server][tls]") {
  Harness h;
  // The test client offers OpenSSL's default order, AES-256-GCM first, as h2load and curl do.
  CHECK(h.client().cipher() == "TLS_AES_128_GCM_SHA256");
}

TEST_CASE("connections beyond --max-connections are closed at once", "[server]") {
  Harness h(configured([](server::ServerOptions& o) { o.max_connections = 1; }));
  {
    auto first = h.client();
    CHECK(first.request("GET", "/healthz").status == 200);
    CHECK_THROWS_AS(HttpsClient(h.port(), h.client_options()).request("GET", "/healthz"), ClientError);
  }
  // Once the first is gone, a new connection is served and can read the rejection count.
  std::optional<double> rejected;
  CHECK(eventually([&] {
    try {
      rejected = h.metric("avw_connections_rejected_total");
      return true;
    } catch (const ClientError&) {
      return false;
    }
  }));
  // At least the one above (attempts made while the first was closing count too).
  REQUIRE(rejected);
  CHECK(*rejected >= 1.0);
}

TEST_CASE("during shutdown readyz fails and keep-alive connections are closed after their response",
          "[server][shutdown]") {
  Harness h;
  REQUIRE(eventually([&] { return h.client().request("GET", "/readyz").status == 200; }));
  auto busy = h.client();
  auto idle = h.client();
  CHECK(idle.request("GET", "/healthz").status == 200);
  CHECK(busy.request("GET", "/readyz").status == 200);
  h.shutdown();
  // Requests keep coming on `busy`: each is answered, the first one after the shutdown
  // reached its worker with 503 and `Connection: close`.
  HttpResponse last;
  CHECK(eventually([&] {
    last = busy.request("GET", "/readyz");
    return !last.keep_alive;
  }));
  CHECK(last.status == 503);
  // The idle connection is closed after the grace.
  CHECK(idle.wait_closed_by_server());
  h.join();
}

TEST_CASE("the shutdown timeout bounds a request that never completes", "[server][shutdown]") {
  Harness h(configured([](server::ServerOptions& o) {
    o.shutdown_timeout = std::chrono::milliseconds(200);
    o.header_timeout = std::chrono::minutes(5);
  }));
  auto stuck = h.client();
  stuck.send("POST /mutate HTTP/1.1\r\nHost: localhost\r\n");  // the header never ends
  CHECK(eventually([&] { return h.metric("avw_connections_open") == 2.0; }));  // stuck + this one
  h.shutdown();
  // run() returns once the deadline closed what was left, well before the header timeout.
  h.join();
  CHECK(stuck.wait_closed_by_server());
}

TEST_CASE("a Secret volume that swaps its ..data symlink is picked up", "[server][tls]") {
  // The layout Kubernetes' atomic writer makes: tls.crt -> ..data/tls.crt, ..data -> <version>/.
  TempDir secret;
  TestCa ca("secret CA");
  ca.write_certificate(secret.file("ca.pem"));
  auto write_version = [&](const std::string& version, std::uint64_t serial) {
    std::filesystem::create_directory(secret.file(version));
    ca.issue(secret.file(version + "/tls.crt"), secret.file(version + "/tls.key"), server_certificate(serial));
    std::filesystem::create_directory_symlink(version, secret.file("..data_tmp"));
    std::filesystem::rename(secret.file("..data_tmp"), secret.file("..data"));
  };
  write_version("..2026_11_23_v1", 300);
  std::filesystem::create_symlink("..data/tls.crt", secret.file("tls.crt"));
  std::filesystem::create_symlink("..data/tls.key", secret.file("tls.key"));
  Harness h(configured([&](server::ServerOptions& o) {
    o.tls_cert = secret.file("tls.crt");
    o.tls_key = secret.file("tls.key");
  }));
  const ClientOptions options = trusting(secret.file("ca.pem"));
  CHECK(HttpsClient(h.port(), options).peer_serial_hex() == "012c");  // 300

  write_version("..2026_11_23_v2", 400);
  CHECK(eventually([&] { return HttpsClient(h.port(), options).peer_serial_hex() == "0190"; }));  // 400
}
