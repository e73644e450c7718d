#include "support/net/https_client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cctype>

namespace avw::test {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return {};
}

struct HttpsClient::Impl {
  ClientOptions options;
  net::io_context io;
  ssl::context ctx{ssl::context::tls_client};
  std::unique_ptr<ssl::stream<beast::tcp_stream>> stream;
  beast::flat_buffer buffer;
  bool open = false;

  void arm() { beast::get_lowest_layer(*stream).expires_after(options.timeout); }

  HttpResponse read_response() {
    http::response<http::string_body> res;
    beast::error_code ec;
    arm();
    http::read(*stream, buffer, res, ec);
    if (ec) {
      open = false;
      throw ClientError(ClientError::Stage::Read, "reading the response: " + ec.message());
    }
    HttpResponse out;
    out.status = res.result_int();
    out.body = std::move(res.body());
    for (const auto& field : res) out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    out.keep_alive = res.keep_alive();
    if (!out.keep_alive) close();
    return out;
  }

  void write_bytes(std::string_view bytes) {
    beast::error_code ec;
    arm();
    net::write(*stream, net::buffer(bytes.data(), bytes.size()), ec);
    if (ec) {
      open = false;
      throw ClientError(ClientError::Stage::Write, "writing the request: " + ec.message());
    }
  }

  void close() {
    if (!open) return;
    open = false;
    beast::error_code ec;
    // Answer the server's close_notify (or send ours) so it can close cleanly too.
    beast::get_lowest_layer(*stream).expires_after(std::chrono::seconds(2));
    stream->shutdown(ec);
    beast::get_lowest_layer(*stream).close();
  }
};

HttpsClient::HttpsClient(std::uint16_t port, ClientOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& i = *impl_;
  i.options = std::move(options);
  beast::error_code ec;
  if (!i.options.ca_file.empty()) {
    i.ctx.load_verify_file(i.options.ca_file, ec);
    if (ec) throw ClientError(ClientError::Stage::Connect, "CA " + i.options.ca_file + ": " + ec.message());
    i.ctx.set_verify_mode(ssl::verify_peer);
  }
  if (!i.options.cert_file.empty()) {
    i.ctx.use_certificate_chain_file(i.options.cert_file, ec);
    if (!ec) i.ctx.use_private_key_file(i.options.key_file, ssl::context::pem, ec);
    if (ec) throw ClientError(ClientError::Stage::Connect, "client certificate: " + ec.message());
  }
  if (i.options.max_tls_version != 0) {
    // Old protocols are off at OpenSSL 3's default security level; lower it to offer them.
    SSL_CTX_set_security_level(i.ctx.native_handle(), 0);
    SSL_CTX_set_min_proto_version(i.ctx.native_handle(), 0);
    SSL_CTX_set_max_proto_version(i.ctx.native_handle(), i.options.max_tls_version);
  }
  static constexpr unsigned char kAlpn[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(i.ctx.native_handle(), kAlpn, sizeof kAlpn);

  i.stream = std::make_unique<ssl::stream<beast::tcp_stream>>(i.io, i.ctx);
  if (!i.options.ca_file.empty()) i.stream->set_verify_callback(ssl::host_name_verification(i.options.server_name));
  // SSL_set_tlsext_host_name is a macro with a C cast; this is what it expands to.
  SSL_ctrl(i.stream->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
           const_cast<char*>(i.options.server_name.c_str()));
  auto& lowest = beast::get_lowest_layer(*i.stream);
  lowest.expires_after(i.options.timeout);
  lowest.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) throw ClientError(ClientError::Stage::Connect, "connect: " + ec.message());
  i.arm();
  i.stream->handshake(ssl::stream_base::client, ec);
  if (ec) throw ClientError(ClientError::Stage::Connect, "TLS handshake: " + ec.message());
  i.open = true;
}

HttpsClient::~HttpsClient() { impl_->close(); }

HttpResponse HttpsClient::request(std::string_view method, std::string_view target, std::string_view body,
                                  std::string_view content_type,
                                  const std::vector<std::pair<std::string, std::string>>& extra_headers) {
  if (!impl_->open) throw ClientError(ClientError::Stage::Write, "the connection is closed");
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, "localhost");
  if (!body.empty() || method == "POST") {
    if (!content_type.empty()) req.set(http::field::content_type, content_type);
    req.body() = std::string(body);
    req.prepare_payload();
  }
  for (const auto& [k, v] : extra_headers) req.set(k, v);
  beast::error_code ec;
  impl_->arm();
  http::write(*impl_->stream, req, ec);
  if (ec) {
    impl_->open = false;
    throw ClientError(ClientError::Stage::Write, "writing the request: " + ec.message());
  }
  return impl_->read_response();
}

HttpResponse HttpsClient::raw(std::string_view bytes) {
  if (!impl_->open) throw ClientError(ClientError::Stage::Write, "the connection is closed");
  impl_->write_bytes(bytes);
  return impl_->read_response();
}

void HttpsClient::send(std::string_view bytes) {
  if (!impl_->open) throw ClientError(ClientError::Stage::Write, "the connection is closed");
  impl_->write_bytes(bytes);
}

bool HttpsClient::is_open() const { return impl_->open; }

bool HttpsClient::wait_closed_by_server() {
  if (!impl_->open) return true;
  char byte = 0;
  beast::error_code ec;
  impl_->arm();
  const std::size_t n = impl_->stream->read_some(net::buffer(&byte, 1), ec);
  if (n != 0 || ec == beast::error::timeout) return false;
  impl_->close();
  return true;
}

std::string HttpsClient::peer_serial_hex() const {
  X509* cert = SSL_get1_peer_certificate(impl_->stream->native_handle());
  if (cert == nullptr) return {};
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), nullptr);
  char* hex = BN_bn2hex(bn);
  std::string out(hex);
  OPENSSL_free(hex);
  BN_free(bn);
  X509_free(cert);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string HttpsClient::peer_common_name() const {
  X509* cert = SSL_get1_peer_certificate(impl_->stream->native_handle());
  if (cert == nullptr) return {};
  char buf[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  X509_free(cert);
  return buf;
}

std::string HttpsClient::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(impl_->stream->native_handle(), &data, &len);
  return data == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(data), len);
}

std::string HttpsClient::cipher() const {
  const SSL_CIPHER* c = SSL_get_current_cipher(impl_->stream->native_handle());
  return c == nullptr ? std::string() : SSL_CIPHER_standard_name(c);
}

}  // namespace avw::test
