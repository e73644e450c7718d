// File: raw_socket.hpp
//
// Client connections for hostile tests, where the test chooses every byte and every pause:
// a plain TCP socket (plaintext to the TLS port, a connection that never says a word, a
// header written a byte at a time), and TLS over it driven through memory BIOs, so a test
// can send half of a real ClientHello, or keep writing a body while it watches for the
// server's answer. No Boost here: poll() bounds every wait, and send() uses MSG_NOSIGNAL,
// so a connection the server reset is a `false`, never a SIGPIPE or a hang.
//
//   RawSocket s(port);
//   s.send("GET /healthz HTTP/1.1\r\n\r\n");             // plaintext to a TLS port
//   CHECK(s.wait_closed(std::chrono::seconds(2)));
//
//   RawTls tls(port, ca_file);
//   REQUIRE(tls.handshake(std::chrono::seconds(5)));
//   tls.send("POST /mutate HTTP/1.1\r\n...");
//   auto r = tls.read_response(std::chrono::seconds(5));   // HttpResponse, or nullopt
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/net/https_client.hpp"

namespace avw::test {

inline constexpr std::chrono::milliseconds kRawTimeout{10'000};

enum class ReadStatus { Data, Closed, Timeout };

/// A TCP connection to 127.0.0.1:port (non-blocking underneath; every call is bounded).
class RawSocket {
 public:
  /// Connects within `timeout`. Throws std::runtime_error.
  explicit RawSocket(std::uint16_t port, std::chrono::milliseconds timeout = kRawTimeout);
  ~RawSocket();
  RawSocket(RawSocket&& other) noexcept;
  RawSocket& operator=(RawSocket&& other) noexcept;

  /// `n` connections at once: every connect is started before any is waited for, so a flood
  /// takes no longer than the kernel needs. Throws std::runtime_error.
  static std::vector<RawSocket> open_many(std::uint16_t port, std::size_t n,
                                          std::chrono::milliseconds timeout = kRawTimeout);

  /// Caps the kernel's receive buffer (SO_RCVBUF), so a peer that writes to a reader that
  /// never reads soon finds the connection full.
  void set_receive_buffer(int bytes);
  /// Sends all of `bytes` within `timeout`. False when the peer closed or reset the
  /// connection, or the bytes did not fit in time.
  bool send(std::string_view bytes, std::chrono::milliseconds timeout = kRawTimeout);
  /// Appends what one read gives to `out`, waiting at most `timeout` for it.
  ReadStatus receive(std::string& out, std::chrono::milliseconds timeout);
  /// True when something (bytes, EOF or a reset) is waiting, within `timeout`.
  bool readable(std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) const;
  /// True when the peer closes the connection (EOF or reset) within `timeout`; anything it
  /// sends first is dropped.
  bool wait_closed(std::chrono::milliseconds timeout);
  /// True when the peer closes or resets the connection within `timeout`, without reading
  /// anything it sent (for a client that never reads its answers).
  bool hung_up(std::chrono::milliseconds timeout);
  /// Closes our side now (the destructor does it too).
  void close();

 private:
  struct Adopt {};
  RawSocket(Adopt, int fd);
  static int start_connect(std::uint16_t port);
  void finish_connect(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
};

/// TLS 1.2+ over a RawSocket, verifying the server against a CA (name "localhost").
class RawTls {
 public:
  /// Connects; no TLS byte is sent until handshake() or client_hello(). Throws std::runtime_error.
  RawTls(std::uint16_t port, const std::string& ca_file);
  ~RawTls();
  RawTls(const RawTls&) = delete;
  RawTls& operator=(const RawTls&) = delete;

  /// The ClientHello this connection would open with, not sent: send part of it with
  /// socket(). The connection cannot do a handshake after this.
  std::string client_hello();
  /// Completes the handshake within `timeout`. False when the server broke it off or was late.
  bool handshake(std::chrono::milliseconds timeout = kRawTimeout);
  /// The same, but the client's last handshake flight and `plaintext`, encrypted, go in one
  /// write: the server reads a request together with the end of the handshake.
  bool handshake_and_send(std::string_view plaintext, std::chrono::milliseconds timeout = kRawTimeout);
  /// Encrypts and sends all of `plaintext` (one TLS record per 16 KiB, so a byte at a time
  /// makes a record a byte). False as RawSocket::send.
  bool send(std::string_view plaintext, std::chrono::milliseconds timeout = kRawTimeout);
  /// Appends decrypted bytes to `out`, waiting at most `timeout` for them. Closed on EOF,
  /// close_notify, a reset or a TLS alert.
  ReadStatus receive(std::string& out, std::chrono::milliseconds timeout);
  /// True when decrypted bytes or the end of the connection arrived within `timeout` (TLS
  /// records that carry no data, like session tickets, do not count).
  bool readable(std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  /// Reads one HTTP/1.1 response with a Content-Length body (what the server sends), or
  /// nullopt when the connection closed or `timeout` passed first.
  std::optional<HttpResponse> read_response(std::chrono::milliseconds timeout = kRawTimeout);
  /// As RawSocket::wait_closed, with close_notify or an alert counting as closed.
  bool wait_closed(std::chrono::milliseconds timeout);

  RawSocket& socket() { return socket_; }

 private:
  struct Impl;
  RawSocket socket_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace avw::test
