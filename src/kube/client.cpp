// The one Beast+OpenSSL translation unit of the kube edge (it takes ~30 s to compile); the
// list/watch logic in reflector.cpp sees only Client's small interface.
#include "avw/kube/client.hpp"

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <rapidjson/document.h>
#include <spdlog/spdlog.h>

#include "avw/async/async.hpp"
#include "avw/kube/watch_lines.hpp"

namespace avw::kube {
namespace {

namespace net = boost::asio;        // from <boost/asio.hpp>
namespace beast = boost::beast;     // from <boost/beast.hpp>
namespace http = beast::http;       // from <boost/beast/http.hpp>
namespace ssl = boost::asio::ssl;   // from <boost/asio/ssl.hpp>
namespace fs = std::filesystem;
using tcp = net::ip::tcp;

using avw::async::use_nothrow_awaitable;

using Stream = beast::ssl_stream<beast::tcp_stream>;

// An error body (a Status) is small; anything bigger is not worth keeping.
constexpr std::size_t kMaxErrorBody = std::size_t{1} << 20;

struct Connection {
  Connection(net::io_context& context, ssl::context& tls) : stream(context, tls) {}
  Stream stream;
  beast::flat_buffer buffer;
};

std::string read_file(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(std::string(what) + ": cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return std::move(out).str();
}

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

bool is_ip_address(const std::string& host) {
  boost::system::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

// A request whose answer was lost on a stale keep-alive connection may be sent again:
// the server closed the connection before reading it.
bool idempotent(http::verb v) {
  return v == http::verb::get || v == http::verb::head || v == http::verb::put ||
         v == http::verb::delete_;
}

// TLS errors carry OpenSSL's reason; Asio's message alone ("certificate verify failed") is
// what users need, so keep it short.
std::string io_error(std::string_view what, const boost::system::error_code& ec) {
  return std::string(what) + ": " + ec.message();
}

}  // namespace

struct Client::Impl {
  Impl(net::io_context& ctx, ClusterConfig cfg, ClientOptions opts)
      : context(ctx), config(std::move(cfg)), options(std::move(opts)),
        address(parse_server_url(config.server)) {
    const bool default_port = address.port == "443";
    const std::string host = is_ip_address(address.host) && address.host.find(':') != std::string::npos
                                 ? "[" + address.host + "]"
                                 : address.host;
    host_header = default_port ? host : host + ":" + address.port;
    verify_name = config.tls_server_name.empty() ? address.host : config.tls_server_name;
    configure_tls();
  }

  void configure_tls() {
    boost::system::error_code ec;
    tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (config.insecure_skip_tls_verify) {
      tls.set_verify_mode(ssl::verify_none);
    } else {
      tls.set_verify_mode(ssl::verify_peer);
      if (!config.ca_data.empty()) {
        tls.add_certificate_authority(net::buffer(config.ca_data), ec);
        if (ec) throw ConfigError("certificate-authority-data is not a PEM certificate: " + ec.message());
      } else if (!config.ca_file.empty()) {
        const std::string pem = read_file(config.ca_file, "certificate authority");
        tls.add_certificate_authority(net::buffer(pem), ec);
        if (ec) throw ConfigError("certificate authority " + config.ca_file + ": " + ec.message());
      } else {
        tls.set_default_verify_paths(ec);
        if (ec) throw ConfigError("cannot load the system trust store: " + ec.message());
      }
      tls.set_verify_callback(ssl::host_name_verification(verify_name));
    }
    std::string cert = config.client_cert_data;
    if (cert.empty() && !config.client_cert_file.empty()) {
      cert = read_file(config.client_cert_file, "client certificate");
    }
    std::string key = config.client_key_data;
    if (key.empty() && !config.client_key_file.empty()) key = read_file(config.client_key_file, "client key");
    if (!cert.empty()) {
      tls.use_certificate_chain(net::buffer(cert), ec);
      if (ec) throw ConfigError("client certificate is not a PEM certificate: " + ec.message());
      tls.use_private_key(net::buffer(key), ssl::context::pem, ec);
      if (ec) throw ConfigError("client key is not a PEM private key: " + ec.message());
    }
    if (config.token.empty() && !config.token_file.empty()) bearer_token(true);
  }

  // The token to send. A token file is re-read when it changes: projected service account
  // tokens are rotated by the kubelet about hourly, and the old one stops working.
  std::string bearer_token(bool force) {
    if (!config.token.empty() || config.token_file.empty()) return config.token;
    const auto now = std::chrono::steady_clock::now();
    std::error_code ec;
    const auto mtime = fs::last_write_time(config.token_file, ec);
    const bool stale = !token_loaded || (!ec && mtime != token_mtime) ||
                       now - token_read_at >= options.token_reload;
    if (force || stale) {
      std::ifstream in(config.token_file, std::ios::binary);
      std::ostringstream text;
      if (in) text << in.rdbuf();
      std::string fresh = in ? trim(std::move(text).str()) : std::string{};
      if (fresh.empty()) {
        // Keep the last good token: a rotation in progress may leave the file briefly empty.
        spdlog::warn("kube: cannot read the token file {}; keeping the previous token",
                     config.token_file);
      } else {
        if (token_loaded && fresh != token) spdlog::info("kube: token file {} changed", config.token_file);
        token = std::move(fresh);
        token_loaded = true;
      }
      token_mtime = ec ? fs::file_time_type{} : mtime;
      token_read_at = now;
    }
    return token;
  }

  http::request<http::string_body> make_request(http::verb verb, const Request& r,
                                                const std::string& bearer) const {
    http::request<http::string_body> req{verb, address.base_path + r.target, 11};
    req.set(http::field::host, host_header);
    req.set(http::field::user_agent, options.user_agent);
    req.set(http::field::accept, "application/json");
    if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
    if (!r.body.empty() || verb == http::verb::post || verb == http::verb::put ||
        verb == http::verb::patch) {
      req.set(http::field::content_type, r.content_type);
      req.body() = r.body;
    }
    req.keep_alive(true);
    req.prepare_payload();
    return req;
  }

  // Keeps the connection reachable from close() for as long as an operation uses it.
  struct Active {
    Active(Impl& i, Connection* c) : impl(i), conn(c) { impl.in_use.insert(conn); }
    ~Active() { impl.in_use.erase(conn); }
    Active(const Active&) = delete;
    Active& operator=(const Active&) = delete;
    Impl& impl;
    Connection* conn;
  };

  // A fresh TLS connection, or nullptr and why not.
  net::awaitable<std::pair<std::unique_ptr<Connection>, std::string>> connect() {
    auto conn = std::make_unique<Connection>(context, tls);
    tcp::resolver resolver(context);
    auto [rec, endpoints] =
        co_await resolver.async_resolve(address.host, address.port, use_nothrow_awaitable);
    if (rec) co_return std::pair{nullptr, io_error("resolve " + address.host, rec)};
    if (closed) co_return std::pair{nullptr, std::string("client closed")};
    Active active(*this, conn.get());
    auto& tcp_layer = beast::get_lowest_layer(conn->stream);
    tcp_layer.expires_after(options.connect_timeout);
    auto [cec, endpoint] = co_await tcp_layer.async_connect(endpoints, use_nothrow_awaitable);
    if (cec) co_return std::pair{nullptr, io_error("connect " + host_header, cec)};
    // A request leaves in as few writes as Beast makes; Nagle would hold the last of them
    // for the API server's delayed ACK. client-go turns it off too (Go's default).
    boost::system::error_code nec;
    tcp_layer.socket().set_option(tcp::no_delay(true), nec);
    // SNI only for names: RFC 6066 forbids IP literals in server_name.
    if (!is_ip_address(verify_name)) {
      SSL_ctrl(conn->stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(verify_name.c_str()));
    }
    auto [hec] = co_await conn->stream.async_handshake(ssl::stream_base::client, use_nothrow_awaitable);
    if (hec) co_return std::pair{nullptr, io_error("TLS handshake with " + host_header, hec)};
    co_return std::pair{std::move(conn), std::string{}};
  }

  net::io_context& context;
  ClusterConfig config;
  ClientOptions options;
  ServerAddress address;
  std::string host_header;
  std::string verify_name;
  ssl::context tls{ssl::context::tls_client};
  std::vector<std::unique_ptr<Connection>> idle;
  std::set<Connection*> in_use;
  bool closed = false;

  std::string token;
  bool token_loaded = false;
  fs::file_time_type token_mtime{};
  std::chrono::steady_clock::time_point token_read_at{};
};

Client::Client(net::io_context& context, ClusterConfig config, ClientOptions options)
    : impl_(std::make_unique<Impl>(context, std::move(config), std::move(options))) {}

Client::~Client() { close(); }

const ClusterConfig& Client::config() const { return impl_->config; }

void Client::close() {
  auto& d = *impl_;
  d.closed = true;
  d.idle.clear();
  // Closing the socket makes every pending operation on it complete with operation_aborted.
  for (Connection* c : d.in_use) beast::get_lowest_layer(c->stream).close();
}

net::awaitable<Response> Client::request(Request r) {
  auto& d = *impl_;
  const http::verb verb = http::string_to_verb(r.method);
  if (verb == http::verb::unknown) co_return Response{0, {}, "unknown HTTP method " + r.method};
  bool token_retried = false;
  for (;;) {
    if (d.closed) co_return Response{0, {}, "client closed"};
    std::unique_ptr<Connection> conn;
    bool reused = false;
    if (!d.idle.empty()) {
      conn = std::move(d.idle.back());
      d.idle.pop_back();
      reused = true;
    } else {
      auto [fresh, error] = co_await d.connect();
      if (!fresh) co_return Response{0, {}, std::move(error)};
      conn = std::move(fresh);
    }
    Impl::Active active(d, conn.get());
    const std::string bearer = d.bearer_token(false);
    auto message = d.make_request(verb, r, bearer);
    beast::get_lowest_layer(conn->stream).expires_after(d.options.request_timeout);
    auto [wec, written] = co_await http::async_write(conn->stream, message, use_nothrow_awaitable);
    if (wec) {
      if (reused && !d.closed) continue;  // the server dropped an idle connection
      co_return Response{0, {}, io_error("send request", wec)};
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(d.options.max_response_body);
    auto [rec, read_bytes] =
        co_await http::async_read(conn->stream, conn->buffer, parser, use_nothrow_awaitable);
    if (rec) {
      if (reused && read_bytes == 0 && idempotent(verb) && !d.closed) continue;
      co_return Response{0, {}, io_error("read response", rec)};
    }
    auto& res = parser.get();
    Response out{static_cast<int>(res.result_int()), std::move(res.body()), {}};
    const bool keep = res.keep_alive() && !d.closed && d.idle.size() < d.options.max_idle_connections;
    if (keep) d.idle.push_back(std::move(conn));
    // A rotated token: the file may already hold the new one although its mtime looked old.
    if (out.status == 401 && !token_retried && !d.config.token_file.empty() && d.config.token.empty()) {
      token_retried = true;
      if (d.bearer_token(true) != bearer) continue;
    }
    co_return out;
  }
}

net::awaitable<WatchResult> Client::watch(std::string target, LineHandler on_line,
                                          std::chrono::milliseconds deadline) {
  auto& d = *impl_;
  WatchResult out;
  if (d.closed) {
    out.error = "client closed";
    co_return out;
  }
  // A watch holds its connection for minutes: never take one from (or give one to) the pool.
  auto [conn, connect_error] = co_await d.connect();
  if (!conn) {
    out.error = std::move(connect_error);
    co_return out;
  }
  Impl::Active active(d, conn.get());
  Request r;
  r.target = std::move(target);
  auto message = d.make_request(http::verb::get, r, d.bearer_token(false));
  auto& tcp_layer = beast::get_lowest_layer(conn->stream);
  tcp_layer.expires_after(deadline);
  auto [wec, written] = co_await http::async_write(conn->stream, message, use_nothrow_awaitable);
  if (wec) {
    out.error = io_error("send watch request", wec);
    co_return out;
  }

  http::response_parser<http::string_body> parser;
  auto [hec, header_bytes] =
      co_await http::async_read_header(conn->stream, conn->buffer, parser, use_nothrow_awaitable);
  if (hec) {
    out.error = io_error("read watch response", hec);
    co_return out;
  }
  out.status = static_cast<int>(parser.get().result_int());
  if (out.status == 401 && !d.config.token_file.empty()) d.bearer_token(true);  // for the retry
  if (out.status != 200) {
    parser.body_limit(kMaxErrorBody);
    auto [bec, body_bytes] = co_await http::async_read(conn->stream, conn->buffer, parser, use_nothrow_awaitable);
    if (bec) out.error = io_error("read watch error body", bec);
    out.body = std::move(parser.get().body());
    co_return out;
  }

  // Events arrive as chunks; only a chunked stream may be unbounded. The lines are collected
  // during parsing and handed over after each read, outside Beast's callback.
  LineSplitter splitter;
  std::vector<std::string> lines;
  const bool chunked = parser.chunked();
  if (chunked) {
    parser.body_limit(boost::none);
  } else {
    parser.body_limit(d.options.max_response_body);
  }
  auto on_chunk = [&](std::uint64_t, beast::string_view data, beast::error_code&) -> std::size_t {
    splitter.feed(std::string_view(data.data(), data.size()),
                  [&](std::string_view line) { lines.emplace_back(line); });
    return data.size();
  };
  parser.on_chunk_body(on_chunk);

  auto deliver = [&]() -> bool {
    for (const auto& line : lines) {
      ++out.lines;
      if (!on_line(line)) {
        out.stopped = true;
        return false;
      }
    }
    lines.clear();
    return true;
  };

  while (!parser.is_done()) {
    auto [ec, n] = co_await http::async_read_some(conn->stream, conn->buffer, parser, use_nothrow_awaitable);
    if (!deliver()) co_return out;
    if (splitter.failed()) {
      out.error = "a watch event exceeds the line limit";
      co_return out;
    }
    if (ec) {
      out.error = io_error("watch stream", ec);
      co_return out;
    }
  }
  if (!chunked) {
    splitter.feed(parser.get().body(), [&](std::string_view line) { lines.emplace_back(line); });
    if (!deliver()) co_return out;
  }
  out.completed = true;
  co_return out;
}

std::string describe(const Response& response) {
  if (response.status == 0) return "no response: " + response.error;
  std::string text = std::to_string(response.status);
  const auto reason = http::obsolete_reason(static_cast<http::status>(response.status));
  if (!reason.empty()) text.append(" ").append(reason.data(), reason.size());
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(response.body.data(), response.body.size());
  if (!doc.HasParseError() && doc.IsObject()) {
    auto m = doc.FindMember("message");
    if (m != doc.MemberEnd() && m->value.IsString()) {
      return text + ": " + std::string(m->value.GetString(), m->value.GetStringLength());
    }
  }
  if (!response.body.empty()) {
    text += ": " + response.body.substr(0, 200);
  }
  return text;
}

}  // namespace avw::kube
