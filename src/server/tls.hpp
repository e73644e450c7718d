// TLS server contexts from PEM files, and the watcher that tells when the files changed.
// Private to the server; only server.cpp and tls.cpp see Asio's ssl headers.
#pragma once

#include <sys/types.h>

#include <array>
#include <boost/asio/ssl/context.hpp>
#include <ctime>
#include <memory>
#include <string>

namespace avw::server {

struct TlsFiles {
  std::string cert;
  std::string key;
  std::string client_ca;  // empty: no client certificates asked for
};

/// A server context: TLS 1.2 and 1.3 only, ECDHE with AEAD ciphers for 1.2, AES-128-GCM
/// preferred in both, no compression
/// or renegotiation, ALPN `http/1.1` when the client offers it. With a client CA, a client
/// certificate signed by it is required. Throws std::runtime_error with a one-line message.
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const TlsFiles& files);

/// Remembers the files' identity (device, inode, size, mtime, ctime; stat follows symlinks,
/// so a Kubernetes Secret volume swapping its `..data` link is seen).
class TlsWatcher {
 public:
  explicit TlsWatcher(TlsFiles files);
  const TlsFiles& files() const { return files_; }
  /// True when any file differs from what the last call saw (the first call records).
  bool changed();

 private:
  struct Stamp {
    int error = 0;
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    timespec mtime{};
    timespec ctime{};
    bool operator==(const Stamp& o) const;
  };
  static Stamp stamp_of(const std::string& path);

  TlsFiles files_;
  std::array<Stamp, 3> seen_{};
};

}  // namespace avw::server
