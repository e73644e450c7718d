// File: https_client.hpp
//
// A small blocking HTTPS/1.1 client for tests (Beast, kept out of this header). One
// connection, reused across requests (keep-alive) until either side closes it. Every
// operation is bounded by a timeout so a broken server fails a test instead of hanging it.
//
//   HttpsClient client(port, trusting(dir.file("ca.pem")));
//   auto r = client.request("POST", "/mutate", body);
//   CHECK(r.status == 200);
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace avw::test {

struct ClientOptions {
  std::string ca_file;    // verify the server against this CA (and the name "localhost")
  std::string cert_file;  // optional client certificate
  std::string key_file;
  std::string server_name = "localhost";  // SNI and the name verified
  std::chrono::milliseconds timeout{10'000};
  int max_tls_version = 0;  // e.g. TLS1_1_VERSION to offer an old protocol; 0: default
};

/// Options that verify the server against `ca_file`.
inline ClientOptions trusting(std::string ca_file) {
  ClientOptions o;
  o.ca_file = std::move(ca_file);
  return o;
}

struct HttpResponse {
  unsigned status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool keep_alive = true;
  /// The value of a header (case-insensitive name), empty when absent.
  std::string header(std::string_view name) const;
};

/// A failure, with the stage it happened in: a request whose bytes were written but whose
/// response never came is the one a graceful shutdown must not produce.
class ClientError : public std::runtime_error {
 public:
  enum class Stage { Connect, Write, Read };
  ClientError(Stage stage, const std::string& message) : std::runtime_error(message), stage_(stage) {}
  Stage stage() const { return stage_; }

 private:
  Stage stage_;
};

class HttpsClient {
 public:
  /// Connects to 127.0.0.1:port and completes the TLS handshake. Throws ClientError(Connect).
  HttpsClient(std::uint16_t port, ClientOptions options);
  ~HttpsClient();
  HttpsClient(const HttpsClient&) = delete;
  HttpsClient& operator=(const HttpsClient&) = delete;

  /// Sends one request and reads its response. After a response without keep-alive the
  /// connection is closed and further requests throw.
  HttpResponse request(std::string_view method, std::string_view target, std::string_view body = {},
                       std::string_view content_type = "application/json",
                       const std::vector<std::pair<std::string, std::string>>& extra_headers = {});
  /// Writes `bytes` as they are and reads one response (for malformed requests).
  HttpResponse raw(std::string_view bytes);
  /// Writes `bytes` and returns without reading (a request left half sent).
  void send(std::string_view bytes);

  bool is_open() const;
  /// True when the server closes the connection (EOF or close_notify) within the timeout
  /// without sending anything.
  bool wait_closed_by_server();

  /// The server certificate's serial number in lowercase hex, and its subject CN.
  std::string peer_serial_hex() const;
  std::string peer_common_name() const;
  /// The ALPN protocol selected by the server (empty when none).
  std::string alpn() const;
  /// The negotiated cipher suite's standard name, e.g. TLS_AES_128_GCM_SHA256.
  std::string cipher() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace avw::test
