// The listening socket: accepts connections and hands each to the next worker in turn.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace avw::server {

class Listener {
 public:
  /// Opens, binds and listens on `host`:`port` (0: any free port). Throws StartupError.
  Listener(boost::asio::io_context& control, const std::string& host, std::uint16_t port);

  std::uint16_t port() const { return port_; }

  /// Accepts until close(). Each connection is accepted onto the next of `workers` in turn
  /// (so its I/O runs there) and handed to `hand_over` with that worker's index, on the
  /// control context.
  using HandOver = std::function<void(std::size_t worker, boost::asio::ip::tcp::socket socket)>;
  boost::asio::awaitable<void> run(std::vector<boost::asio::io_context*> workers, HandOver hand_over);

  /// Stops accepting; run() returns.
  void close();

 private:
  boost::asio::io_context& control_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
};

}  // namespace avw::server
