// File: client.hpp
//
// A small HTTPS client for the Kubernetes API: HTTP/1.1 over TLS (verified against the
// cluster CA, SNI), bearer token (re-read from its file when it rotates) or client
// certificate, JSON in and out.
//
//   kube::Client client(control_context, config);
//   kube::Response r = co_await client.request({"GET", "/api/v1/namespaces/airflow/limitranges"});
//   if (!r.ok()) spdlog::warn("{}", kube::describe(r));
//
// Plain requests reuse keep-alive connections; every watch gets a connection of its own,
// because a watch holds it for minutes. All calls run on the io_context given at
// construction (the control context); the Client must outlive every call in flight, and
// close() ends those calls promptly (they complete with an error).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <boost/asio/awaitable.hpp>

#include "avw/kube/config.hpp"

namespace boost::asio {
class io_context;
}

namespace avw::kube {

struct Request {
  // A constructor, not an aggregate: g++ 12 destroys a braced aggregate argument of a
  // coroutine twice (`co_await client.request({"GET", path})` crashed), a constructed one once.
  Request() = default;
  Request(std::string verb, std::string path, std::string json = {},
          std::string type = "application/json")
      : method(std::move(verb)), target(std::move(path)), body(std::move(json)),
        content_type(std::move(type)) {}

  std::string method = "GET";  // GET, POST, PUT, PATCH, DELETE
  std::string target;          // path and query, e.g. "/api/v1/limitranges?limit=500"
  std::string body;            // JSON; empty: no body
  /// For PATCH: "application/merge-patch+json", "application/json-patch+json" or
  /// "application/apply-patch+yaml".
  std::string content_type = "application/json";
};

struct Response {
  int status = 0;     // HTTP status; 0 when no response arrived
  std::string body;
  std::string error;  // why no response arrived (status 0)

  bool ok() const { return status >= 200 && status < 300; }
};

/// One line for logs: "403 Forbidden: <Status.message>" or the transport error.
std::string describe(const Response& response);

/// How a watch ended.
struct WatchResult {
  int status = 0;         // HTTP status of the response; 0 when none arrived
  std::string body;       // the body of a non-200 answer (a Status)
  std::string error;      // transport error, or empty
  bool completed = false;  // the server ended the stream cleanly (timeoutSeconds ran out)
  bool stopped = false;    // the line handler asked to stop
  std::size_t lines = 0;   // complete events delivered
};

/// Receives each complete event line; returns false to stop the watch.
using LineHandler = std::function<bool(std::string_view line)>;

class Client {
 public:
  /// Throws ConfigError when the server URL, CA or client certificate cannot be used.
  Client(boost::asio::io_context& context, ClusterConfig config, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// One request and its whole response. Never throws for I/O or HTTP errors.
  boost::asio::awaitable<Response> request(Request request);

  /// Streams a watch (`target` includes `watch=1`): each event line goes to `on_line` as it
  /// arrives. Ends when the server ends the stream, the connection drops, `deadline` passes
  /// (a stream the server should have ended by then is dead), `on_line` returns false, or
  /// close() is called. A line cut off by a dropped connection is never delivered.
  boost::asio::awaitable<WatchResult> watch(std::string target, LineHandler on_line,
                                            std::chrono::milliseconds deadline);

  /// Closes every connection; calls in flight end with an error, later calls fail at once.
  void close();

  const ClusterConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace avw::kube
