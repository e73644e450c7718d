// File: webhook_process.hpp
//
// The real binary (`airflow-vpa-webhook serve`) as a child process, for tests and the soak
// run that need signals, exit codes or the process's own memory: 127.0.0.1 with an ephemeral
// port, fresh certificates in a temporary directory, a JSON log whose "listening" line gives
// the port, and either the fake API server (--kubeconfig) or a recommendations file.
//
//   FakeApiServer api;
//   WebhookProcess server(with_api(api, {"--min-history", "0"}));
//   HttpsClient client(server.port(), server.client_options());
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/net/https_client.hpp"
#include "support/net/process.hpp"
#include "support/net/tls_certs.hpp"

namespace avw::test {

class FakeApiServer;

/// The port in a server's JSON log (`"msg":"listening","address":"127.0.0.1:PORT"` with
/// --log-format json), once it is there: in the text of the log, or in the file.
std::optional<std::uint16_t> listening_port(const std::string& log);
std::optional<std::uint16_t> logged_port(const std::string& log_file);

/// A kubeconfig for the fake API server: its URL, its CA and its token.
std::string kubeconfig_for(const FakeApiServer& api);

struct WebhookOptions {
  /// Read recommendations from this fake API server (--kubeconfig); when null, from a
  /// recommendations file with `recommendations` as its content.
  const FakeApiServer* api = nullptr;
  std::string recommendations;
  /// More flags for `serve`, after the listen, TLS, source, thread and log flags.
  std::vector<std::string> args;
  std::uint64_t certificate_serial = 2;
  /// When set, the log goes through a pipe to this function, line by line on a reader thread,
  /// instead of into log_file: a long run's log takes no disk. log() is empty then.
  std::function<void(std::string_view line)> on_log_line;
  std::chrono::milliseconds start_timeout{20'000};
};

/// The binary reading the fake API server, or a recommendations file with `json` in it.
WebhookOptions with_api(const FakeApiServer& api, std::vector<std::string> args = {});
WebhookOptions with_recommendations(std::string json, std::vector<std::string> args = {});

class WebhookProcess : public ServerFiles {
 public:
  /// Starts the binary and waits until it listens. Throws std::runtime_error with its log
  /// when it exits first or does not listen in time.
  explicit WebhookProcess(const WebhookOptions& options);
  /// SIGTERM, and SIGKILL if it has not exited 20 s later.
  ~WebhookProcess();
  WebhookProcess(const WebhookProcess&) = delete;
  WebhookProcess& operator=(const WebhookProcess&) = delete;

  std::uint16_t port() const { return port_; }
  /// Options that verify the server against the CA that issued its certificate.
  ClientOptions client_options() const { return trusting(ca_file); }
  Subprocess& process() { return *process_; }
  /// Everything it logged so far.
  std::string log() const;

  std::string log_file = dir.file("server.log");

 private:
  void read_log(int fd, std::function<void(std::string_view)> on_line);

  std::unique_ptr<Subprocess> process_;
  std::uint16_t port_ = 0;
  std::atomic<std::uint16_t> piped_port_{0};
  std::thread log_reader_;
};

}  // namespace avw::test
