#include "avw/kube/config.hpp"

#include <string>

#include <catch2/catch.hpp>

#include "avw/core/base64.hpp"

namespace {

using avw::kube::ClusterConfig;
using avw::kube::ConfigError;
using avw::kube::parse_kubeconfig;
using Catch::Matchers::Contains;

// A kubeconfig with one context; `cluster` and `user` are the indented bodies of the maps.
std::string kubeconfig(const std::string& cluster, const std::string& user,
                       const std::string& extra_context = "") {
  return "apiVersion: v1\n"
         "kind: Config\n"
         "current-context: lab\n"
         "contexts:\n"
         "- name: other\n"
         "  context: {cluster: nowhere, user: nobody}\n"
         "- name: lab\n"
         "  context:\n"
         "    cluster: lab-cluster\n"
         "    user: lab-user\n" +
         extra_context +
         "clusters:\n"
         "- name: lab-cluster\n"
         "  cluster:\n" +
         cluster +
         "users:\n"
         "- name: lab-user\n"
         "  user:\n" +
         user;
}

const std::string kServer = "    server: https://127.0.0.1:6443\n";

}  // namespace

TEST_CASE("a kubeconfig with inline CA and token resolves the current context", "[kube][config]") {
  const std::string ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  const auto text = kubeconfig(kServer + "    certificate-authority-data: " + avw::core::base64_encode(ca) + "\n",
                               "    token: abc.def\n", "    namespace: airflow\n");
  const ClusterConfig c = parse_kubeconfig(text, "/home/me/.kube");
  CHECK(c.server == "https://127.0.0.1:6443");
  CHECK(c.ca_data == ca);
  CHECK(c.ca_file.empty());
  CHECK(c.token == "abc.def");
  CHECK(c.token_file.empty());
  CHECK(c.namespace_ == "airflow");
  CHECK_FALSE(c.insecure_skip_tls_verify);
}

TEST_CASE("relative file paths in a kubeconfig are relative to its directory", "[kube][config]") {
  const auto text = kubeconfig(kServer + "    certificate-authority: certs/ca.crt\n",
                               "    tokenFile: ../token\n"
                               "    client-certificate: /abs/client.crt\n"
                               "    client-key: client.key\n");
  const ClusterConfig c = parse_kubeconfig(text, "/etc/kube");
  CHECK(c.ca_file == "/etc/kube/certs/ca.crt");
  CHECK(c.token_file == "/etc/token");
  CHECK(c.client_cert_file == "/abs/client.crt");
  CHECK(c.client_key_file == "/etc/kube/client.key");
}

TEST_CASE("client certificate data and TLS options are read", "[kube][config]") {
  const auto text = kubeconfig(kServer + "    insecure-skip-tls-verify: true\n    tls-server-name: api.lab\n",
                               "    client-certificate-data: " + avw::core::base64_encode("CERT") + "\n" +
                                   "    client-key-data: " + avw::core::base64_encode("KEY") + "\n");
  const ClusterConfig c = parse_kubeconfig(text, "");
  CHECK(c.insecure_skip_tls_verify);
  CHECK(c.tls_server_name == "api.lab");
  CHECK(c.client_cert_data == "CERT");
  CHECK(c.client_key_data == "KEY");
  CHECK(c.token.empty());
}

TEST_CASE("a token takes precedence over a token file", "[kube][config]") {
  const ClusterConfig c =
      parse_kubeconfig(kubeconfig(kServer, "    token: t1\n    tokenFile: /var/token\n"), "/x");
  CHECK(c.token == "t1");
  CHECK(c.token_file.empty());
}

TEST_CASE("a kubeconfig that cannot be used fails with a message saying why", "[kube][config]") {
  const auto [text, message] = GENERATE(table<std::string, std::string>({
      {"current-context: ''\n", "no current-context"},
      {"{current-context: missing, contexts: []}\n", "\"missing\" is not in contexts"},
      {"current-context: [1, 2]\n", "current-context is not a string"},
      {"- a\n- b\n", "not a map"},
      {"current-context: x\n  bad: : indentation\n", "not valid YAML"},
      {kubeconfig("    certificate-authority: ca.crt\n", "    token: t\n"), "has no server"},
      {kubeconfig("    server: http://127.0.0.1:8080\n", "    token: t\n"), "not an https:// URL"},
      {kubeconfig("    server: https://127.0.0.1:99999\n", "    token: t\n"), "bad port"},
      {kubeconfig(kServer + "    certificate-authority-data: '%%%'\n", "    token: t\n"), "not valid base64"},
      {kubeconfig(kServer, "    exec:\n      command: aws\n"), "exec credential plugin"},
      {kubeconfig(kServer, "    auth-provider:\n      name: gcp\n"), "auth-provider plugin"},
      {kubeconfig(kServer, "    username: admin\n    password: secret\n"), "basic authentication"},
      {kubeconfig(kServer, "    client-certificate: c.crt\n"), "no client-key"},
      {kubeconfig(kServer, "    client-key-data: " + avw::core::base64_encode("K") + "\n"), "no client-certificate"},
      {kubeconfig(kServer + "    insecure-skip-tls-verify: maybe\n", "    token: t\n"), "not a boolean"},
      {kubeconfig(kServer + "    proxy-url: http://proxy:3128\n", "    token: t\n"), "proxy-url"},
  }));
  CAPTURE(text);
  CHECK_THROWS_WITH(parse_kubeconfig(text, "/x"), Contains(message));
}

TEST_CASE("a context naming a missing cluster or user is refused", "[kube][config]") {
  const std::string base =
      "current-context: c\n"
      "contexts:\n- name: c\n  context: {cluster: k, user: u}\n";
  CHECK_THROWS_WITH(parse_kubeconfig(base, "/"), Contains("cluster \"k\"") && Contains("not in clusters"));
  CHECK_THROWS_WITH(parse_kubeconfig(base + "clusters:\n- name: k\n  cluster: {server: 'https://h'}\n", "/"),
                    Contains("user \"u\"") && Contains("not in users"));
}

TEST_CASE("a context without a user is anonymous", "[kube][config]") {
  const ClusterConfig c = parse_kubeconfig(
      "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n"
      "clusters:\n- name: k\n  cluster: {server: 'https://api.example.com'}\n",
      "/");
  CHECK(c.server == "https://api.example.com");
  CHECK(c.token.empty());
  CHECK(c.token_file.empty());
}

TEST_CASE("server URLs split into host, port and path prefix", "[kube][config]") {
  const auto [url, host, port, path] = GENERATE(table<std::string, std::string, std::string, std::string>({
      {"https://10.96.0.1:443", "10.96.0.1", "443", ""},
      {"https://api.example.com", "api.example.com", "443", ""},
      {"https://api.example.com:6443/", "api.example.com", "6443", ""},
      {"https://[fd00::1]:6443", "fd00::1", "6443", ""},
      {"https://[fd00::1]", "fd00::1", "443", ""},
      {"https://rancher.example.com/k8s/clusters/c-1/", "rancher.example.com", "443", "/k8s/clusters/c-1"},
  }));
  const auto a = avw::kube::parse_server_url(url);
  CHECK(a.host == host);
  CHECK(a.port == port);
  CHECK(a.base_path == path);
}

TEST_CASE("unusable server URLs are refused", "[kube][config]") {
  const auto url = GENERATE(as<std::string>{}, "", "api:443", "http://api", "https://", "https://:443",
                            "https://api:0", "https://api:x", "https://[fd00::1", "https://[::1]x",
                            "https://api/?q", "https://user@api");
  CAPTURE(url);
  CHECK_THROWS_AS(avw::kube::parse_server_url(url), ConfigError);
}

TEST_CASE("outside a cluster the in-cluster configuration says to use a kubeconfig", "[kube][config]") {
  CHECK_THROWS_WITH(avw::kube::in_cluster_config("", "443", {}), Contains("--kubeconfig"));
  CHECK_THROWS_WITH(avw::kube::in_cluster_config("10.96.0.1", "", {}), Contains("KUBERNETES_SERVICE_HOST"));
}
