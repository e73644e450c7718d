#include "session.hpp"

#include <boost/asio/ssl/error.hpp>
#include <boost/beast/http/error.hpp>
#include <spdlog/spdlog.h>

#include <string>

#include "logfmt.hpp"

namespace avw::server {
namespace http = beast::http;
namespace ssl = boost::asio::ssl;

namespace {

Method method_of(http::verb v) {
  switch (v) {
    case http::verb::get: return Method::Get;
    case http::verb::head: return Method::Head;
    case http::verb::post: return Method::Post;
    default: return Method::Other;
  }
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

bool refusal(const beast::error_code& ec, const WorkerState& worker, HttpReply& reply) {
  const Handler& handler = worker.handler;
  if (ec == http::error::body_limit) {
    // The parser refuses a Content-Length over the limit as soon as it sees it.
    handler.error(413, "request body is over the limit of " + std::to_string(worker.options.max_request_bytes) + " bytes",
                  reply);
  } else if (ec == http::error::buffer_overflow) {
    handler.error(400, "bad request: a chunk header or the trailer is over " +
                           std::to_string(session_limits::kBuffer) + " bytes",
                  reply);
  } else if (ec == http::error::header_limit) {
    handler.error(431, "bad request: " + ec.message(), reply);
  } else if (ec.category() == beast::error_code(http::error::bad_method).category() &&
             ec != http::error::end_of_stream && ec != http::error::partial_message) {
    handler.error(400, "bad request: " + ec.message(), reply);
  } else {
    return false;
  }
  return true;
}

Response make_response(HttpReply&& reply, unsigned version, bool keep_alive, bool head) {
  Response response{static_cast<http::status>(reply.status), version};
  response.set(http::field::content_type, reply.content_type);
  if (!reply.allow.empty()) response.set(http::field::allow, reply.allow);
  response.body() = std::move(reply.body);
  response.prepare_payload();
  response.keep_alive(keep_alive);
  if (head) response.body().clear();  // Content-Length stays the GET answer's
  return response;
}

HttpRequest view_of(const Request& request) {
  return {method_of(request.method()), request.target(), request[http::field::content_type], request.body().padded()};
}

bool expects_continue(const Request& request) { return iequals(request[http::field::expect], "100-continue"); }

void log_connection_event(std::string_view what, const beast::error_code& ec) {
  if (!spdlog::should_log(spdlog::level::debug)) return;
  std::string line(what);
  append_field(line, "error", ec.message());
  spdlog::debug("{}", line);
}

boost::asio::awaitable<void> serve_tls(TlsStream& stream, WorkerState& worker, Connection& connection) {
  expires_after(stream, worker.options.handshake_timeout);
  if (auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, async::use_nothrow_awaitable); ec) {
    worker.metrics.tls_handshake_failures.inc();
    log_connection_event("TLS handshake failed", ec);
    co_return;
  }
  if (co_await serve(stream, worker, connection) == Ending::Graceful) {
    // The client has its answers; its close_notify in return is not waited for long.
    expires_after(stream, std::chrono::seconds(2));
    co_await stream.async_shutdown(async::use_nothrow_awaitable);
  }
}

}  // namespace avw::server
