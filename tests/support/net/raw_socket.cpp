#include "support/net/raw_socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace avw::test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxRecord = 16 * 1024;  // TLS plaintext per record

[[noreturn]] void sys_fail(std::string_view what) {
  throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}

// The poll() argument for the time left until `deadline`, rounded up, never negative.
int poll_ms(Clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1'000'000));
}

std::chrono::milliseconds left_until(Clock::time_point deadline) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
}

// The events that came (0: none before the deadline). POLLHUP and POLLERR always count.
short wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, poll_ms(deadline));
    if (n >= 0) return n > 0 ? p.revents : short{0};
    if (errno != EINTR) sys_fail("poll");
  }
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Parses a response head (status line and fields, without the blank line).
HttpResponse parse_head(std::string_view head) {
  HttpResponse out;
  auto line_end = head.find("\r\n");
  const std::string_view status_line = head.substr(0, line_end);
  const auto space = status_line.find(' ');
  if (!status_line.starts_with("HTTP/1.") || space == std::string_view::npos) {
    throw std::runtime_error("not an HTTP response: " + std::string(status_line.substr(0, 80)));
  }
  out.status = static_cast<unsigned>(std::stoul(std::string(status_line.substr(space + 1, 3))));
  while (line_end != std::string_view::npos) {
    const auto start = line_end + 2;
    line_end = head.find("\r\n", start);
    const std::string_view field =
        head.substr(start, line_end == std::string_view::npos ? head.npos : line_end - start);
    const auto colon = field.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = field.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    out.headers.emplace_back(std::string(field.substr(0, colon)), std::string(value));
  }
  out.keep_alive = !iequals(out.header("Connection"), "close");
  return out;
}

// Reads and drops until the connection ends (true) or the deadline passes (false).
template <class Connection>
bool drain_until_closed(Connection& c, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string sink;
  for (;;) {
    sink.clear();
    const ReadStatus s = c.receive(sink, left_until(deadline));
    if (s == ReadStatus::Closed) return true;
    if (s == ReadStatus::Timeout) return false;
  }
}

struct CtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};

}  // namespace

// ---- RawSocket ----------------------------------------------------------------------

RawSocket::RawSocket(std::uint16_t port, std::chrono::milliseconds timeout) : RawSocket(Adopt{}, start_connect(port)) {
  finish_connect(Clock::now() + timeout);
}

RawSocket::RawSocket(Adopt, int fd) : fd_(fd) {}

int RawSocket::start_connect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) sys_fail("socket");
  RawSocket owner(Adopt{}, fd);  // closes it if connect fails
  // A byte written is a segment sent: slow-writer tests mean exactly what they write.
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
    sys_fail("connect");
  }
  return std::exchange(owner.fd_, -1);
}

void RawSocket::finish_connect(Clock::time_point deadline) {
  if (wait_for(fd_, POLLOUT, deadline) == 0) throw std::runtime_error("connect: timed out");
  int error = 0;
  socklen_t len = sizeof error;
  ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &len);
  if (error != 0) {
    errno = error;
    sys_fail("connect");
  }
}

std::vector<RawSocket> RawSocket::open_many(std::uint16_t port, std::size_t n, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::vector<RawSocket> sockets;
  sockets.reserve(n);
  // Every SYN goes out before the first connection is waited for.
  for (std::size_t i = 0; i < n; ++i) sockets.push_back(RawSocket(Adopt{}, start_connect(port)));
  for (RawSocket& s : sockets) s.finish_connect(deadline);
  return sockets;
}

void RawSocket::set_receive_buffer(int bytes) { ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes); }

RawSocket::~RawSocket() { close(); }

RawSocket::RawSocket(RawSocket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

RawSocket& RawSocket::operator=(RawSocket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

bool RawSocket::hung_up(std::chrono::milliseconds timeout) {
  return (wait_for(fd_, POLLRDHUP, Clock::now() + timeout) & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

void RawSocket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RawSocket::send(std::string_view bytes, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (wait_for(fd_, POLLOUT, deadline) == 0) return false;
    } else {
      return false;  // EPIPE, ECONNRESET: the server is gone
    }
  }
  return true;
}

ReadStatus RawSocket::receive(std::string& out, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  char buf[64 * 1024];
  for (;;) {
    if (wait_for(fd_, POLLIN, deadline) == 0) return ReadStatus::Timeout;
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      return ReadStatus::Data;
    }
    if (n == 0) return ReadStatus::Closed;
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
    return ReadStatus::Closed;  // ECONNRESET and the like
  }
}

bool RawSocket::readable(std::chrono::milliseconds timeout) const {
  return wait_for(fd_, POLLIN, Clock::now() + timeout) != 0;
}

bool RawSocket::wait_closed(std::chrono::milliseconds timeout) { return drain_until_closed(*this, timeout); }

// ---- RawTls -------------------------------------------------------------------------

// The SSL object reads what the network brought from `in` and leaves what it wants sent in
// `out`; the test moves the bytes, so it decides when (and whether) they go.
struct RawTls::Impl {
  std::unique_ptr<SSL_CTX, CtxFree> ctx;
  std::unique_ptr<SSL, SslFree> ssl;
  BIO* in = nullptr;   // owned by ssl
  BIO* out = nullptr;  // owned by ssl
  std::string plain;   // decrypted bytes read but not handed out yet

  // Feeds what the network brings within the deadline to the SSL object.
  ReadStatus pump(RawSocket& socket, Clock::time_point deadline) {
    std::string bytes;
    const ReadStatus s = socket.receive(bytes, left_until(deadline));
    if (s == ReadStatus::Data) BIO_write(in, bytes.data(), static_cast<int>(bytes.size()));
    return s;
  }

  // Appends the TLS records of `plaintext` (kMaxRecord each) to `records`.
  bool encrypt(std::string_view plaintext, std::string& records) {
    while (!plaintext.empty()) {
      const int piece = static_cast<int>(std::min(plaintext.size(), kMaxRecord));
      const int n = SSL_write(ssl.get(), plaintext.data(), piece);
      if (n <= 0) {
        ERR_clear_error();
        return false;
      }
      plaintext.remove_prefix(static_cast<std::size_t>(n));
      records += take_output();
    }
    return true;
  }

  std::string take_output() {
    std::string bytes;
    char buf[16 * 1024];
    for (;;) {
      const int n = BIO_read(out, buf, sizeof buf);
      if (n <= 0) return bytes;
      bytes.append(buf, static_cast<std::size_t>(n));
    }
  }
};

RawTls::RawTls(std::uint16_t port, const std::string& ca_file) : socket_(port), impl_(std::make_unique<Impl>()) {
  Impl& i = *impl_;
  i.ctx.reset(SSL_CTX_new(TLS_client_method()));
  if (!i.ctx) throw std::runtime_error("SSL_CTX_new failed");
  SSL_CTX_set_min_proto_version(i.ctx.get(), TLS1_2_VERSION);
  if (SSL_CTX_load_verify_locations(i.ctx.get(), ca_file.c_str(), nullptr) != 1) {
    throw std::runtime_error("cannot load CA " + ca_file);
  }
  SSL_CTX_set_verify(i.ctx.get(), SSL_VERIFY_PEER, nullptr);
  i.ssl.reset(SSL_new(i.ctx.get()));
  if (!i.ssl) throw std::runtime_error("SSL_new failed");
  SSL_set1_host(i.ssl.get(), "localhost");
  // SSL_set_tlsext_host_name is a macro with a C cast; this is what it expands to.
  SSL_ctrl(i.ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>("localhost"));
  static constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_set_alpn_protos(i.ssl.get(), kAlpn, sizeof kAlpn);
  i.in = BIO_new(BIO_s_mem());
  i.out = BIO_new(BIO_s_mem());
  if (i.in == nullptr || i.out == nullptr) {
    BIO_free(i.in);
    BIO_free(i.out);
    throw std::runtime_error("BIO_new failed");
  }
  SSL_set_bio(i.ssl.get(), i.in, i.out);
  SSL_set_connect_state(i.ssl.get());
}

RawTls::~RawTls() = default;

std::string RawTls::client_hello() {
  SSL_do_handshake(impl_->ssl.get());  // wants to read the ServerHello now
  return impl_->take_output();
}

bool RawTls::handshake(std::chrono::milliseconds timeout) { return handshake_and_send({}, timeout); }

bool RawTls::handshake_and_send(std::string_view plaintext, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  SSL* ssl = impl_->ssl.get();
  for (;;) {
    const int r = SSL_do_handshake(ssl);
    const int error = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, r);
    ERR_clear_error();
    if (r == 1) {
      std::string last_flight = impl_->take_output();
      if (!impl_->encrypt(plaintext, last_flight)) return false;
      return socket_.send(last_flight, left_until(deadline));
    }
    if (!socket_.send(impl_->take_output(), left_until(deadline))) return false;
    if (error != SSL_ERROR_WANT_READ) return false;
    if (impl_->pump(socket_, deadline) != ReadStatus::Data) return false;
  }
}

bool RawTls::send(std::string_view plaintext, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!plaintext.empty()) {
    // A record at a time, each sent before the next is made.
    const std::size_t piece = std::min(plaintext.size(), kMaxRecord);
    std::string record;
    if (!impl_->encrypt(plaintext.substr(0, piece), record)) return false;
    if (!socket_.send(record, left_until(deadline))) return false;
    plaintext.remove_prefix(piece);
  }
  return true;
}

ReadStatus RawTls::receive(std::string& out, std::chrono::milliseconds timeout) {
  if (!impl_->plain.empty()) {
    out += std::exchange(impl_->plain, {});
    return ReadStatus::Data;
  }
  const auto deadline = Clock::now() + timeout;
  SSL* ssl = impl_->ssl.get();
  char buf[16 * 1024];
  for (;;) {
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n > 0) {
      // Take what else is decrypted already, without waiting for more.
      do {
        out.append(buf, static_cast<std::size_t>(n));
        n = SSL_read(ssl, buf, sizeof buf);
      } while (n > 0);
      ERR_clear_error();
      return ReadStatus::Data;
    }
    const int error = SSL_get_error(ssl, n);
    ERR_clear_error();
    // Post-handshake messages (session tickets) may want an answer.
    socket_.send(impl_->take_output(), std::chrono::milliseconds(1'000));
    if (error != SSL_ERROR_WANT_READ) return ReadStatus::Closed;  // close_notify, alert, EOF
    if (const ReadStatus s = impl_->pump(socket_, deadline); s != ReadStatus::Data) return s;
  }
}

bool RawTls::readable(std::chrono::milliseconds timeout) {
  std::string got;
  const ReadStatus s = receive(got, timeout);
  impl_->plain = std::move(got);  // receive() handed out what was kept, if anything
  return s != ReadStatus::Timeout;
}

std::optional<HttpResponse> RawTls::read_response(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string data = std::exchange(impl_->plain, {});
  auto more = [&] { return receive(data, left_until(deadline)) == ReadStatus::Data; };
  std::size_t head_end;
  while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
    if (!more()) return std::nullopt;
  }
  HttpResponse response = parse_head(std::string_view(data).substr(0, head_end));
  const std::string length = response.header("Content-Length");
  const std::size_t body_size = length.empty() ? 0 : std::stoul(length);
  const std::size_t body_start = head_end + 4;
  while (data.size() < body_start + body_size) {
    if (!more()) return std::nullopt;
  }
  response.body = data.substr(body_start, body_size);
  impl_->plain = data.substr(body_start + body_size);
  return response;
}

bool RawTls::wait_closed(std::chrono::milliseconds timeout) { return drain_until_closed(*this, timeout); }

}  // namespace avw::test
