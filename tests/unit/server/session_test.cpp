// The session over beast::test::stream: whole exchanges as bytes in and bytes out, and every
// read and write failing once in turn (Beast's fail_count), which reaches each error path.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/fail_count.hpp>
#include <boost/beast/_experimental/test/stream.hpp>

#include <atomic>
#include <exception>
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include "avw/metrics/metrics.hpp"
#include "session.hpp"
#include "support/fixtures.hpp"

using namespace avw;
using namespace avw::server;
namespace net = boost::asio;

namespace {

const std::string& kpo_review() {
  static const std::string review = test::read_fixture("admission/kpo-pod.json");
  return review;
}

std::string post(std::string_view target, std::string_view body, std::string_view extra = "") {
  return "POST " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
         std::string(extra) + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

/// What a session needs from its worker, with the empty snapshot.
struct Rig {
  explicit Rig(std::size_t max_request_bytes = 4 * 1024 * 1024) { options.max_request_bytes = max_request_bytes; }

  metrics::Registry registry;
  ServerOptions options;
  ServerMetrics metrics{registry};
  std::atomic<bool> ready{true};
  TaskPodObserver task_pods;
  Handler handler{options, metrics, ready, task_pods};
  WorkerState worker{options, handler, metrics};
};

struct Exchange {
  std::string written;  // everything the session wrote
  Ending ending = Ending::Abort;
};

/// Serves `input` (then the client's end of stream) on a test stream to its end. `fc`, when
/// given, fails the stream's nth operation.
Exchange served(Rig& rig, std::string_view input, beast::test::fail_count* fc = nullptr) {
  net::io_context context;
  std::optional<beast::test::stream> server;
  if (fc != nullptr) {
    server.emplace(context, *fc, input);
  } else {
    server.emplace(context, input);
  }
  beast::test::stream client(context);
  server->connect(client);
  server->close_remote();
  Connection connection;
  std::optional<Ending> ending;
  std::exception_ptr failure;
  net::co_spawn(context, serve(*server, rig.worker, connection), [&](std::exception_ptr e, Ending end) {
    failure = e;
    ending = end;
  });
  context.run();  // returns once the session is over: nothing else runs on it
  REQUIRE_FALSE(failure);
  REQUIRE(ending);
  CHECK_FALSE(connection.idle);
  return {std::string(client.str()), *ending};
}

/// The responses in `written`: status, head and Content-Length body.
struct Parsed {
  unsigned status = 0;
  std::string head;
  std::string body;
};
std::vector<Parsed> responses(std::string_view written) {
  std::vector<Parsed> out;
  while (!written.empty()) {
    const auto end = written.find("\r\n\r\n");
    REQUIRE(end != std::string_view::npos);
    Parsed p;
    p.head = std::string(written.substr(0, end + 4));
    p.status = static_cast<unsigned>(std::stoul(p.head.substr(9, 3)));
    const auto at = p.head.find("Content-Length: ");
    const std::size_t length = at == std::string::npos ? 0 : std::stoul(p.head.substr(at + 16));
    written.remove_prefix(end + 4);
    REQUIRE(written.size() >= length);
    p.body = std::string(written.substr(0, length));
    written.remove_prefix(length);
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

TEST_CASE("session: a review on /mutate is answered with its AdmissionReview response", "[session]") {
  Rig rig;
  const auto x = served(rig, post("/mutate?timeout=10s", kpo_review(), "Connection: close\r\n"));
  const auto r = responses(x.written);
  REQUIRE(r.size() == 1);
  CHECK(r[0].status == 200);
  CHECK(r[0].head.find("Connection: close\r\n") != std::string::npos);
  CHECK(r[0].body.find("\"uid\":\"71855644-6b31-452d-82c9-d8999240b18e\"") != std::string::npos);
  CHECK(r[0].body.find("\"allowed\":true") != std::string::npos);
  CHECK(x.ending == Ending::Graceful);
  CHECK(rig.registry.render().find("avw_admission_duration_seconds_count{path=\"/mutate\"} 1") != std::string::npos);
}

TEST_CASE("session: one keep-alive connection answers two requests in order", "[session]") {
  Rig rig;
  const auto x = served(rig, post("/mutate", kpo_review()) + "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
  const auto r = responses(x.written);
  REQUIRE(r.size() == 2);
  CHECK(r[0].status == 200);
  CHECK(r[0].head.find("Connection") == std::string::npos);
  CHECK(r[1].status == 200);
  CHECK(r[1].body == "ok\n");
  // The client closed after its second request: the session saw the end of stream.
  CHECK(x.ending == Ending::Abort);
}

TEST_CASE("session: HEAD on the GET routes answers the GET head without its body", "[session]") {
  const std::string path = GENERATE(as<std::string>{}, "/healthz", "/readyz", "/metrics");
  Rig rig;
  const auto get = responses(served(rig, "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").written);
  const auto x = served(rig, "HEAD " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  REQUIRE(get.size() == 1);
  CHECK(get[0].status == 200);
  const std::string& head = get[0].head;
  if (path == "/metrics") {
    // The page grew by the GET just counted: compare the head up to its length.
    CHECK(x.written.starts_with(head.substr(0, head.find("Content-Length"))));
    CHECK(x.written.find("Content-Length: ") != std::string::npos);
  } else {
    CHECK(x.written == head);  // the same head, Content-Length included, and nothing after it
  }
  CHECK(x.written.ends_with("\r\n\r\n"));
}

TEST_CASE("session: a body over the limit gets 413 and the connection ends", "[session]") {
  Rig rig(1024);
  const std::string big(4096, ' ');
  SECTION("announced by Content-Length") {
    const auto x = served(rig, post("/mutate", big) + post("/mutate", kpo_review()));
    const auto r = responses(x.written);
    REQUIRE(r.size() == 1);  // the request behind it is never read
    CHECK(r[0].status == 413);
    CHECK(r[0].head.find("Connection: close\r\n") != std::string::npos);
    CHECK(r[0].body.find("over the limit of 1024 bytes") != std::string::npos);
    CHECK(x.ending == Ending::Abort);
  }
  SECTION("sent chunked") {
    const auto x = served(rig, "POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                 "Transfer-Encoding: chunked\r\n\r\n1000\r\n" + big + "\r\n0\r\n\r\n");
    const auto r = responses(x.written);
    REQUIRE(r.size() == 1);
    CHECK(r[0].status == 413);
  }
  CHECK(rig.registry.render().find("avw_http_errors_total{status=\"413\"} 1") != std::string::npos);
}

TEST_CASE("session: a malformed request gets 400 and the connection ends", "[session]") {
  Rig rig;
  const auto x = served(rig, "BREW /coffee HTCPCP/1.0\r\n\r\n");
  const auto r = responses(x.written);
  REQUIRE(r.size() == 1);
  CHECK(r[0].status == 400);
  CHECK(r[0].head.find("Connection: close\r\n") != std::string::npos);
  CHECK(x.ending == Ending::Abort);
}

TEST_CASE("session: 100 Continue goes before the body is read", "[session]") {
  Rig rig;
  const auto x = served(rig, post("/mutate", kpo_review(), "Expect: 100-continue\r\nConnection: close\r\n"));
  CHECK(x.written.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"));
}

TEST_CASE("session: every read and write failing once in turn ends the session cleanly", "[session]") {
  // Two requests and an answer each, so the loop crosses the idle read, the header and body
  // reads, the 100 Continue and both response writes.
  const std::string input = post("/mutate", kpo_review(), "Expect: 100-continue\r\n") +
                            post("/audit", kpo_review(), "Connection: close\r\n");
  Rig reference_rig;
  const auto complete = served(reference_rig, input);
  REQUIRE(complete.ending == Ending::Graceful);
  REQUIRE(responses(complete.written).size() == 3);

  std::size_t n = 0;
  for (; n < 200; ++n) {
    INFO("failing operation " << n);
    Rig rig;
    beast::test::fail_count fc(n);
    const auto x = served(rig, input, &fc);
    // What the client saw is the complete exchange, or the start of it cut where it failed.
    CHECK(complete.written.starts_with(x.written));
    if (x.written == complete.written && x.ending == Ending::Graceful) break;  // the failure was never reached
    CHECK(x.ending == Ending::Abort);
  }
  CHECK(n > 3);
  CHECK(n < 200);
}
