#include "avw/kube/config.hpp"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "avw/core/base64.hpp"

namespace avw::kube {
namespace {

namespace fs = std::filesystem;

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::string read_file(const fs::path& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(std::string(what) + ": cannot read " + path.string());
  std::ostringstream out;
  out << in.rdbuf();
  return std::move(out).str();
}

// kubectl resolves relative paths in a kubeconfig against the file's directory.
std::string resolve(const std::string& path, const fs::path& base_dir) {
  if (path.empty()) return path;
  fs::path p(path);
  if (p.is_absolute() || base_dir.empty()) return path;
  return (base_dir / p).lexically_normal().string();
}

// A scalar field of a kubeconfig map, or "" when absent. Anything but a scalar is an error:
// a list where a path is expected means the file is not what the user thinks it is.
std::string scalar(const YAML::Node& map, const char* key, std::string_view where) {
  const YAML::Node n = map[key];
  if (!n || n.IsNull()) return {};
  if (!n.IsScalar()) {
    throw ConfigError("kubeconfig: " + std::string(where) + "." + key + " is not a string");
  }
  return n.Scalar();
}

std::optional<bool> boolean(const YAML::Node& map, const char* key, std::string_view where) {
  const YAML::Node n = map[key];
  if (!n || n.IsNull()) return std::nullopt;
  bool value = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, value)) {
    throw ConfigError("kubeconfig: " + std::string(where) + "." + key + " is not a boolean");
  }
  return value;
}

std::string decode_data(const std::string& b64, std::string_view where) {
  std::string compact;
  compact.reserve(b64.size());
  for (char c : b64) {
    if (!std::isspace(static_cast<unsigned char>(c))) compact.push_back(c);
  }
  auto decoded = core::base64_decode(compact);
  if (!decoded) throw ConfigError("kubeconfig: " + std::string(where) + " is not valid base64");
  return std::move(*decoded);
}

// The entry of a named list (`clusters`, `contexts`, `users`) with this name; its inner map
// (`cluster`, `context`, `user`) is returned.
YAML::Node find_named(const YAML::Node& root, const char* list, const char* inner,
                      const std::string& name) {
  const YAML::Node entries = root[list];
  if (entries && !entries.IsNull() && !entries.IsSequence()) {
    throw ConfigError(std::string("kubeconfig: ") + list + " is not a list");
  }
  if (entries) {
    for (const auto& entry : entries) {
      if (!entry.IsMap()) continue;
      const YAML::Node n = entry["name"];
      if (n && n.IsScalar() && n.Scalar() == name) {
        const YAML::Node body = entry[inner];
        if (!body || body.IsNull()) return YAML::Node(YAML::NodeType::Map);
        if (!body.IsMap()) {
          throw ConfigError(std::string("kubeconfig: ") + list + " entry \"" + name + "\" has no " +
                            inner + " map");
        }
        return body;
      }
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

ClusterConfig parse_root(const YAML::Node& root, const fs::path& base_dir) {
  if (!root.IsMap()) throw ConfigError("kubeconfig: the document is not a map");
  const std::string context_name = scalar(root, "current-context", "");
  if (context_name.empty()) {
    throw ConfigError("kubeconfig: no current-context is set (kubectl config use-context NAME)");
  }
  const YAML::Node context = find_named(root, "contexts", "context", context_name);
  if (!context.IsDefined()) {
    throw ConfigError("kubeconfig: current-context \"" + context_name + "\" is not in contexts");
  }
  const std::string where_context = "context \"" + context_name + "\"";
  const std::string cluster_name = scalar(context, "cluster", where_context);
  if (cluster_name.empty()) throw ConfigError("kubeconfig: " + where_context + " names no cluster");
  const YAML::Node cluster = find_named(root, "clusters", "cluster", cluster_name);
  if (!cluster.IsDefined()) {
    throw ConfigError("kubeconfig: cluster \"" + cluster_name + "\" of " + where_context +
                      " is not in clusters");
  }

  ClusterConfig config;
  config.namespace_ = scalar(context, "namespace", where_context);

  const std::string where_cluster = "cluster \"" + cluster_name + "\"";
  config.server = scalar(cluster, "server", where_cluster);
  if (config.server.empty()) throw ConfigError("kubeconfig: " + where_cluster + " has no server");
  parse_server_url(config.server);  // fail now, with the file's context, not at first request
  config.ca_file = resolve(scalar(cluster, "certificate-authority", where_cluster), base_dir);
  const std::string ca_data = scalar(cluster, "certificate-authority-data", where_cluster);
  if (!ca_data.empty()) {
    config.ca_data = decode_data(ca_data, where_cluster + ".certificate-authority-data");
  }
  config.insecure_skip_tls_verify =
      boolean(cluster, "insecure-skip-tls-verify", where_cluster).value_or(false);
  config.tls_server_name = scalar(cluster, "tls-server-name", where_cluster);
  if (!scalar(cluster, "proxy-url", where_cluster).empty()) {
    throw ConfigError("kubeconfig: " + where_cluster + ": proxy-url is not supported");
  }

  const std::string user_name = scalar(context, "user", where_context);
  if (user_name.empty()) return config;  // anonymous: RBAC decides what it may read
  const YAML::Node user = find_named(root, "users", "user", user_name);
  if (!user.IsDefined()) {
    throw ConfigError("kubeconfig: user \"" + user_name + "\" of " + where_context +
                      " is not in users");
  }
  const std::string where_user = "user \"" + user_name + "\"";
  if (user["exec"] && !user["exec"].IsNull()) {
    throw ConfigError("kubeconfig: " + where_user +
                      " uses an exec credential plugin, which is not supported; use a token, "
                      "tokenFile or client certificate (e.g. a ServiceAccount token)");
  }
  if (user["auth-provider"] && !user["auth-provider"].IsNull()) {
    throw ConfigError("kubeconfig: " + where_user +
                      " uses an auth-provider plugin, which is not supported; use a token, "
                      "tokenFile or client certificate");
  }
  if (!scalar(user, "username", where_user).empty() || !scalar(user, "password", where_user).empty()) {
    throw ConfigError("kubeconfig: " + where_user +
                      " uses basic authentication, which is not supported; use a token, "
                      "tokenFile or client certificate");
  }
  config.token = trim(scalar(user, "token", where_user));
  if (config.token.empty()) config.token_file = resolve(scalar(user, "tokenFile", where_user), base_dir);

  config.client_cert_file = resolve(scalar(user, "client-certificate", where_user), base_dir);
  const std::string cert_data = scalar(user, "client-certificate-data", where_user);
  if (!cert_data.empty()) {
    config.client_cert_data = decode_data(cert_data, where_user + ".client-certificate-data");
  }
  config.client_key_file = resolve(scalar(user, "client-key", where_user), base_dir);
  const std::string key_data = scalar(user, "client-key-data", where_user);
  if (!key_data.empty()) config.client_key_data = decode_data(key_data, where_user + ".client-key-data");

  const bool has_cert = !config.client_cert_file.empty() || !config.client_cert_data.empty();
  const bool has_key = !config.client_key_file.empty() || !config.client_key_data.empty();
  if (has_cert != has_key) {
    throw ConfigError("kubeconfig: " + where_user + " has a client " +
                      (has_cert ? "certificate but no client-key" : "key but no client-certificate"));
  }
  return config;
}

}  // namespace

ServerAddress parse_server_url(std::string_view server) {
  constexpr std::string_view kScheme = "https://";
  if (server.substr(0, kScheme.size()) != kScheme) {
    throw ConfigError("server \"" + std::string(server) + "\" is not an https:// URL");
  }
  std::string_view rest = server.substr(kScheme.size());
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (path.find_first_of("?#") != std::string_view::npos) {
    throw ConfigError("server \"" + std::string(server) + "\" has a query or fragment");
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);

  ServerAddress address;
  address.base_path = std::string(path);
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      throw ConfigError("server \"" + std::string(server) + "\" has an unclosed IPv6 bracket");
    }
    address.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        throw ConfigError("server \"" + std::string(server) + "\" is not host[:port]");
      }
      port = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      address.host = std::string(authority.substr(0, colon));
      port = authority.substr(colon + 1);
    } else {
      address.host = std::string(authority);
    }
  }
  if (address.host.empty() || address.host.find('@') != std::string::npos) {
    throw ConfigError("server \"" + std::string(server) + "\" has no usable host");
  }
  if (port.empty()) {
    address.port = "443";
  } else {
    if (port.size() > 5) throw ConfigError("server \"" + std::string(server) + "\" has a bad port");
    unsigned value = 0;
    for (char c : port) {
      if (c < '0' || c > '9') throw ConfigError("server \"" + std::string(server) + "\" has a bad port");
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) {
      throw ConfigError("server \"" + std::string(server) + "\" has a bad port");
    }
    address.port = std::string(port);
  }
  return address;
}

ClusterConfig parse_kubeconfig(std::string_view yaml, const fs::path& base_dir) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    throw ConfigError(std::string("kubeconfig: not valid YAML: ") + e.what());
  }
  try {
    return parse_root(root, base_dir);
  } catch (const YAML::Exception& e) {
    // yaml-cpp throws on shape surprises (e.g. indexing a scalar); report them the same way.
    throw ConfigError(std::string("kubeconfig: unexpected structure: ") + e.what());
  }
}

ClusterConfig load_kubeconfig(const fs::path& path) {
  const std::string text = read_file(path, "kubeconfig");
  return parse_kubeconfig(text, path.parent_path());
}

ClusterConfig in_cluster_config(std::string_view host, std::string_view port,
                                const InClusterPaths& paths) {
  if (host.empty() || port.empty()) {
    throw ConfigError(
        "not running in a Kubernetes cluster: KUBERNETES_SERVICE_HOST and "
        "KUBERNETES_SERVICE_PORT are not set (use --kubeconfig FILE outside a cluster)");
  }
  ClusterConfig config;
  const bool ipv6 = host.find(':') != std::string_view::npos;
  config.server = "https://" + (ipv6 ? "[" + std::string(host) + "]" : std::string(host)) + ":" +
                  std::string(port);
  parse_server_url(config.server);
  // Read both files now so a missing service-account mount fails at start-up, clearly.
  if (trim(read_file(paths.token, "service account token")).empty()) {
    throw ConfigError("service account token " + paths.token.string() + " is empty");
  }
  config.token_file = paths.token.string();
  read_file(paths.ca, "service account CA");
  config.ca_file = paths.ca.string();
  std::error_code ec;
  if (fs::exists(paths.namespace_, ec)) {
    config.namespace_ = trim(read_file(paths.namespace_, "service account namespace"));
  }
  return config;
}

ClusterConfig load_in_cluster_config(const InClusterPaths& paths) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  return in_cluster_config(host ? host : "", port ? port : "", paths);
}

}  // namespace avw::kube
