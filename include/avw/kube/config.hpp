// File: config.hpp
//
// Where the Kubernetes API server is and how to authenticate to it: the in-cluster service
// account (KUBERNETES_SERVICE_HOST/PORT and the files under
// /var/run/secrets/kubernetes.io/serviceaccount) or a kubeconfig file (`--kubeconfig FILE`).
//
// Only what the webhook needs is supported: a server URL, a CA (file or inline data, or
// insecure-skip-tls-verify), and a bearer token (inline or a token file) or a client
// certificate. Exec and auth-provider plugins run foreign programs with their own caching
// rules; they are refused with a clear message instead of being half supported.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

namespace avw::kube {

/// A configuration that cannot be used: the message says what is missing or wrong.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ClusterConfig {
  std::string server;           // "https://10.96.0.1:443"
  std::string ca_file;          // PEM bundle to verify the server with, or
  std::string ca_data;          // the PEM itself; neither: the system trust store
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;  // SNI and verified name; empty: the server URL's host
  std::string token;            // a static bearer token, or
  std::string token_file;       // a file holding it, re-read when it changes (projected tokens rotate)
  std::string client_cert_file;
  std::string client_cert_data;  // PEM
  std::string client_key_file;
  std::string client_key_data;  // PEM
  std::string namespace_;       // the service account's or the context's namespace (may be empty)
};

/// How the client talks to the API server (timeouts, limits, token refresh).
struct ClientOptions {
  std::chrono::milliseconds connect_timeout{10'000};  // TCP connect + TLS handshake
  std::chrono::milliseconds request_timeout{30'000};  // write + whole response
  /// A list page of 500 objects with managedFields is a few MiB; checkpoints are larger.
  std::size_t max_response_body = std::size_t{64} << 20;
  std::size_t max_idle_connections = 4;
  /// The token file is re-read when its modification time changes, and at least this often
  /// (a projected token is rewritten through a symlink swap that some filesystems hide).
  std::chrono::seconds token_reload{60};
  std::string user_agent = "airflow-vpa-webhook";
};

/// Files of the in-cluster service account; overridable for tests.
struct InClusterPaths {
  std::filesystem::path token = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::filesystem::path ca = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  std::filesystem::path namespace_ = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
};

/// The service account configuration from the environment (KUBERNETES_SERVICE_HOST,
/// KUBERNETES_SERVICE_PORT) and the mounted files. Throws ConfigError when not in a cluster.
ClusterConfig load_in_cluster_config(const InClusterPaths& paths = {});
/// The same from explicit values (what load_in_cluster_config reads from the environment).
ClusterConfig in_cluster_config(std::string_view host, std::string_view port,
                                const InClusterPaths& paths);

/// Reads a kubeconfig file and resolves its current context. Relative file paths in it are
/// relative to the file's directory, as kubectl resolves them. Throws ConfigError.
ClusterConfig load_kubeconfig(const std::filesystem::path& path);
/// Parses kubeconfig YAML text; `base_dir` resolves relative paths. Reads no file itself.
ClusterConfig parse_kubeconfig(std::string_view yaml, const std::filesystem::path& base_dir);

/// Splits "https://host:port/prefix" (port defaults to 443; IPv6 in brackets; a path prefix,
/// as some API proxies use, is kept for every request). Throws ConfigError.
struct ServerAddress {
  std::string host;  // without brackets
  std::string port;
  std::string base_path;  // "" or "/k8s/clusters/c-1" (no trailing slash)
};
ServerAddress parse_server_url(std::string_view server);

}  // namespace avw::kube
