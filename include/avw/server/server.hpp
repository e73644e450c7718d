// File: server.hpp
//
// The HTTPS admission server: TLS 1.2+ on Boost.Beast/Asio, HTTP/1.1 keep-alive,
// `POST /mutate`, `POST /audit`, `GET /healthz`, `GET /readyz`, `GET /metrics`.
//
//   server::Server server(options, registry);          // loads TLS, binds; throws StartupError
//   source::FileSource source(server.control_context(), ...);
//   server.run(source);                                 // returns after a graceful shutdown
//
// Threads: one io_context per worker thread (`threads`), plus the control context that runs
// on the thread calling run(): the acceptor (which hands each connection to a worker in
// turn), the signal handler, the certificate watcher and the recommendation source. Every new
// snapshot is posted to each worker, so admission reads its worker's copy and never locks.
//
// Shutdown (SIGTERM, SIGINT or request_shutdown()): /readyz turns 503, the acceptor closes,
// requests in flight finish and get `Connection: close`, idle keep-alive connections get a
// short grace for a request already on its way and are then closed; `shutdown_timeout`
// bounds it all. Boost stays out of this header: io_context is only declared.
#pragma once

#include <chrono>
#include <functional>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "avw/core/decision.hpp"
#include "avw/source/source.hpp"

namespace boost::asio {
class io_context;
}

namespace avw::metrics {
class Registry;
}

namespace avw::server {

struct ServerOptions {
  std::string listen_host = "0.0.0.0";  // an IPv4 or IPv6 address
  std::uint16_t listen_port = 8443;     // 0: any free port (see Server::port())
  std::string tls_cert;                 // PEM certificate chain file
  std::string tls_key;                  // PEM private key file
  std::string client_ca;                // optional: require client certificates signed by it
  /// `/mutate` answers like `/audit` (no patch) when set.
  bool dry_run = false;
  /// Worker threads; 0 means the hardware concurrency.
  unsigned threads = 0;
  std::size_t max_request_bytes = 4 * 1024 * 1024;
  std::size_t max_connections = 1024;
  std::chrono::milliseconds handshake_timeout{10'000};
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds shutdown_timeout{30'000};
  /// How long an idle keep-alive connection may still deliver a request once shutdown began
  /// (a request the client sent just before it saw the shutdown must not be lost).
  std::chrono::milliseconds shutdown_idle_grace{1'000};
  /// How often the certificate, key and client CA files are checked for changes.
  std::chrono::milliseconds tls_poll_interval{1'000};
  /// SIGTERM and SIGINT start the shutdown (tests running servers in-process turn it off).
  bool handle_signals = true;
  core::Config decision;
  /// The clock an admission's duration (avw_admission_duration_seconds) is read from; tests
  /// inject one they move by hand. Timeouts always run on the steady clock.
  std::function<std::chrono::steady_clock::time_point()> duration_clock = [] {
    return std::chrono::steady_clock::now();
  };
};

/// Called on a worker for the task pod of every admission on /mutate and /audit that is not
/// a server-side dry run (provisioning). Must be cheap, thread-safe and never block.
using TaskPodObserver = std::function<void(const core::TaskKey&)>;

/// A configuration problem found at start-up (unreadable certificate, address in use...).
/// The message is one line, meant for stderr.
class StartupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Server {
 public:
  /// Loads the TLS files and binds the listening socket. Throws StartupError.
  Server(ServerOptions options, metrics::Registry& registry);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// The context the recommendation source must run on (never a worker's).
  boost::asio::io_context& control_context();
  /// The bound port (useful with listen_port 0).
  std::uint16_t port() const;
  /// Sets who hears of admitted task pods (none by default). Call before run(): whatever
  /// observes them (the provisioner) is made on control_context(), after the server.
  void observe_task_pods(TaskPodObserver observer);

  /// Starts `source`, serves until shutdown, stops the source, returns. Call once.
  void run(source::RecommendationSource& source);
  /// Starts the graceful shutdown; safe from any thread and more than once.
  void request_shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace avw::server
