// The real server, in-process on 127.0.0.1 with an ephemeral port, fresh certificates and a
// recommendations file in a temporary directory (or another source), served from its own thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "avw/metrics/metrics.hpp"
#include "avw/server/server.hpp"
#include "avw/source/file_source.hpp"
#include "support/fixtures.hpp"
#include "support/net/https_client.hpp"
#include "support/net/tls_certs.hpp"
#include "support/net/webhook_process.hpp"

namespace avw::test {

inline std::string example_recommendations() {
  return read_file(std::string(AVW_SOURCE_DIR) + "/tests/fixtures/recommendations-first-day.json");
}

struct HarnessOptions {
  bool write_recommendations = true;
  bool client_ca = false;
  std::function<void(server::ServerOptions&)> configure;
  /// The recommendation source, made on the server's control context (e.g. with
  /// source::make_api_source); empty: a FileSource reading recommendations_file.
  std::function<std::unique_ptr<source::RecommendationSource>(boost::asio::io_context&, metrics::Registry&)>
      make_source;
};

inline HarnessOptions configured(std::function<void(server::ServerOptions&)> configure) {
  HarnessOptions o;
  o.configure = std::move(configure);
  return o;
}

class Harness : public ServerFiles {
 public:
  explicit Harness(HarnessOptions options = {}) : ServerFiles(100) {
    if (options.write_recommendations) write_file_atomic(recommendations_file, example_recommendations());
    server::ServerOptions o;
    o.listen_host = "127.0.0.1";
    o.listen_port = 0;
    o.tls_cert = cert_file;
    o.tls_key = key_file;
    if (options.client_ca) o.client_ca = ca_file;
    o.threads = 2;
    o.handle_signals = false;
    o.tls_poll_interval = std::chrono::milliseconds(20);
    o.shutdown_idle_grace = std::chrono::milliseconds(300);
    o.shutdown_timeout = std::chrono::seconds(20);
    if (options.configure) options.configure(o);
    server_ = std::make_unique<server::Server>(o, registry);
    if (options.make_source) {
      source_ = options.make_source(server_->control_context(), registry);
    } else {
      source::FileSourceOptions file;
      file.path = recommendations_file;
      file.poll_interval = std::chrono::milliseconds(20);
      source_ = std::make_unique<source::FileSource>(server_->control_context(), file, &registry);
    }
    thread_ = std::thread([this] { server_->run(*source_); });
  }

  ~Harness() {
    shutdown();
    join();
  }

  std::uint16_t port() const { return server_->port(); }
  void shutdown() {
    if (!shutdown_requested_) server_->request_shutdown();
    shutdown_requested_ = true;
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

  ClientOptions client_options() const { return trusting(ca_file); }
  HttpsClient client() const { return HttpsClient(port(), client_options()); }

  /// The value of one series in /metrics (`name{labels}` exactly as rendered), or nullopt.
  std::optional<double> metric(std::string_view series) const {
    const std::string text = client().request("GET", "/metrics").body;
    const std::string needle = "\n" + std::string(series) + " ";
    const auto at = text.find(needle);
    if (at == std::string::npos) return std::nullopt;
    const auto start = at + needle.size();
    const auto end = text.find('\n', start);
    return std::stod(text.substr(start, end - start));
  }

  std::string recommendations_file = dir.file("recommendations.json");
  metrics::Registry registry;

 private:
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<source::RecommendationSource> source_;
  std::thread thread_;
  bool shutdown_requested_ = false;
};

}  // namespace avw::test
