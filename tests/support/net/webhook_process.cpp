#include "support/net/webhook_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <regex>
#include <stdexcept>

#include "avw/core/base64.hpp"
#include "support/net/fake_api_server.hpp"

namespace avw::test {

std::optional<std::uint16_t> listening_port(const std::string& log) {
  static const std::regex kListening(R"re("msg":"listening","address":"127\.0\.0\.1:(\d+)")re");
  std::smatch m;
  if (!std::regex_search(log, m, kListening)) return std::nullopt;
  return static_cast<std::uint16_t>(std::stoi(m[1].str()));
}

std::optional<std::uint16_t> logged_port(const std::string& log_file) {
  try {
    return listening_port(read_file(log_file));
  } catch (const std::runtime_error&) {
    return std::nullopt;  // not created yet
  }
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

WebhookProcess::WebhookProcess(const WebhookOptions& options) : ServerFiles(options.certificate_serial) {
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
  if (!options.on_log_line) {
    process_ = std::make_unique<Subprocess>(argv, stdio("/dev/null", log_file));
  } else {
    // Both ends close on exec; the child opens the write end again by name before its exec.
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    try {
      process_ = std::make_unique<Subprocess>(argv, stdio("/dev/null", "/proc/self/fd/" + std::to_string(fds[1])));
    } catch (...) {
      ::close(fds[0]);
      ::close(fds[1]);
      throw;
    }
    ::close(fds[1]);  // the child's copy is the only writer now: its exit is the reader's EOF
    log_reader_ = std::thread([this, fd = fds[0], on_line = options.on_log_line] { read_log(fd, on_line); });
  }
  auto port = [&]() -> std::optional<std::uint16_t> {
    if (!options.on_log_line) return logged_port(log_file);
    if (const auto p = piped_port_.load(); p != 0) return p;
    return std::nullopt;
  };
  const bool up = eventually([&] { return port().has_value() || process_->wait_for({}).has_value(); },
                             options.start_timeout);
  if (!up || !port()) throw std::runtime_error("airflow-vpa-webhook did not start listening; its log:\n" + log());
  port_ = *port();
}

void WebhookProcess::read_log(int fd, std::function<void(std::string_view)> on_line) {
  std::string pending;
  char buf[16 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n', start)) {
      const std::string line = pending.substr(start, nl - start);
      if (piped_port_.load() == 0) {
        if (const auto p = listening_port(line)) piped_port_ = *p;
      }
      on_line(line);
      start = nl + 1;
    }
    pending.erase(0, start);
  }
  ::close(fd);
}

WebhookProcess::~WebhookProcess() {
  // Only a child still running: an exited one is reaped, and its pid may be someone else's.
  if (!process_->wait_for({})) {
    process_->signal(SIGTERM);
    process_->wait_for(std::chrono::seconds(20));
  }
  process_.reset();  // killed if it still runs: the log pipe ends
  if (log_reader_.joinable()) log_reader_.join();
}

std::string WebhookProcess::log() const {
  try {
    return read_file(log_file);
  } catch (const std::runtime_error&) {
    return {};
  }
}

}  // namespace avw::test
