// Hostile clients against the real HTTPS server: bodies that are not reviews, bodies far
// over the limit, plaintext and half-finished handshakes, slow writers, floods of idle
// connections. Each case checks the clear answer or the cut-off within a bound, and that a
// well-formed AdmissionReview on another connection is still served with its patch.
//
// Timeouts are short (hundreds of milliseconds) so the file runs in seconds. What is checked
// is an event: the server closed the connection, and the counter that says why. The waits
// for it are generous guards against a hang, failing with a message, never the property: a
// loaded CI machine (or ASan) can stall a thread for seconds. The one bound on time is a
// lower one, from a point before the connection began to the close: a timer never fires early.
#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "harness.hpp"
#include "support/json_patch.hpp"
#include "support/net/raw_socket.hpp"

using namespace avw;
using namespace avw::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

#if defined(__SANITIZE_ADDRESS__)
// From the sanitizer runtime (compiler-rt's allocator_interface.h, a header g++ 12 does not ship).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kRssMeansBuffering = false;  // ASan keeps freed memory resident (its quarantine)
#else
constexpr bool kRssMeansBuffering = true;
#endif

// How long a wait for the server's close may take before the test gives up on it (a hang).
constexpr auto kSlack = 5s;

const std::string& kpo_review() {
  static const std::string review = read_fixture("admission/kpo-pod.json");
  return review;
}

constexpr std::size_t k3MiB = 3 * 1024 * 1024;  // a string well inside the 4 MiB limit

/// `review` with the first `from` replaced by `to`.
std::string replaced(std::string review, std::string_view from, std::string_view to) {
  const auto at = review.find(from);
  REQUIRE(at != std::string::npos);
  return review.replace(at, from.size(), to);
}

/// The task pod with a 3 MiB annotation: legal, and big.
std::string big_review() {
  return replaced(kpo_review(), "\"labels\": {",
                  "\"annotations\": {\"big\": \"" + std::string(k3MiB, 'A') + "\"}, \"labels\": {");
}

std::chrono::milliseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

/// Admits `review` on `client`; true when it got 200 and a patch.
bool patched_with(HttpsClient& client, const std::string& review) {
  const auto r = client.request("POST", "/mutate", review);
  return r.status == 200 && json_has(r.body, "/response/patch");
}

/// Admits the task pod on `client`; true when it got 200 and the patch.
bool patched(HttpsClient& client) { return patched_with(client, kpo_review()); }

/// A well-formed review on a connection of its own is served, with the patch.
void check_still_served(const Harness& h) {
  auto client = h.client();
  CHECK(patched(client));
}

void require_ready(const Harness& h) {
  REQUIRE(eventually([&] { return h.client().request("GET", "/readyz").status == 200; }));
}

// Read in-process: a metrics request needs a connection, and a full server refuses one.
std::uint64_t counter(Harness& h, std::string_view name) { return h.registry.counter(name, "").value(); }
double gauge(Harness& h, std::string_view name) { return h.registry.gauge(name, "").value(); }

long status_kib(std::string_view key) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with(key) && line.size() > key.size() && line[key.size()] == ':') {
      return std::stol(line.substr(key.size() + 1));
    }
  }
  return -1;
}

// The server runs in this process, so the growth of the process' resident set while an attack
// runs bounds what the server buffered for it. Writing 5 to clear_refs resets the peak
// (VmHWM) to the current RSS; where that is not allowed, only the RSS afterwards is seen.
class RssGrowth {
 public:
  RssGrowth() {
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5" << std::flush;
    peak_ = clear.good();
    start_ = status_kib("VmRSS");
  }
  bool measures_peak() const { return peak_; }
  long kib() const { return status_kib(peak_ ? "VmHWM" : "VmRSS") - start_; }

 private:
  bool peak_ = false;
  long start_ = 0;
};

// Heap bytes in use now, from the allocator (what it caches or ASan quarantines is not counted,
// so unlike the RSS this drops as soon as memory is freed).
std::int64_t heap_in_use() {
#if defined(__SANITIZE_ADDRESS__)
  return static_cast<std::int64_t>(__sanitizer_get_current_allocated_bytes());
#else
  const struct mallinfo2 m = mallinfo2();
  return static_cast<std::int64_t>(m.uordblks + m.hblkhd);
#endif
}

// Raises the soft limit on open files to the hard limit; false when that is below `needed`.
bool allow_open_files(rlim_t needed) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  if (limit.rlim_cur < needed && limit.rlim_cur != RLIM_INFINITY) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  }
  return limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= needed;
}

/// The phase timeouts of a test's server: long, but for the one under test.
struct Timeouts {
  std::chrono::milliseconds handshake = 10s;
  std::chrono::milliseconds header = 10s;
  std::chrono::milliseconds body = 10s;
  std::chrono::milliseconds idle = 10s;
};

HarnessOptions with_timeouts(Timeouts t) {
  return configured([t](server::ServerOptions& o) {
    o.handshake_timeout = t.handshake;
    o.header_timeout = t.header;
    o.body_timeout = t.body;
    o.idle_timeout = t.idle;
  });
}

constexpr std::string_view kPostHead = "POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n";

/// The head of a POST /mutate with a body of `length` bytes.
std::string post_head(std::size_t length) {
  return std::string(kPostHead) + "Content-Length: " + std::to_string(length) + "\r\n\r\n";
}

constexpr std::size_t k100MiB = 100 * 1024 * 1024;

// What a hostile client saw that sends a request head and then ~100 MiB whatever the server
// answers, stopping only when the server cuts the connection.
struct Barrage {
  std::optional<HttpResponse> answer;
  std::chrono::milliseconds answered_at{};
  bool closed = false;  // by the server, within 5 s of the answer (or the last byte)
  std::chrono::milliseconds closed_at{};
  std::size_t sent = 0;  // after the head
  bool cut = false;      // the server closed while we were still writing
  long rss_growth_kib = 0;
  bool rss_peak = false;
  std::int64_t heap_growth_kib = 0;  // the most seen, sampled after every piece
};

std::ostream& operator<<(std::ostream& os, const Barrage& b) {
  return os << "answered " << (b.answer ? std::to_string(b.answer->status) : "nothing") << " after "
            << b.answered_at.count() << " ms, closed after " << b.closed_at.count() << " ms, " << b.sent / (1024 * 1024)
            << " MiB sent" << (b.cut ? " before the cut" : "") << ", RSS grew " << b.rss_growth_kib / 1024 << " MiB ("
            << (b.rss_peak ? "peak" : "after") << "), heap " << b.heap_growth_kib / 1024 << " MiB";
}

/// Sends `head` then `piece` again and again (~100 MiB in all). `good` must be served as
/// soon as the answer has come, while the barrage goes on.
Barrage barrage(Harness& h, HttpsClient& good, const std::string& head, const std::string& piece) {
  Barrage b;
  RawTls tls(h.port(), h.ca_file);
  REQUIRE(tls.handshake());
  const RssGrowth rss;
  const std::int64_t heap_before = heap_in_use();
  const auto start = Clock::now();
  REQUIRE(tls.send(head));
  while (b.sent < k100MiB) {
    if (!tls.send(piece, 5s)) {
      b.cut = true;
      break;
    }
    b.sent += piece.size();
    b.heap_growth_kib = std::max(b.heap_growth_kib, (heap_in_use() - heap_before) / 1024);
    if (!b.answer && tls.readable()) {
      b.answer = tls.read_response(5s);
      b.answered_at = since(start);
      CHECK(patched(good));
    }
  }
  if (!b.answer && !b.cut) {
    b.answer = tls.read_response(5s);
    b.answered_at = since(start);
  }
  b.closed = tls.wait_closed(2 * kSlack);
  b.closed_at = since(start);
  b.rss_growth_kib = rss.kib();
  b.rss_peak = rss.measures_peak();
  return b;
}

/// The barrage got `status` with `error` in its message, was closed soon after, and the server
/// buffered far less than it was sent.
void check_refused(const Barrage& b, unsigned status, std::string_view error) {
  INFO(b);
  CHECK(b.heap_growth_kib < 32 * 1024);
  if (kRssMeansBuffering) CHECK(b.rss_growth_kib < 32 * 1024);
  REQUIRE(b.answer);
  CHECK(b.answer->status == status);
  CHECK_FALSE(b.answer->keep_alive);
  CHECK(json_at(b.answer->body, "/error").find(error) != std::string::npos);
  // After its answer the server drains what is in flight only for a short bound, then closes
  // (a barrage of 100 MiB is never all taken).
  CHECK(b.closed);
}

// A slow writer: one byte, then a pause far shorter than any timeout (an idle timer would
// never fire), again and again.
constexpr auto kTrickleGap = 25ms;

struct Trickle {
  std::size_t sent = 0;
  bool closed = false;  // by the server
  std::chrono::milliseconds closed_at{};
};

std::ostream& operator<<(std::ostream& os, const Trickle& t) {
  return os << "cut off after " << t.closed_at.count() << " ms and " << t.sent << " bytes";
}

/// Trickles `bytes` on `tls` until all are sent or the server answers or closes; meanwhile a
/// review on another connection is served. Times are from `start`.
Trickle trickle(const Harness& h, RawTls& tls, std::string_view bytes, Clock::time_point start) {
  Trickle t;
  for (; t.sent < bytes.size(); ++t.sent) {
    if (!tls.send(bytes.substr(t.sent, 1))) break;
    if (t.sent == 5) check_still_served(h);
    if (tls.readable(kTrickleGap)) break;  // the pause, ended early by the server
  }
  t.closed = tls.wait_closed(2 * kSlack);
  t.closed_at = since(start);
  return t;
}

/// The server closed the trickle before all of its `size` bytes came (at a byte per pause,
/// they take far longer than the deadline), and no earlier than its deadline `at_least`.
void check_cut_off(const Trickle& t, std::size_t size, std::chrono::milliseconds at_least) {
  INFO(t);
  CHECK(t.closed);
  CHECK(t.sent < size);
  CHECK(t.closed_at >= at_least);
}

}  // namespace

TEST_CASE("hostile: reviews that are not valid get 400 naming the problem, and good ones are still served",
          "[server][hostile]") {
  Harness h;
  require_ready(h);
  auto good = h.client();
  const std::string& review = kpo_review();
  const std::string nested(100'000, '[');
  struct Row {
    std::string name;
    std::string body;
    std::string error_contains;
  };
  const std::vector<Row> rows = {
      {"truncated", review.substr(0, review.size() / 2), "is not valid JSON"},
      {"100k nested arrays in the object",
       R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","object":)" + nested +
           std::string(nested.size(), ']') + "}}",
       "nested deeper than 256 levels"},
      {"wrong apiVersion", replaced(review, "\"admission.k8s.io/v1\"", "\"admission.k8s.io/v1beta1\""),
       "unsupported AdmissionReview apiVersion \"admission.k8s.io/v1beta1\""},
      {"wrong kind", replaced(review, "\"AdmissionReview\"", "\"ConversionReview\""),
       "unsupported kind \"ConversionReview\""},
      {"no uid", replaced(review, "\"uid\": \"71855644-6b31-452d-82c9-d8999240b18e\",", ""), "request.uid is missing"},
      {"a 3 MiB kind", replaced(review, "\"AdmissionReview\"", "\"" + std::string(k3MiB, 'A') + "\""),
       "unsupported kind \"AAAA"},
  };
  for (const Row& row : rows) {
    INFO(row.name);
    auto client = h.client();
    const auto r = client.request("POST", "/mutate", row.body);
    CHECK(r.status == 400);
    CHECK(r.header("Content-Type") == "application/json");
    CHECK(json_at(r.body, "/error").find(row.error_contains) != std::string::npos);
    // The message names the problem; it never echoes megabytes of the body back.
    CHECK(r.body.size() < 300);
    // A bad review is the client's mistake, not the connection's: it stays usable.
    CHECK(r.keep_alive);
    CHECK(patched(client));
    CHECK(patched(good));
  }
  CHECK(h.metric("avw_admission_requests_total{path=\"/mutate\",outcome=\"invalid\"}") ==
        static_cast<double>(rows.size()));

  // Several megabytes of legal review (a huge annotation) are no error: the pod is patched.
  auto client = h.client();
  CHECK(patched_with(client, big_review()));
  check_still_served(h);
}

TEST_CASE("hostile: a 100 MiB body gets 413 and is cut off without being buffered", "[server][hostile]") {
  Harness h;  // the default 4 MiB limit
  require_ready(h);
  auto good = h.client();
  const std::string piece(64 * 1024, ' ');
  std::string head(kPostHead);
  std::string frame;  // what each piece of body goes out as
  SECTION("declared by Content-Length") {
    head = post_head(k100MiB);
    frame = piece;
  }
  SECTION("sent chunked, without a length") {
    head += "Transfer-Encoding: chunked\r\n\r\n";
    frame = "10000\r\n" + piece + "\r\n";
  }
  check_refused(barrage(h, good, head, frame), 413, "over the limit of 4194304 bytes");
  CHECK(h.metric("avw_http_errors_total{status=\"413\"}") == 1.0);
  CHECK(patched(good));
  check_still_served(h);
}

TEST_CASE("hostile: chunk framing that never ends is refused without being buffered", "[server][hostile]") {
  Harness h;
  require_ready(h);
  auto good = h.client();
  std::string head = std::string(kPostHead) + "Transfer-Encoding: chunked\r\n\r\n";
  SECTION("a chunk extension") { head += "1;ext="; }
  SECTION("a trailer") { head += "1\r\n{\r\n0\r\nX-Trailer: "; }
  // No CRLF ever comes: the parser can only wait for more, so the server must bound the wait.
  check_refused(barrage(h, good, head, std::string(64 * 1024, 'a')), 400, "a chunk header or the trailer is over");
  CHECK(patched(good));
  check_still_served(h);
}

TEST_CASE("hostile: big reviews on many keep-alive connections are not held while they idle", "[server][hostile]") {
  Harness h;
  require_ready(h);
  const std::string review = big_review();
  constexpr std::int64_t kConnections = 40;
  const std::int64_t before = heap_in_use();
  std::vector<std::unique_ptr<HttpsClient>> idle;
  for (std::int64_t i = 0; i < kConnections; ++i) {
    idle.push_back(std::make_unique<HttpsClient>(h.port(), h.client_options()));
    CHECK(patched_with(*idle.back(), review));
  }
  // 40 bodies of 3 MiB came in; the connections that now wait for their next request (both
  // ends are in this process) keep their TLS and session state, well under 1 MiB each, not
  // the bodies.
  std::int64_t held = 0;
  CHECK(eventually(
      [&] {
        held = heap_in_use() - before;
        return held < kConnections * 1024 * 1024;
      },
      5s));
  INFO(kConnections << " idle connections hold " << held / 1024 << " KiB");
  check_still_served(h);
}

TEST_CASE("hostile: plaintext HTTP to the TLS port is closed at once and counted", "[server][hostile]") {
  // A long handshake timeout: a close well before it is the TLS layer refusing the bytes.
  Harness h(with_timeouts({.handshake = 30s}));
  require_ready(h);
  RawSocket plain(h.port());
  REQUIRE(plain.send("POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}"));
  // The guard is well inside the handshake timeout: a close within it is the refusal.
  CHECK(plain.wait_closed(2 * kSlack));
  CHECK(eventually([&] { return counter(h, "avw_tls_handshake_failures_total") == 1; }, 3s));
  check_still_served(h);
}

// The server's TLS layer reads the socket ahead of its engine: a request that arrives in the same
// read as the client's Finished is decrypted during the handshake and must be served without
// waiting for more bytes (they never come: the client waits for its answer).
TEST_CASE("a request sent with the handshake's last flight is answered at once", "[server][tls]") {
  Harness h;
  require_ready(h);
  std::string review = kpo_review();
  SECTION("a review in one TLS record") {}
  SECTION("a review of three records") {
    review = replaced(review, "\"labels\": {", "\"annotations\": {\"big\": \"" + std::string(40 * 1024, 'A') + "\"}, \"labels\": {");
  }
  INFO("review of " << review.size() << " bytes");
  RawTls tls(h.port(), h.ca_file);
  REQUIRE(tls.handshake_and_send(post_head(review.size()) + review));
  const auto first = tls.read_response(3s);
  REQUIRE(first);
  CHECK(first->status == 200);
  CHECK(json_has(first->body, "/response/patch"));
  // And the connection goes on as any other.
  REQUIRE(tls.send(post_head(review.size()) + review));
  const auto second = tls.read_response(3s);
  REQUIRE(second);
  CHECK(second->status == 200);
}

// Requests sent back to back in one write come in reads that end mid-record and
// mid-request, and the ones left in the server's buffers are served without waiting for
// more bytes.
TEST_CASE("pipelined reviews sent in one write are all answered in order", "[server][tls]") {
  Harness h;
  require_ready(h);
  constexpr int kReviews = 30;  // 6.7 KB each: about 200 KB, over three read-aheads
  std::string requests;
  for (int i = 0; i < kReviews; ++i) {
    const std::string review = replaced(kpo_review(), "\"uid\": \"", "\"uid\": \"" + std::to_string(i) + "-");
    requests += post_head(review.size()) + review;
  }
  RawTls tls(h.port(), h.ca_file);
  REQUIRE(tls.handshake());
  REQUIRE(tls.send(requests));
  for (int i = 0; i < kReviews; ++i) {
    INFO("response " << i);
    const auto r = tls.read_response(3s);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(json_has(r->body, "/response/patch"));
    CHECK(r->body.find("\"uid\":\"" + std::to_string(i) + "-") != std::string::npos);
  }
}

// Requests cut at awkward places, each piece its own TLS record: the body starts with the
// header's record and ends in another, and a next request sent right behind it (its header
// split too) is left for its own turn. Whether the server reads the pieces one by one or
// several at once, the answers are the same.
TEST_CASE("a review whose body comes in pieces is answered as the whole one is", "[server][tls]") {
  Harness h;
  require_ready(h);
  const std::string big =
      replaced(kpo_review(), "\"labels\": {", "\"annotations\": {\"big\": \"" + std::string(40 * 1024, 'A') + "\"}, \"labels\": {");
  const std::string small = replaced(kpo_review(), "\"uid\": \"", "\"uid\": \"second-");
  auto client = h.client();
  const std::string want_big = client.request("POST", "/mutate", big).body;
  const std::string want_small = client.request("POST", "/mutate", small).body;

  const std::string requests = post_head(big.size()) + big + post_head(small.size()) + small;
  const std::size_t body_at = post_head(big.size()).size();
  // Cuts: inside the first body's start, mid-body twice, a byte before its end, and inside
  // the second request's header.
  const std::size_t cuts[] = {body_at + 100, body_at + 16 * 1024, body_at + 30 * 1024, body_at + big.size() - 1,
                              body_at + big.size() + 20, requests.size()};
  RawTls tls(h.port(), h.ca_file);
  REQUIRE(tls.handshake());
  std::size_t at = 0;
  for (const std::size_t cut : cuts) {
    REQUIRE(tls.send(std::string_view(requests).substr(at, cut - at)));
    at = cut;
  }
  const auto first = tls.read_response(3s);
  REQUIRE(first);
  CHECK(first->status == 200);
  CHECK(first->body == want_big);
  const auto second = tls.read_response(3s);
  REQUIRE(second);
  CHECK(second->body == want_small);
}

// The server writes to the socket itself: a write to a peer that has gone must fail with an
// error, not raise SIGPIPE (which would end this process, server and test alike).
TEST_CASE("a client that leaves with answers still to come does not stop the server", "[server][tls]") {
  Harness h;
  require_ready(h);
  for (int attempt = 0; attempt < 20; ++attempt) {
    RawTls tls(h.port(), h.ca_file);
    REQUIRE(tls.handshake());
    // Each metrics page is many KB, so the server is still writing when the close comes
    // back as a reset; the next write then finds the connection broken.
    std::string requests;
    for (int i = 0; i < 20; ++i) requests += "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";
    REQUIRE(tls.send(requests));
    tls.socket().close();
  }
  check_still_served(h);
}

TEST_CASE("hostile: a TLS handshake that never finishes is closed by the handshake timeout", "[server][hostile]") {
  constexpr auto kHandshake = 500ms;
  Harness h(with_timeouts({.handshake = kHandshake}));
  require_ready(h);
  auto good = h.client();
  REQUIRE(patched(good));
  std::optional<RawTls> tls;
  std::optional<RawSocket> silent;
  RawSocket* socket = nullptr;
  const auto start = Clock::now();
  SECTION("TCP connected, nothing sent") {
    silent.emplace(h.port());
    socket = &*silent;
  }
  SECTION("half a ClientHello sent") {
    tls.emplace(h.port(), h.ca_file);
    const std::string hello = tls->client_hello();
    REQUIRE(hello.size() > 100);
    socket = &tls->socket();
    REQUIRE(socket->send(std::string_view(hello).substr(0, hello.size() / 2)));
  }
  CHECK(patched(good));  // while the handshake hangs
  CHECK(socket->wait_closed(kHandshake + 2 * kSlack));
  const auto closed_at = since(start);
  INFO("closed after " << closed_at.count() << " ms");
  CHECK(closed_at >= kHandshake);
  // The handshake failed: its timeout closed it, not the client.
  CHECK(eventually([&] { return counter(h, "avw_tls_handshake_failures_total") == 1; }, 3s));
  CHECK(patched(good));
  check_still_served(h);
}

TEST_CASE("hostile: a header trickled a byte at a time is cut off by the header deadline", "[server][hostile]") {
  constexpr auto kHeader = 500ms;
  Harness h(with_timeouts({.header = kHeader}));
  require_ready(h);
  // Before the handshake: the first request's deadline runs from its end.
  const auto start = Clock::now();
  RawTls tls(h.port(), h.ca_file);
  REQUIRE(tls.handshake());
  SECTION("the first request") {}
  SECTION("the next request on a keep-alive connection") {
    const std::string review = kpo_review();
    REQUIRE(tls.send(post_head(review.size()) + review));
    const auto first = tls.read_response();
    REQUIRE(first);
    REQUIRE(first->status == 200);
    REQUIRE(first->keep_alive);
  }
  // 400 bytes of header, a byte per gap, would take ten seconds.
  const std::string header = std::string(kPostHead) + "X-Slow: " + std::string(400, 'a') + "\r\n\r\n";
  // The deadline runs from the handshake's end (first request) or the first byte (next
  // request), once: trickling does not start it again.
  check_cut_off(trickle(h, tls, header, start), header.size(), kHeader);
  check_still_served(h);
}

TEST_CASE("hostile: a body trickled a byte at a time is cut off by the body deadline", "[server][hostile]") {
  constexpr auto kBody = 500ms;
  Harness h(with_timeouts({.body = kBody}));
  require_ready(h);
  RawTls tls(h.port(), h.ca_file);
  REQUIRE(tls.handshake());
  const std::string review = kpo_review();
  // Taken before the header goes: the server's body deadline starts after it.
  const auto start = Clock::now();
  REQUIRE(tls.send(post_head(review.size())));
  check_cut_off(trickle(h, tls, review, start), review.size(), kBody);
  check_still_served(h);
}

TEST_CASE("hostile: a client that never reads its answers is cut off by the write deadline", "[server][hostile]") {
  constexpr auto kWrite = 500ms;  // the body timeout bounds each response write too
  Harness h(with_timeouts({.body = kWrite}));
  require_ready(h);
  RawTls tls(h.port(), h.ca_file);
  REQUIRE(tls.handshake());
  // Pipelined requests whose answers (the metrics page, each many KB) soon fill the socket
  // buffers, since nothing reads them (and ours is small): the server's write then waits,
  // and must give up.
  tls.socket().set_receive_buffer(4096);
  std::string requests;
  for (int i = 0; i < 2'000; ++i) requests += "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";
  const auto start = Clock::now();
  const bool all_sent = tls.send(requests, 5s);
  check_still_served(h);  // while the writes are stuck
  CHECK(tls.socket().hung_up(kWrite + 2 * kSlack));
  const auto closed_at = since(start);
  INFO("cut off after " << closed_at.count() << " ms" << (all_sent ? "" : " (not all requests were taken)"));
  CHECK(closed_at >= kWrite);
  check_still_served(h);
}

TEST_CASE(
    "hostile: thousands of idle connections: the excess is closed at once, the rest by the timeouts, "
    "and reviews keep being served",
    "[server][hostile]") {
  constexpr std::size_t kTls = 20;     // handshake done, then silent: the header timeout
  constexpr std::size_t kTcp = 2'980;  // not even a ClientHello: the handshake timeout
  constexpr std::size_t kBurst = 500;  // TCP connections opened at once, a review between bursts
  constexpr std::size_t kMax = 2'000;  // --max-connections, the good connection included
  constexpr auto kTimeout = 6s;        // long enough to open them all before any times out
  constexpr std::size_t kAll = kTls + kTcp;
  // Both ends of every connection are in this process.
  if (!allow_open_files(2 * kAll + 200)) {
    WARN("skipped: the hard limit on open files is below " << 2 * kAll + 200);
    return;
  }
  Harness h(configured([&](server::ServerOptions& o) {
    o.max_connections = kMax;
    o.handshake_timeout = kTimeout;
    o.header_timeout = kTimeout;
    o.idle_timeout = 60s;
  }));
  require_ready(h);
  auto good = h.client();  // an API server's keep-alive connection, open before the flood
  REQUIRE(patched(good));
  // The readiness probes' connections are gone, so the flood meets exactly one open.
  REQUIRE(eventually([&] { return gauge(h, "avw_connections_open") == 1.0; }, 5s));
  const std::uint64_t handled_before =
      counter(h, "avw_connections_accepted_total") + counter(h, "avw_connections_rejected_total");

  std::vector<std::chrono::milliseconds> latencies;  // of the reviews on `good`, all along
  bool all_patched = true;
  auto review = [&] {
    const auto t = Clock::now();
    all_patched = patched(good) && all_patched;
    latencies.push_back(since(t));
  };

  // Every connection with the time it was made, and the time we saw it closed.
  struct Idle {
    std::unique_ptr<RawTls> tls;
    std::optional<RawSocket> tcp;
    Clock::time_point opened;
    std::optional<std::chrono::milliseconds> lived;
    bool closed() {
      if (!lived && (tls ? tls->wait_closed(0ms) : tcp->wait_closed(0ms))) lived = since(opened);
      return lived.has_value();
    }
  };
  std::vector<Idle> idle;
  idle.reserve(kAll);
  // Closes are seen as they come, during the flood too; how long each lived is only reported.
  double most_open = 0;
  auto sweep = [&] {
    std::size_t closed = 0;
    for (Idle& c : idle) closed += static_cast<std::size_t>(c.closed());
    most_open = std::max(most_open, gauge(h, "avw_connections_open"));
    return closed;
  };
  const RssGrowth rss;
  const auto start = Clock::now();
  bool handshakes_ok = true;
  for (std::size_t i = 0; i < kTls; ++i) {
    const auto opened = Clock::now();
    auto tls = std::make_unique<RawTls>(h.port(), h.ca_file);
    handshakes_ok = tls->handshake() && handshakes_ok;
    idle.push_back({std::move(tls), std::nullopt, opened, std::nullopt});
  }
  while (idle.size() < kAll) {
    const auto opened = Clock::now();
    for (RawSocket& s : RawSocket::open_many(h.port(), std::min(kBurst, kAll - idle.size()))) {
      idle.push_back({nullptr, std::move(s), opened, std::nullopt});
    }
    sweep();
    review();  // while the server accepts, handshakes, refuses
  }
  const auto last_opened = Clock::now();
  const bool all_handled = eventually(
      [&] {
        sweep();
        return counter(h, "avw_connections_accepted_total") + counter(h, "avw_connections_rejected_total") >=
               handled_before + kAll;
      },
      4 * kSlack);
  const auto opened_in = since(start);
  const long rss_full_kib = rss.kib();
  REQUIRE(handshakes_ok);
  REQUIRE(all_handled);

  // Until every idle connection is closed, reviews keep coming on the good one. The deadline
  // only guards against a hang.
  const auto guard = last_opened + kTimeout + 4 * kSlack;
  std::size_t closed = 0;
  while ((closed = sweep()) < kAll && Clock::now() < guard) review();
  std::chrono::milliseconds longest{0};
  for (Idle& c : idle) longest = std::max(longest, c.lived.value_or(longest));
  std::sort(latencies.begin(), latencies.end());
  REQUIRE_FALSE(latencies.empty());
  INFO(kAll << " connections opened in " << opened_in.count() << " ms, RSS grew " << rss_full_kib / 1024 << " MiB, "
            << "the longest lived " << longest.count() << " ms; " << latencies.size()
            << " reviews served meanwhile, median " << latencies[latencies.size() / 2].count() << " ms, worst "
            << latencies.back().count() << " ms");
  CHECK(closed == kAll);
  CHECK(most_open <= static_cast<double>(kMax));
  // Each was refused at once or closed by its timeout, and the counters say which: only TCP
  // ones were refused (the TLS ones came first, under the limit), every other TCP one failed
  // its handshake (counted as its session ends, just after the close the client saw). A
  // refusal needs kMax open, so there are never more than the excess.
  const std::uint64_t refused = counter(h, "avw_connections_rejected_total");
  CHECK(eventually([&] { return refused + counter(h, "avw_tls_handshake_failures_total") == kTcp; }, 4 * kSlack));
  CHECK(refused <= kAll + 1 - kMax);
  CHECK(eventually([&] { return gauge(h, "avw_connections_open") == 1.0; }, 5s));  // the good one
  CHECK(all_patched);
  CHECK(patched(good));
  check_still_served(h);
}
