// Routing and request handling, free of Boost: the session hands over a parsed request and
// gets the reply to write. Runs on a worker thread; reads the worker's snapshot.
//
// Routes: POST /mutate, POST /audit, GET (or HEAD) /healthz, /readyz, /metrics. The query
// string is ignored (the API server calls `/mutate?timeout=10s`). Errors are JSON
// `{"error":"..."}`: 404 unknown path, 405 wrong method (with Allow), 415 a body that is not
// application/json, 400 a malformed AdmissionReview, 413 (from the session) a body over the
// limit, 500 an internal failure.
#pragma once

#include <atomic>
#include <string>
#include <string_view>

#include "avw/core/admission.hpp"
#include "avw/core/store.hpp"
#include "avw/server/server.hpp"
#include "server_metrics.hpp"

namespace avw::server {

enum class Method : std::uint8_t { Get, Head, Post, Other };

struct HttpRequest {
  Method method = Method::Other;
  std::string_view target;        // path and query
  std::string_view content_type;  // empty when absent
  core::PaddedBody body;
};

struct HttpReply {
  unsigned status = 200;
  std::string_view content_type = "application/json";
  std::string body;
  std::string_view allow;                      // for 405
  metrics::Histogram* latency = nullptr;       // observed by the session once written
};

class Handler {
 public:
  Handler(const ServerOptions& options, ServerMetrics& metrics, const std::atomic<bool>& ready,
          const TaskPodObserver& task_pods);

  /// `parser` is the calling worker's: it decodes this request's review, if any.
  void handle(const HttpRequest& request, const core::Snapshot& snapshot, core::ReviewParser& parser,
              HttpReply& reply) const;
  /// An error reply ({"error": message}) counted in avw_http_errors_total.
  void error(unsigned status, std::string_view message, HttpReply& reply) const;

 private:
  void admission(AdmissionPath path, const HttpRequest& request, const core::Snapshot& snapshot,
                 core::ReviewParser& parser, HttpReply& reply) const;

  const ServerOptions& options_;
  ServerMetrics& metrics_;
  const std::atomic<bool>& ready_;
  const TaskPodObserver& task_pods_;
};

/// True for `application/json`, with any parameters (`; charset=utf-8`), in any case.
bool is_json_content_type(std::string_view content_type);

}  // namespace avw::server
