// The listener, the workers and the HTTPS sessions. This is the one translation unit that
// sees Beast, Asio and OpenSSL together (it is slow to compile: keep it the only one).
#include "avw/server/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <list>
#include <thread>
#include <tuple>
#include <vector>

#include "avw/async/async.hpp"
#include "avw/metrics/metrics.hpp"
#include "handler.hpp"
#include "logfmt.hpp"
#include "server_metrics.hpp"
#include "tls.hpp"
#include "tls_stream.hpp"

namespace avw::server {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

using avw::async::use_nothrow_awaitable;

using Executor = net::io_context::executor_type;
using WorkerSocket = TlsStream::Socket;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadChunk = 16 * 1024;
// The read that waits for a request asks for a header's worth: the body behind it is then
// read straight into its own buffer (read_body), where a 16 KiB read brought the first 16 KiB
// of a large body into `buffer` to be copied again: 474k -> 455k instructions per 40 KB
// review, the KPO pod's (6.7 KB) 151.0k -> 151.4k (scripts/bench --instructions).
constexpr std::size_t kIdleRead = 4 * 1024;
constexpr std::uint32_t kHeaderLimit = 16 * 1024;
// The bytes read but not parsed yet: a header, or a line of chunk framing, plus one read.
// Beast's parser waits for a whole chunk header line and for the whole trailer with no limit
// of its own, so without this bound a chunk extension or a trailer that never ends would be
// buffered until the body timeout (100 MiB of it from one client in a test).
constexpr std::size_t kBufferLimit = kHeaderLimit + kReadChunk;
// The body buffer a connection keeps for its next request: a typical review's (a few KiB),
// not a big one's, or idle keep-alive connections each hold MiBs until their idle timeout
// (40 of them after a 3 MiB review each held 140 MiB in a test).
constexpr std::size_t kKeptBodyCapacity = 64 * 1024;
// Bounds the wait for the client's close_notify after ours, and the draining of a request
// body we refused; the client has its answer by then.
constexpr std::chrono::seconds kCloseTimeout{2};

// co_spawn's `detached` would swallow an exception silently (Asio 1.26): log it instead.
auto log_completion(std::string_view what) {
  return [what](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("{} failed: {}", what, ex.what());
    }
  };
}

// How a connection ends. Graceful: we decided to close after a complete exchange (or an idle
// connection during shutdown): send close_notify. Linger: a request was refused before its
// body was read: drain what the client is still sending so it reads our answer instead of a
// reset. Abort: the peer left, timed out or broke the protocol: just close.
enum class Ending { Graceful, Linger, Abort };

// A request the parser refused (as opposed to the connection going away).
bool is_protocol_error(const boost::system::error_code& ec) {
  const boost::system::error_code http_error = http::error::bad_method;
  return ec.category() == http_error.category() && ec != http::error::end_of_stream &&
         ec != http::error::partial_message;
}

Method method_of(http::verb v) {
  switch (v) {
    case http::verb::get: return Method::Get;
    case http::verb::post: return Method::Post;
    default: return Method::Other;
  }
}

// Connection-level events: debug only (they are counted in the metrics). A connection the
// sweep closed says so: its operation only saw its socket closed.
void log_connection_event(std::string_view what, bool timed_out, const boost::system::error_code& ec) {
  if (!spdlog::should_log(spdlog::level::debug)) return;
  std::string line(what);
  append_field(line, "error", timed_out ? std::string("timed out") : ec.message());
  spdlog::debug("{}", line);
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// The request body type: Beast's string_body zero-fills each piece before copying into it,
// and the decoder would then copy the whole body again to pad it. This appends once, into a
// buffer the decoder reads where it lies; a Content-Length (already checked against the
// limit by the parser) is reserved up front.
struct ReviewBody {
  using value_type = core::ReviewBuffer;

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(http::header<isRequest, Fields>&, value_type& body) : body_(body) {}

    void init(const boost::optional<std::uint64_t>& length, beast::error_code& ec) {
      if (length) body_.reserve(static_cast<std::size_t>(*length));
      ec = {};
    }
    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
      std::size_t n = 0;
      for (const net::const_buffer b : beast::buffers_range_ref(buffers)) {
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

// `HTTP/1.1 200 OK\r\n`, in the request's version as Beast answered it.
void append_status_line(std::string& out, unsigned version, unsigned status) {
  out += "HTTP/";
  out += static_cast<char>('0' + version / 10 % 10);
  out += '.';
  out += static_cast<char>('0' + version % 10);
  out += ' ';
  out += std::to_string(status);
  out += ' ';
  const auto reason = http::obsolete_reason(static_cast<http::status>(status));
  out.append(reason.data(), reason.size());
  out += "\r\n";
}

// The head of a response: the fields Beast wrote for it, with its keep-alive rules (a 1.1
// connection that ends says `close`, a 1.0 one that stays says `keep-alive`).
void append_response_head(std::string& out, unsigned version, const HttpReply& reply, bool keep_alive) {
  append_status_line(out, version, reply.status);
  out += "Content-Type: ";
  out += reply.content_type;
  if (!reply.allow.empty()) {
    out += "\r\nAllow: ";
    out += reply.allow;
  }
  out += "\r\nContent-Length: ";
  out += std::to_string(reply.body.size());
  if (version >= 11 && !keep_alive) out += "\r\nConnection: close";
  if (version < 11 && keep_alive) out += "\r\nConnection: keep-alive";
  out += "\r\n\r\n";
}

}  // namespace

// A connection as its worker sees it: shutdown closes the idle ones, and the worker's sweep
// closes the socket of one past its deadline (its pending operation then fails). One deadline
// per phase, set by the session as it enters it, instead of a timer per read and write:
// those cost 1.3 to 1.5 timerfd_settime(2) per request (perf stat), the sweep a few a second.
struct Connection {
  explicit Connection(WorkerSocket& s) : socket(&s) {}
  WorkerSocket* socket;
  bool idle = false;
  bool timed_out = false;
  Clock::time_point deadline = Clock::time_point::max();

  void expires_after(std::chrono::milliseconds timeout) { deadline = Clock::now() + timeout; }
  void expires_at(Clock::time_point at) { deadline = at; }
};

struct Worker {
  explicit Worker(std::size_t i) : index(i) {}
  // Members go in reverse order, so the timer is gone when the context destroys the
  // frames of sessions that never finished; they must not touch it then.
  ~Worker() { destroying = true; }

  std::size_t index;
  bool destroying = false;
  // Declared before the context: sessions destroyed with the context still unregister here.
  std::list<Connection> connections;
  std::shared_ptr<const core::Snapshot> snapshot = core::Snapshot::empty();
  core::ReviewParser parser;  // the worker's sessions take turns: an admission never awaits
  bool stopping = false;
  Clock::time_point drain_deadline;
  bool sweeping = false;  // sweep_timer is armed
  net::io_context context{1};
  net::steady_timer drain_timer{context};
  net::steady_timer sweep_timer{context};
  net::executor_work_guard<Executor> guard{context.get_executor()};
  std::thread thread;
};

struct Server::Impl {
  Impl(ServerOptions opts, metrics::Registry& registry)
      : options(std::move(opts)),
        metrics(registry),
        handler(options, metrics, ready),
        acceptor(control),
        signals(control),
        housekeeping(control),
        shutdown_deadline(control),
        last_resort(control),
        watcher(TlsFiles{options.tls_cert, options.tls_key, options.client_ca}) {
    try {
      tls = make_tls_context(watcher.files());
    } catch (const std::exception& e) {
      throw StartupError(e.what());
    }
    boost::system::error_code ec;
    const auto address = net::ip::make_address(options.listen_host, ec);
    if (ec) throw StartupError("invalid listen address " + options.listen_host + ": " + ec.message());
    const tcp::endpoint endpoint(address, options.listen_port);
    const std::string where = options.listen_host + ":" + std::to_string(options.listen_port);
    if (acceptor.open(endpoint.protocol(), ec); ec) throw StartupError("cannot open " + where + ": " + ec.message());
    acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (acceptor.bind(endpoint, ec); ec) throw StartupError("cannot bind " + where + ": " + ec.message());
    if (acceptor.listen(net::socket_base::max_listen_connections, ec); ec) {
      throw StartupError("cannot listen on " + where + ": " + ec.message());
    }
    bound_port = acceptor.local_endpoint(ec).port();
    const unsigned n = options.threads != 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < n; ++i) workers.push_back(std::make_unique<Worker>(i));
  }

  ServerOptions options;
  ServerMetrics metrics;
  std::atomic<bool> ready{false};
  std::atomic<std::size_t> open_connections{0};
  std::uint16_t bound_port = 0;
  Handler handler;
  // Destroyed after the control context (which may still hold an accepted socket of a worker
  // in a completion that never ran) and before everything sessions touch.
  std::vector<std::unique_ptr<Worker>> workers;
  net::io_context control{1};
  tcp::acceptor acceptor;
  net::signal_set signals;
  net::steady_timer housekeeping;
  net::steady_timer shutdown_deadline;
  net::steady_timer last_resort;
  TlsWatcher watcher;
  std::shared_ptr<ssl::context> tls;  // the current context; sessions keep the one they got
  source::RecommendationSource* source = nullptr;
  bool shutting_down = false;  // control thread only
  std::size_t workers_running = 0;

  // ---- control context -------------------------------------------------------------

  void publish(std::shared_ptr<const core::Snapshot> snapshot) {
    metrics.store_vpas.set(static_cast<double>(snapshot->vpa_count()));
    metrics.store_targets.set(static_cast<double>(snapshot->target_count()));
    metrics.store_limit_ranges.set(static_cast<double>(snapshot->limit_range_count()));
    metrics.store_checkpoints.set(static_cast<double>(snapshot->checkpoint_count()));
    for (auto& w : workers) {
      net::post(w->context, [this, worker = w.get(), snapshot] {
        auto old = std::exchange(worker->snapshot, snapshot);
        // The last reference to a big snapshot is freed on the control thread, not here.
        net::post(control, [old = std::move(old)] {});
      });
    }
    if (!shutting_down) set_ready(true);
  }

  void set_ready(bool value) {
    ready.store(value);
    metrics.ready.set(value ? 1.0 : 0.0);
  }

  void tick() {
    if (watcher.changed()) {
      try {
        tls = make_tls_context(watcher.files());
        metrics.tls_reloads_ok.inc();
        spdlog::info("TLS certificate reloaded cert={}", options.tls_cert);
      } catch (const std::exception& e) {
        metrics.tls_reloads_failed.inc();
        std::string line = "TLS reload failed, keeping the previous certificate";
        append_field(line, "error", e.what());
        spdlog::error("{}", line);
      }
    }
    if (source != nullptr) {
      if (const auto last = source->last_sync()) {
        const std::chrono::duration<double> age = std::chrono::system_clock::now() - *last;
        metrics.store_age_seconds.set(std::max(0.0, age.count()));
      }
      if (source->synced() && !shutting_down && !ready.load()) set_ready(true);
    }
  }

  void schedule_tick() {
    housekeeping.expires_after(options.tls_poll_interval);
    housekeeping.async_wait([this](const boost::system::error_code& ec) {
      if (ec || shutting_down) return;
      tick();
      schedule_tick();
    });
  }

  void wait_signal() {
    signals.async_wait([this](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      spdlog::info("received signal {}", signal == SIGTERM ? "SIGTERM" : signal == SIGINT ? "SIGINT" : "?");
      begin_shutdown();
      wait_signal();
    });
  }

  net::awaitable<void> accept_loop() {
    std::size_t next = 0;
    for (;;) {
      Worker& w = *workers[next++ % workers.size()];
      auto [ec, socket] = co_await acceptor.async_accept(w.context, use_nothrow_awaitable);
      if (ec) {
        if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
        // Out of file descriptors and the like: wait a little instead of spinning.
        std::string line = "accept failed";
        append_field(line, "error", ec.message());
        spdlog::warn("{}", line);
        net::steady_timer pause(control, std::chrono::milliseconds(100));
        co_await pause.async_wait(use_nothrow_awaitable);
        continue;
      }
      if (open_connections.load() >= options.max_connections) {
        metrics.connections_rejected.inc();
        spdlog::debug("connection rejected: {} connections open", options.max_connections);
        socket.close(ec);
        continue;
      }
      // Each response leaves in one write, so Nagle has nothing to merge. It only held
      // answers back: OpenSSL writes the two TLS 1.3 session tickets one by one after the
      // handshake, and the second and the first answer waited for the client's delayed ACK
      // of the first (40 ms).
      socket.set_option(tcp::no_delay(true), ec);
      open_connections.fetch_add(1);
      metrics.connections_open.add(1);
      metrics.connections_accepted.inc();
      net::co_spawn(w.context, session(std::move(socket), tls, &w), log_completion("session"));
    }
  }

  void begin_shutdown() {
    if (shutting_down) {
      spdlog::warn("second shutdown request: closing all connections now");
      force_stop();
      return;
    }
    shutting_down = true;
    set_ready(false);
    spdlog::info("shutting down: not ready, no new connections, finishing requests in flight (at most {} ms)",
                 options.shutdown_timeout.count());
    boost::system::error_code ec;
    acceptor.close(ec);
    housekeeping.cancel();
    if (source != nullptr) source->stop();
    for (auto& w : workers) net::post(w->context, [this, worker = w.get()] { drain(*worker); });
    shutdown_deadline.expires_after(options.shutdown_timeout);
    shutdown_deadline.async_wait([this](const boost::system::error_code& e) {
      if (e) return;
      spdlog::warn("shutdown timeout: closing {} connections still open", open_connections.load());
      force_stop();
    });
  }

  // Closes every connection (their sessions end at once), and stops any worker loop that
  // still has not returned a second later.
  void force_stop() {
    for (auto& w : workers) {
      net::post(w->context, [worker = w.get()] {
        boost::system::error_code ignored;
        for (Connection& c : worker->connections) c.socket->close(ignored);
      });
    }
    last_resort.expires_after(std::chrono::seconds(1));
    last_resort.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      spdlog::warn("workers still busy after closing their connections: stopping them");
      for (auto& w : workers) w->context.stop();
    });
  }

  void worker_exited() {
    if (--workers_running != 0) return;
    shutdown_deadline.cancel();
    last_resort.cancel();
    signals.cancel();
    control.stop();
  }

  // ---- worker contexts --------------------------------------------------------------

  // A deadline is enforced at most one interval late, never early: a tenth of the shortest
  // phase timeout, at most 100 ms (10 wake-ups a second per worker with connections open).
  std::chrono::milliseconds sweep_interval() const {
    const auto shortest =
        std::min({options.handshake_timeout, options.header_timeout, options.body_timeout, options.idle_timeout});
    return std::clamp(shortest / 10, std::chrono::milliseconds(1), std::chrono::milliseconds(100));
  }

  // Runs while the worker has connections: closes the socket of each one past its deadline.
  void sweep(Worker& w) {
    w.sweeping = true;
    w.sweep_timer.expires_after(sweep_interval());
    w.sweep_timer.async_wait([this, &w](const boost::system::error_code& ec) {
      w.sweeping = false;
      if (ec) return;
      const auto now = Clock::now();
      boost::system::error_code ignored;
      for (Connection& c : w.connections) {
        if (!c.timed_out && now >= c.deadline) {
          c.timed_out = true;
          c.socket->close(ignored);
        }
      }
      if (!w.connections.empty()) sweep(w);
    });
  }

  // Runs on the worker: from now on every response says `Connection: close`; connections
  // waiting for a request get a short grace for one already on its way, then are closed.
  void drain(Worker& w) {
    w.stopping = true;
    w.drain_deadline = Clock::now() + options.shutdown_idle_grace;
    w.guard.reset();
    if (w.connections.empty()) return;
    w.drain_timer.expires_at(w.drain_deadline);
    w.drain_timer.async_wait([&w](const boost::system::error_code& ec) {
      if (ec) return;
      boost::system::error_code ignored;
      for (Connection& c : w.connections) {
        if (c.idle) c.socket->cancel(ignored);
      }
    });
  }

  // Writes `bytes` whole: as much as the socket takes at once, then (rarely: a full socket
  // buffer) the rest through the event loop.
  static net::awaitable<beast::error_code> write_all(TlsStream& stream, std::string_view bytes) {
    beast::error_code ec;
    while (!bytes.empty()) {
      bytes.remove_prefix(stream.try_write_some(net::buffer(bytes), ec));
      if (ec == net::error::would_block) {
        auto [wec, n] = co_await net::async_write(stream, net::buffer(bytes), use_nothrow_awaitable);
        co_return wec;
      }
      if (ec) co_return ec;
    }
    co_return ec;
  }

  // The response goes out as one buffer, head and body, formatted here: Beast's serializer
  // walked its header fields and body as a sequence of buffers, at 3 % of the server's CPU
  // for a 40 KB review (perf), to write what is always these few fields.
  net::awaitable<bool> write_reply(TlsStream& stream, Connection& connection, unsigned version,
                                   const HttpReply& reply, bool keep_alive, std::string& out) {
    out.clear();
    append_response_head(out, version, reply, keep_alive);
    out += reply.body;
    connection.expires_after(options.body_timeout);
    const auto ec = co_await write_all(stream, out);
    if (ec) log_connection_event("response write failed", connection.timed_out, ec);
    if (out.capacity() > kKeptBodyCapacity) std::string().swap(out);
    co_return !ec;
  }

  // A request's header. What the idle read brought is nearly always all of it: that is parsed
  // here, and Beast's reader (which reads on) runs only for the rest of a header that is not.
  static net::awaitable<beast::error_code> read_header(TlsStream& stream, beast::flat_buffer& buffer,
                                                       http::request_parser<ReviewBody>& parser) {
    beast::error_code ec;
    while (buffer.size() > 0 && !parser.is_header_done()) {
      const std::size_t used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec) co_return ec;
      if (used == 0) break;
    }
    if (parser.is_header_done()) co_return ec;
    auto [rec, n] = co_await http::async_read_header(stream, buffer, parser, use_nothrow_awaitable);
    co_return rec;
  }

  // The rest of a request after its header. A body framed by Content-Length is read from
  // TLS straight into its buffer, past Beast (which reads into `buffer` and copies from
  // there: every byte of a 40 KB pod twice); only what came with the header goes through the
  // parser, since `buffer` may hold the next request too. Chunked bodies are Beast's.
  static net::awaitable<beast::error_code> read_body(TlsStream& stream, beast::flat_buffer& buffer,
                                                     http::request_parser<ReviewBody>& parser) {
    if (!parser.content_length()) {
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_nothrow_awaitable);
      co_return ec;
    }
    beast::error_code ec;
    if (buffer.size() > 0) {
      buffer.consume(parser.put(buffer.data(), ec));
      if (ec) co_return ec;
    }
    if (parser.is_done()) co_return ec;
    std::uint64_t remaining = *parser.content_length_remaining();
    core::ReviewBuffer& body = parser.get().body();  // its reader reserved the whole length
    // What has arrived is read at once; only a wait for more goes through the event loop.
    while (remaining > 0) {
      const std::size_t before = body.size();
      const auto want = static_cast<std::size_t>(remaining);
      const net::mutable_buffer into(body.extend(want), want);
      std::size_t n = stream.try_read_some(into, ec);
      if (ec == net::error::would_block) std::tie(ec, n) = co_await stream.async_read_some(into, use_nothrow_awaitable);
      body.truncate(before + n);
      if (ec) co_return ec;
      remaining -= n;
    }
    co_return ec;
  }

  net::awaitable<void> session(WorkerSocket socket, std::shared_ptr<ssl::context> tls_context, Worker* worker) {
    struct Count {
      Impl& impl;
      ~Count() {
        impl.open_connections.fetch_sub(1);
        impl.metrics.connections_open.add(-1);
      }
    } count{*this};
    Worker& w = *worker;
    TlsStream stream(std::move(socket), *tls_context);
    WorkerSocket& transport = stream.socket();
    const auto me = w.connections.emplace(w.connections.end(), transport);
    struct Unregister {
      Worker& w;
      std::list<Connection>::iterator it;
      ~Unregister() {
        w.connections.erase(it);
        if (!w.destroying && w.stopping && w.connections.empty()) {
          w.drain_timer.cancel();
          w.sweep_timer.cancel();
        }
      }
    } unregister{w, me};
    if (!w.sweeping) sweep(w);

    me->expires_after(options.handshake_timeout);
    if (auto [ec] = co_await stream.async_handshake(use_nothrow_awaitable); ec) {
      metrics.tls_handshake_failures.inc();
      log_connection_event("TLS handshake failed", me->timed_out, ec);
      co_return;
    }

    beast::flat_buffer buffer(kBufferLimit);
    core::ReviewBuffer body_storage;  // keeps its capacity from one request to the next, up to a bound
    std::string out;                  // a response as written; the same
    bool first = true;
    Ending ending = Ending::Abort;
    for (;;) {
      // When the worker first sees this request: its latency counts the header and body reads
      // from here (a body that trickles is a slow admission to the API server too), not the
      // idle wait before it.
      Clock::time_point arrived;
      if (buffer.size() == 0) {
        // Waiting for the next request: the only state in which a connection is idle (the
        // drain's timer closes idle ones at its deadline). A request's header has
        // header_timeout from its first byte; the first request's from the handshake's end,
        // so trickling it cannot start its deadline twice.
        const auto now = Clock::now();
        if (w.stopping && w.drain_deadline <= now) {
          ending = Ending::Graceful;
          break;
        }
        const auto first_header_deadline = now + options.header_timeout;
        me->expires_at(first ? first_header_deadline : now + options.idle_timeout);
        me->idle = true;
        auto [ec, n] = co_await stream.async_read_some(buffer.prepare(kIdleRead), use_nothrow_awaitable);
        me->idle = false;
        arrived = options.duration_clock();
        if (ec) {
          // Cancelled by the drain: nothing was on its way, close cleanly.
          ending = (ec == net::error::operation_aborted && w.stopping && !me->timed_out) ? Ending::Graceful
                                                                                         : Ending::Abort;
          log_connection_event("connection closed while idle", me->timed_out, ec);
          break;
        }
        buffer.commit(n);
        me->expires_at(first ? first_header_deadline : Clock::now() + options.header_timeout);
      } else {
        // Pipelined: the next request is already here. It waits its turn behind the worker's
        // other connections (everything else of a request that has arrived runs without a
        // pause), so a client that pipelines cannot hold the worker for a buffer's worth.
        arrived = options.duration_clock();
        co_await net::post(w.context, net::use_awaitable);
        me->expires_after(options.header_timeout);  // it starts now
      }

      http::request_parser<ReviewBody> parser;
      parser.header_limit(kHeaderLimit);
      parser.body_limit(options.max_request_bytes);
      body_storage.clear();
      parser.get().body() = std::move(body_storage);

      HttpReply reply;
      if (auto ec = co_await read_header(stream, buffer, parser); ec) {
        if (!is_protocol_error(ec)) {
          log_connection_event("connection closed reading a request header", me->timed_out, ec);
          break;
        }
        if (ec == http::error::body_limit) {
          // The parser refuses a Content-Length over the limit as soon as it sees it.
          handler.error(413, "request body is over the limit of " + std::to_string(options.max_request_bytes) +
                                 " bytes",
                        reply);
        } else {
          handler.error(ec == http::error::header_limit ? 431 : 400, "bad request: " + ec.message(), reply);
        }
        if (co_await write_reply(stream, *me, 11, reply, false, out)) ending = Ending::Linger;
        break;
      }
      auto& request = parser.get();
      if (!parser.is_done()) {
        if (iequals(request[http::field::expect], "100-continue")) {
          out.clear();
          append_status_line(out, request.version(), 100);
          out += "\r\n";
          me->expires_after(options.body_timeout);
          if (co_await write_all(stream, out)) break;
        }
        me->expires_after(options.body_timeout);
        if (auto ec = co_await read_body(stream, buffer, parser); ec) {
          if (ec == http::error::body_limit) {
            handler.error(413, "request body is over the limit of " + std::to_string(options.max_request_bytes) +
                                   " bytes",
                          reply);
          } else if (ec == http::error::buffer_overflow) {
            handler.error(400, "bad request: a chunk header or the trailer is over " + std::to_string(kBufferLimit) +
                                   " bytes",
                          reply);
          } else if (is_protocol_error(ec)) {
            handler.error(400, "bad request: " + ec.message(), reply);
          } else {
            log_connection_event("connection closed reading a request body", me->timed_out, ec);
            break;
          }
          if (co_await write_reply(stream, *me, request.version(), reply, false, out)) ending = Ending::Linger;
          break;
        }
      }

      const HttpRequest view{method_of(request.method()), request.target(), request[http::field::content_type],
                             request.body().padded()};
      handler.handle(view, *w.snapshot, w.parser, reply);
      const bool keep_alive = request.keep_alive() && !w.stopping;
      metrics::Histogram* latency = reply.latency;
      const bool written = co_await write_reply(stream, *me, request.version(), reply, keep_alive, out);
      if (latency != nullptr) {
        latency->observe(std::chrono::duration<double>(options.duration_clock() - arrived).count());
      }
      if (!written) break;
      body_storage = std::move(request.body());
      if (body_storage.capacity() > kKeptBodyCapacity) body_storage.release();
      if (!keep_alive) {
        ending = Ending::Graceful;
        break;
      }
      first = false;
    }

    if (ending == Ending::Graceful) {
      me->expires_after(kCloseTimeout);
      co_await stream.async_shutdown(use_nothrow_awaitable);
    } else if (ending == Ending::Linger) {
      // Read and drop what the client still sends, until it closes or the bound runs out.
      me->expires_after(kCloseTimeout);
      for (;;) {
        buffer.clear();
        auto [ec, n] = co_await stream.async_read_some(buffer.prepare(kReadChunk), use_nothrow_awaitable);
        if (ec) break;
      }
    }
    boost::system::error_code ignored;
    transport.shutdown(tcp::socket::shutdown_both, ignored);
    transport.close(ignored);
  }
};

Server::Server(ServerOptions options, metrics::Registry& registry)
    : impl_(std::make_unique<Impl>(std::move(options), registry)) {}

Server::~Server() = default;

boost::asio::io_context& Server::control_context() { return impl_->control; }

std::uint16_t Server::port() const { return impl_->bound_port; }

void Server::run(source::RecommendationSource& source) {
  Impl& impl = *impl_;
  impl.source = &source;
  impl.workers_running = impl.workers.size();
  for (auto& w : impl.workers) {
    w->thread = std::thread([&impl, worker = w.get()] {
      try {
        worker->context.run();
      } catch (const std::exception& e) {
        spdlog::critical("worker {} stopped: {}", worker->index, e.what());
      }
      net::post(impl.control, [&impl] { impl.worker_exited(); });
    });
  }
  if (impl.options.handle_signals) {
    impl.signals.add(SIGTERM);
    impl.signals.add(SIGINT);
    impl.wait_signal();
  }
  net::co_spawn(impl.control, impl.accept_loop(), log_completion("acceptor"));
  impl.schedule_tick();
  source.start([&impl](std::shared_ptr<const core::Snapshot> snapshot) { impl.publish(std::move(snapshot)); });
  spdlog::info("listening address={}:{} workers={} mode={} max_connections={}", impl.options.listen_host, port(),
               impl.workers.size(), impl.options.dry_run ? "dry-run" : "enforce", impl.options.max_connections);
  impl.control.run();
  for (auto& w : impl.workers) {
    if (w->thread.joinable()) w->thread.join();
  }
  source.stop();
  spdlog::info("stopped");
}

void Server::request_shutdown() {
  net::post(impl_->control, [impl = impl_.get()] { impl->begin_shutdown(); });
}

}  // namespace avw::server
