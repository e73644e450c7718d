#include "tls.hpp"

#include <openssl/ssl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace avw::server {
namespace ssl = boost::asio::ssl;

namespace {

// TLS 1.2 suites: forward secrecy (ECDHE) and AEAD only. TLS 1.3 suites are all AEAD and
// keep OpenSSL's defaults.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// TLS 1.3 suites in the same order (Mozilla's intermediate one). OpenSSL's default puts
// AES-256-GCM first, and with the server's preference every client got it: more AES rounds
// per block for no protection the API server asks for (tests/bench/README.md has the profile).
constexpr const char* kTls13Suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

// The API server may offer h2 (ALPN); answering http/1.1 tells it plainly what it gets. A
// client that offers neither simply gets no ALPN, and HTTP/1.1 as well.
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in, unsigned int in_len,
                void*) {
  static constexpr unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  unsigned char selected_len = 0;
  if (SSL_select_next_proto(&selected, &selected_len, kHttp11, sizeof kHttp11, in, in_len) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    *out_len = selected_len;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

void require_readable(const std::string& what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + what + " " + path + ": " + std::strerror(errno));
}

void check(const boost::system::error_code& ec, const std::string& what, const std::string& path) {
  if (ec) throw std::runtime_error("invalid " + what + " " + path + ": " + ec.message());
}

}  // namespace

std::shared_ptr<ssl::context> make_tls_context(const TlsFiles& files) {
  require_readable("TLS certificate", files.cert);
  require_readable("TLS key", files.key);
  if (!files.client_ca.empty()) require_readable("client CA", files.client_ca);

  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1 || SSL_CTX_set_ciphersuites(native, kTls13Suites) != 1) {
    throw std::runtime_error("cannot configure TLS protocol versions and ciphers");
  }
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_alpn_select_cb(native, select_alpn, nullptr);

  boost::system::error_code ec;
  ctx->use_certificate_chain_file(files.cert, ec);
  check(ec, "TLS certificate", files.cert);
  ctx->use_private_key_file(files.key, ssl::context::pem, ec);
  check(ec, "TLS key", files.key);
  // A certificate and key written one after the other can be caught half way: refuse that.
  if (SSL_CTX_check_private_key(native) != 1) {
    throw std::runtime_error("TLS key " + files.key + " does not match certificate " + files.cert);
  }
  if (!files.client_ca.empty()) {
    ctx->load_verify_file(files.client_ca, ec);
    check(ec, "client CA", files.client_ca);
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.client_ca.c_str());
    if (names == nullptr) throw std::runtime_error("invalid client CA " + files.client_ca + ": no certificate");
    SSL_CTX_set_client_CA_list(native, names);
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  } else {
    ctx->set_verify_mode(ssl::verify_none);
  }
  return ctx;
}

bool TlsWatcher::Stamp::operator==(const Stamp& o) const {
  return error == o.error && dev == o.dev && ino == o.ino && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
         mtime.tv_nsec == o.mtime.tv_nsec && ctime.tv_sec == o.ctime.tv_sec && ctime.tv_nsec == o.ctime.tv_nsec;
}

TlsWatcher::Stamp TlsWatcher::stamp_of(const std::string& path) {
  Stamp s;
  if (path.empty()) return s;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    s.error = errno;
    return s;
  }
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  s.size = st.st_size;
  s.mtime = st.st_mtim;
  s.ctime = st.st_ctim;
  return s;
}

TlsWatcher::TlsWatcher(TlsFiles files) : files_(std::move(files)) {
  seen_ = {stamp_of(files_.cert), stamp_of(files_.key), stamp_of(files_.client_ca)};
}

bool TlsWatcher::changed() {
  const std::array<Stamp, 3> now = {stamp_of(files_.cert), stamp_of(files_.key), stamp_of(files_.client_ca)};
  if (now == seen_) return false;
  seen_ = now;
  return true;
}

}  // namespace avw::server
