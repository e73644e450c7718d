#include "listener.hpp"

#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "avw/async/async.hpp"
#include "avw/server/server.hpp"
#include "logfmt.hpp"

namespace avw::server {
namespace net = boost::asio;
using tcp = net::ip::tcp;

Listener::Listener(net::io_context& control, const std::string& host, std::uint16_t port)
    : control_(control), acceptor_(control) {
  boost::system::error_code ec;
  const auto address = net::ip::make_address(host, ec);
  if (ec) throw StartupError("invalid listen address " + host + ": " + ec.message());
  const tcp::endpoint endpoint(address, port);
  const std::string where = host + ":" + std::to_string(port);
  if (acceptor_.open(endpoint.protocol(), ec); ec) throw StartupError("cannot open " + where + ": " + ec.message());
  acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (acceptor_.bind(endpoint, ec); ec) throw StartupError("cannot bind " + where + ": " + ec.message());
  if (acceptor_.listen(net::socket_base::max_listen_connections, ec); ec) {
    throw StartupError("cannot listen on " + where + ": " + ec.message());
  }
  port_ = acceptor_.local_endpoint(ec).port();
}

net::awaitable<void> Listener::run(std::vector<net::io_context*> workers, HandOver hand_over) {
  for (std::size_t next = 0;; next = (next + 1) % workers.size()) {
    auto [ec, socket] = co_await acceptor_.async_accept(*workers[next], async::use_nothrow_awaitable);
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor_.is_open()) co_return;
      // Out of file descriptors and the like: wait a little instead of spinning.
      std::string line = "accept failed";
      append_field(line, "error", ec.message());
      spdlog::warn("{}", line);
      net::steady_timer pause(control_, std::chrono::milliseconds(100));
      co_await pause.async_wait(async::use_nothrow_awaitable);
      continue;
    }
    // Each response leaves in one write, so Nagle has nothing to merge; it would only hold
    // answers back behind the client's delayed ACK (OpenSSL writes the TLS 1.3 session
    // tickets one by one after the handshake).
    socket.set_option(tcp::no_delay(true), ec);
    hand_over(next, std::move(socket));
  }
}

void Listener::close() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

}  // namespace avw::server
