// File: harness.hpp
//
// What the tests of the Kubernetes client need beside the fake API server: a cluster
// configuration that reaches it, and a scratch directory for token and kubeconfig files.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "avw/kube/config.hpp"
#include "support/net/fake_api_server.hpp"

namespace avw::test {

inline kube::ClusterConfig config_for(const FakeApiServer& api) {
  kube::ClusterConfig c;
  c.server = api.url();
  c.ca_data = api.ca_pem();
  c.token = api.token();
  return c;
}

/// A temporary directory removed at the end of the test.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "avw-kube-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path write(const std::string& name, const std::string& content) const {
    const auto p = path_ / name;
    // Write a new file and rename it over the old one, as the kubelet swaps projected tokens.
    const auto tmp = path_ / (name + ".tmp");
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << content;
    }
    std::filesystem::rename(tmp, p);
    return p;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace avw::test
