// One HTTP/1.1 connection, after Beast's `http_server_awaitable` example: read a request,
// handle it, write the answer, until either side ends the connection. `serve` is a template
// on the stream so the same code runs on the real TLS stream and on `beast::test::stream`.
//
// Each phase has its own deadline, set on the lowest layer as the phase begins: the idle wait
// for the next request, the request header (from its first byte; the first request's from the
// handshake's end), the body, each write.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "avw/async/async.hpp"
#include "avw/core/admission.hpp"
#include "avw/core/store.hpp"
#include "avw/server/server.hpp"
#include "handler.hpp"
#include "server_metrics.hpp"

namespace avw::server {

namespace beast = boost::beast;

/// What the sessions of one worker share. Only that worker's thread touches it.
struct WorkerState {
  const ServerOptions& options;
  const Handler& handler;
  ServerMetrics& metrics;
  std::shared_ptr<const core::Snapshot> snapshot = core::Snapshot::empty();
  /// The worker's sessions take turns with it: an admission runs to its end without awaiting.
  core::ReviewParser parser{};
  /// Shutdown began: every answer says `Connection: close`, and idle connections close once
  /// `drain_deadline` has passed.
  bool stopping = false;
  std::chrono::steady_clock::time_point drain_deadline{};
};

/// A session as its worker's shutdown sees it.
struct Connection {
  /// Waiting for the next request: the shutdown may close it without losing one.
  bool idle = false;
  /// The real connection's socket layer (null on a test stream), closed by the shutdown.
  beast::tcp_stream* transport = nullptr;
};

/// How a connection ends. Graceful: we chose to close after a complete exchange (or an idle
/// connection during shutdown), so TLS sends close_notify. Abort: the peer left, timed out,
/// broke the protocol or was refused (its remaining bytes drained first): just close.
enum class Ending { Graceful, Abort };

/// The request body type: the body is appended once into a core::ReviewBuffer, which the
/// decoder reads where it lies (Beast's string_body would zero-fill it first, and the
/// decoder copy it again to pad it). A Content-Length, already checked against the limit
/// by the parser, is reserved up front.
struct ReviewBody {
  using value_type = core::ReviewBuffer;

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(beast::http::header<isRequest, Fields>&, value_type& body) : body_(body) {}

    void init(const boost::optional<std::uint64_t>& length, beast::error_code& ec) {
      if (length) body_.reserve(static_cast<std::size_t>(*length));
      ec = {};
    }
    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
      std::size_t n = 0;
      for (const boost::asio::const_buffer b : beast::buffers_range_ref(buffers)) {
        body_.append(static_cast<const char*>(b.data()), b.size());
        n += b.size();
      }
      ec = {};
      return n;
    }
    void finish(beast::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

using Request = beast::http::request<ReviewBody>;
using Response = beast::http::response<beast::http::string_body>;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

namespace session_limits {
constexpr std::uint32_t kHeader = 16 * 1024;
// The bytes read but not parsed yet: a header, or a line of chunk framing, plus one read.
// Beast's parser waits for a whole chunk header line and for the whole trailer with no limit
// of its own; this bound makes one that never ends a 400 instead of memory held until the
// body timeout.
constexpr std::size_t kBuffer = kHeader + 16 * 1024;
// The read that waits for a request asks for a header's worth.
constexpr std::size_t kIdleRead = 4 * 1024;
// The body buffer a connection keeps for its next request: a typical review's, not a big
// one's, or idle keep-alive connections would each hold megabytes until their idle timeout.
constexpr std::size_t kKeptBody = 64 * 1024;
}  // namespace session_limits

/// The answer for a request the parser refused, or false when `ec` is the connection going
/// away (end of stream, a timeout, a reset) rather than a request to answer.
bool refusal(const beast::error_code& ec, const WorkerState& worker, HttpReply& reply);
/// The response to write for `reply`; a HEAD request gets the head of the GET answer.
Response make_response(HttpReply&& reply, unsigned version, bool keep_alive, bool head);
/// A request as the handler sees it (views into `request`).
HttpRequest view_of(const Request& request);
/// `Expect: 100-continue` is asked for.
bool expects_continue(const Request& request);
/// Connection-level events go to debug only: they are counted in the metrics.
void log_connection_event(std::string_view what, const beast::error_code& ec);

/// Handshake, `serve`, then close_notify when the session ended gracefully.
boost::asio::awaitable<void> serve_tls(TlsStream& stream, WorkerState& worker, Connection& connection);

/// Sets the deadline of the phase that begins; a stream without timers (the test stream) has none.
template <class Stream>
void expires_after(Stream& stream, std::chrono::milliseconds timeout) {
  if constexpr (requires { beast::get_lowest_layer(stream).expires_after(timeout); }) {
    beast::get_lowest_layer(stream).expires_after(timeout);
  }
}

/// Writes `response` under the write deadline; false when the connection broke.
template <class Stream, class Body>
boost::asio::awaitable<bool> write(Stream& stream, const WorkerState& worker,
                                   beast::http::response<Body>& response) {
  expires_after(stream, worker.options.body_timeout);
  auto [ec, n] = co_await beast::http::async_write(stream, response, async::use_nothrow_awaitable);
  if (ec) log_connection_event("response write failed", ec);
  co_return !ec;
}

/// After a refusal: reads and drops what the client still sends until it closes or the
/// deadline, so it reads our answer instead of a reset.
template <class Stream>
boost::asio::awaitable<void> linger(Stream& stream, beast::flat_buffer& buffer) {
  expires_after(stream, std::chrono::seconds(2));
  for (;;) {
    buffer.clear();
    auto [ec, n] = co_await stream.async_read_some(buffer.prepare(buffer.max_size()), async::use_nothrow_awaitable);
    if (ec) co_return;
  }
}

/// Serves requests on `stream` (handshake done) until the connection ends, and says how.
template <class Stream>
boost::asio::awaitable<Ending> serve(Stream& stream, WorkerState& worker, Connection& connection) {
  namespace http = beast::http;
  using async::use_nothrow_awaitable;
  const ServerOptions& options = worker.options;
  beast::flat_buffer buffer(session_limits::kBuffer);
  core::ReviewBuffer kept_body;  // its capacity serves the next request
  for (bool first = true;; first = false) {
    if (buffer.size() == 0) {
      // Idle: the one state the shutdown may close, once its grace for a request already on
      // its way has passed.
      if (worker.stopping && worker.drain_deadline <= std::chrono::steady_clock::now()) co_return Ending::Graceful;
      expires_after(stream, first ? options.header_timeout : options.idle_timeout);
      connection.idle = true;
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(session_limits::kIdleRead), use_nothrow_awaitable);
      connection.idle = false;
      if (ec) {
        log_connection_event("connection closed while idle", ec);
        co_return ec == boost::asio::error::operation_aborted && worker.stopping ? Ending::Graceful : Ending::Abort;
      }
      buffer.commit(n);
      if (!first) expires_after(stream, options.header_timeout);
    } else {
      // Pipelined: the next request is already here. It waits its turn behind the worker's
      // other connections, so a client that pipelines cannot hold the worker.
      co_await boost::asio::post(boost::asio::use_awaitable);
      expires_after(stream, options.header_timeout);
    }
    // A request's duration counts its header and body reads (a body that trickles is a slow
    // admission to the API server too), not the idle wait before it.
    const auto arrived = options.duration_clock();

    http::request_parser<ReviewBody> parser;
    parser.header_limit(session_limits::kHeader);
    parser.body_limit(options.max_request_bytes);
    kept_body.clear();
    parser.get().body() = std::move(kept_body);
    HttpReply reply;
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, use_nothrow_awaitable);
    if (!ec && !parser.is_done()) {
      if (expects_continue(parser.get())) {
        http::response<http::empty_body> go_on{http::status::continue_, parser.get().version()};
        if (!co_await write(stream, worker, go_on)) co_return Ending::Abort;
      }
      expires_after(stream, options.body_timeout);
      std::tie(ec, n) = co_await http::async_read(stream, buffer, parser, use_nothrow_awaitable);
    }
    if (ec) {
      if (!refusal(ec, worker, reply)) {
        log_connection_event("connection closed reading a request", ec);
        co_return Ending::Abort;
      }
      auto response = make_response(std::move(reply), parser.get().version(), false, false);
      if (co_await write(stream, worker, response)) co_await linger(stream, buffer);
      co_return Ending::Abort;
    }

    Request& request = parser.get();
    worker.handler.handle(view_of(request), *worker.snapshot, worker.parser, reply);
    const bool keep_alive = request.keep_alive() && !worker.stopping;
    metrics::Histogram* latency = reply.latency;
    auto response =
        make_response(std::move(reply), request.version(), keep_alive, request.method() == http::verb::head);
    const bool written = co_await write(stream, worker, response);
    if (latency != nullptr) {
      latency->observe(std::chrono::duration<double>(options.duration_clock() - arrived).count());
    }
    if (!written) co_return Ending::Abort;
    if (!keep_alive) co_return Ending::Graceful;
    kept_body = std::move(request.body());
    if (kept_body.capacity() > session_limits::kKeptBody) kept_body.release();
  }
}

}  // namespace avw::server
