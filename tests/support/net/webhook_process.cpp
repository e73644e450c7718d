#include "support/net/webhook_process.hpp"

#include <signal.h>

#include <regex>
#include <stdexcept>

#include "avw/core/admission.hpp"
#include "support/net/fake_api_server.hpp"

namespace avw::test {

std::optional<std::uint16_t> logged_port(const std::string& log_file) {
  static const std::regex kListening(R"re("msg":"listening","address":"127\.0\.0\.1:(\d+)")re");
  std::smatch m;
  std::string log;
  try {
    log = read_file(log_file);
  } catch (const std::runtime_error&) {
    return std::nullopt;  // not created yet
  }
  if (!std::regex_search(log, m, kListening)) return std::nullopt;
  return static_cast<std::uint16_t>(std::stoi(m[1].str()));
}

std::string kubeconfig_for(const FakeApiServer& api) {
  return "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
         "clusters:\n- name: fake\n  cluster:\n    server: " + api.url() +
         "\n    certificate-authority-data: " + core::base64_encode(api.ca_pem()) +
         "\nusers:\n- name: webhook\n  user:\n    token: " + api.token() +
         "\ncontexts:\n- name: test\n  context:\n    cluster: fake\n    user: webhook\n";
}

WebhookOptions with_api(const FakeApiServer& api, std::vector<std::string> args) {
  WebhookOptions o;
  o.api = &api;
  o.args = std::move(args);
  return o;
}

WebhookOptions with_recommendations(std::string json, std::vector<std::string> args) {
  WebhookOptions o;
  o.recommendations = std::move(json);
  o.args = std::move(args);
  return o;
}

WebhookProcess::WebhookProcess(const WebhookOptions& options) {
  ca.write_certificate(ca_file);
  ca.issue(cert_file, key_file, server_certificate(options.certificate_serial));
  std::vector<std::string> argv = {AVW_BINARY, "serve", "--listen", "127.0.0.1:0", "--tls-cert", cert_file,
                                   "--tls-key", key_file};
  if (options.api != nullptr) {
    write_file_atomic(dir.file("kubeconfig"), kubeconfig_for(*options.api));
    argv.insert(argv.end(), {"--kubeconfig", dir.file("kubeconfig")});
  } else {
    write_file_atomic(dir.file("recommendations.json"), options.recommendations);
    argv.insert(argv.end(), {"--recommendations", dir.file("recommendations.json")});
  }
  argv.insert(argv.end(), {"--threads", "2", "--log-format", "json"});
  argv.insert(argv.end(), options.args.begin(), options.args.end());
  process_ = std::make_unique<Subprocess>(argv, stdio("/dev/null", log_file));
  const bool up = eventually([&] { return logged_port(log_file).has_value() || process_->wait_for({}).has_value(); },
                             options.start_timeout);
  const auto port = logged_port(log_file);
  if (!up || !port) throw std::runtime_error("airflow-vpa-webhook did not start listening; its log:\n" + log());
  port_ = *port;
}

WebhookProcess::~WebhookProcess() {
  // Only a child still running: an exited one is reaped, and its pid may be someone else's.
  if (process_->wait_for({})) return;
  process_->signal(SIGTERM);
  process_->wait_for(std::chrono::seconds(20));
}

std::string WebhookProcess::log() const {
  try {
    return read_file(log_file);
  } catch (const std::runtime_error&) {
    return {};
  }
}

}  // namespace avw::test
