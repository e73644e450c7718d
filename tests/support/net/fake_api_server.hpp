// File: fake_api_server.hpp
//
// An in-process Kubernetes API server for the kube edge's integration tests. It speaks the
// protocol the captured fixtures show (tests/fixtures/README.md): HTTPS with a CA made in
// process, bearer tokens, paginated lists (`limit`, `continue`, list `resourceVersion`),
// chunked watches with one JSON event per chunk ending in "\n", BOOKMARK events, a 410
// Expired as an ERROR event inside a 200 stream, and Status bodies for errors.
// Writes, as the provisioner makes them: POST creates (201 with a uid and creationTimestamp,
// 409 AlreadyExists), PATCH applies a merge patch to an object or its /status (409 Conflict
// when the patch carries a metadata.resourceVersion that is no longer the object's), DELETE
// honours preconditions (409 Conflict) and deletes the object's dependents (ownerReferences uid).
//
//   avw::test::FakeApiServer api;                 // 127.0.0.1, port 0, seeded from fixtures
//   config.server = api.url(); config.ca_data = api.ca_pem(); config.token = api.token();
//   api.upsert("verticalpodautoscalers", make_vpa("airflow", "x", "x", "100m", "64Mi"));
//
// It runs on its own io_context thread. Every public method is thread-safe: it runs on the
// server's thread and returns when done, so a test's mutation is visible to the next request.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace avw::test {

/// A PEM certificate and its private key.
struct PemPair {
  std::string cert;
  std::string key;
};

class FakeApiServer {
 public:
  struct Options {
    /// Serve the fixtures' VPAs, AirflowTasks, LimitRanges and checkpoints.
    bool seed_fixtures = true;
    /// Events kept for watches that resume; older resourceVersions get 410 Expired.
    std::size_t history = 100'000;
  };

  FakeApiServer();
  explicit FakeApiServer(Options options);
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  std::string url() const;  // "https://127.0.0.1:<port>"
  std::string ca_pem() const;
  std::uint16_t port() const;

  // ---- authentication ----
  std::string token() const;
  /// Requests must carry `Authorization: Bearer <token>` from now on (open watches go on).
  void set_token(std::string token);
  /// A client certificate signed by the server's CA (accepted instead of a token).
  PemPair issue_client_certificate(std::string_view common_name);

  // ---- objects (plural: "verticalpodautoscalers", "airflowtasks", "limitranges",
  //      "verticalpodautoscalercheckpoints") ----
  /// Adds or replaces an object (JSON with metadata.namespace and .name): a new global
  /// resourceVersion, an ADDED or MODIFIED event. Returns the resourceVersion.
  std::string upsert(std::string_view plural, std::string_view object_json);
  /// The same, but watchers are not told (the event only enters the history): the change is
  /// seen only by a client that lists again or resumes from an older resourceVersion.
  std::string upsert_silently(std::string_view plural, std::string_view object_json);
  /// Seeds many objects at once (no watcher is told), e.g. for a measurement.
  void upsert_many(std::string_view plural, const std::vector<std::string>& objects);
  /// Deletes an object (DELETED event with its last state). False when it did not exist.
  bool remove(std::string_view plural, std::string_view namespace_, std::string_view name);
  /// The stored object, or nullopt.
  std::optional<std::string> get(std::string_view plural, std::string_view namespace_,
                                 std::string_view name) const;
  std::string resource_version() const;
  std::size_t object_count(std::string_view plural) const;

  // ---- watch behaviour ----
  /// Sends a BOOKMARK with the current resourceVersion to every watch that asked for them.
  void bookmark();
  /// Forgets the event history: resourceVersions before now are "too old". Open watches get
  /// the ERROR 410 event and end (as the watch cache does), or, with `drop_watches`, are
  /// simply cut, so the client finds out when it resumes.
  void compact(bool drop_watches = false);
  /// The next event written to a watch is cut after half its chunk and the connection closed.
  void drop_next_event_mid_chunk();
  /// Closes every open watch connection abruptly (no final chunk).
  void drop_watches();
  std::size_t open_watches() const;

  // ---- failures ----
  /// The next `count` requests (lists, watches, /scale) answer `status` with a Status body
  /// (the captured ones for 401 and 403).
  void fail_next(int status, int count);
  /// The next list request that carries a continue token answers 410 Expired.
  void expire_next_continue();
  /// A resource whose CRD is "not installed": its requests answer 404.
  void set_missing(std::string_view plural, bool missing);
  /// Stops listening and closes every connection (API server down: connections are refused,
  /// the port stays bound), or listens again on the same port. Pausing also ends a hang().
  void pause();
  void resume();
  /// Every request from now on (lists, watches, /scale, writes) answers `status` with a Status
  /// body, until fail_all(0). Watches already open go on: drop_watches() makes them resume
  /// into the failures.
  void fail_all(int status);
  /// While on, the server accepts connections but never answers: new connections get no TLS
  /// handshake, requests on open ones no response, open watches no more events. When it ends,
  /// everything held goes on where it stopped (late answers to clients that may have left).
  void hang(bool on);
  /// Every watch of `plural` (of anything for "") open now goes silent for good: no events, no
  /// end of the stream, as through a half-dead connection; it ends only when the client closes
  /// it. New watches are not affected. Returns how many watches were stalled.
  std::size_t stall_watches(std::string_view plural = "");

  // ---- /scale of other kinds ----
  /// GET /apis/<api_version>/namespaces/<ns>/<plural>/<name>/scale answers a Scale with this
  /// selector (api_version "v1" serves /api/v1/...).
  void set_scale(std::string_view api_version, std::string_view plural, std::string_view namespace_,
                 std::string_view name, std::string_view selector);

  // ---- observation ----
  /// Requests whose target contains `needle` (all requests for "").
  std::size_t requests(std::string_view needle = "") const;
  /// TCP connections accepted so far.
  std::size_t connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A VPA (updateMode Off) targeting AirflowTask `task` with a `base` container recommendation.
std::string make_vpa(std::string_view namespace_, std::string_view name, std::string_view task,
                     std::string_view cpu, std::string_view memory,
                     std::string_view creation_timestamp = "2026-11-23T17:09:07Z");
/// A VPA targeting any kind (e.g. "apps/v1", "Deployment", "web").
std::string make_vpa_for(std::string_view namespace_, std::string_view name, std::string_view api_version,
                         std::string_view kind, std::string_view target, std::string_view cpu,
                         std::string_view memory);
/// An AirflowTask whose /scale selector is `selector`.
std::string make_airflow_task(std::string_view namespace_, std::string_view name, std::string_view selector);

}  // namespace avw::test
