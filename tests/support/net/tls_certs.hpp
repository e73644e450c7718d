// File: tls_certs.hpp
//
// Certificates made in-process with OpenSSL 3 (EVP_PKEY_Q_keygen + X509_sign, every call
// checked) and written as PEM files into a temporary directory, so TLS tests need no
// fixtures and no openssl binary.
//
//   TempDir dir;
//   TestCa ca;
//   ca.write_certificate(dir.file("ca.pem"));
//   ca.issue(dir.file("tls.crt"), dir.file("tls.key"), server_certificate(7));
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace avw::test {

/// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

/// Writes `content` to a temporary file beside `path` and renames it over `path`, so a
/// reader polling the file sees the old or the new content, never half of it.
void write_file_atomic(const std::string& path, std::string_view content);
std::string read_file(const std::string& path);

struct IssueOptions {
  std::string common_name = "localhost";
  std::vector<std::string> dns_names = {"localhost"};
  std::vector<std::string> ip_addresses = {"127.0.0.1"};
  std::uint64_t serial = 2;
  bool client = false;  // extendedKeyUsage clientAuth instead of serverAuth
};

/// A serving certificate for localhost and 127.0.0.1 with this serial.
inline IssueOptions server_certificate(std::uint64_t serial) {
  IssueOptions o;
  o.serial = serial;
  return o;
}

/// A client certificate (clientAuth) for `common_name`.
inline IssueOptions client_certificate(std::string common_name, std::uint64_t serial) {
  IssueOptions o;
  o.common_name = std::move(common_name);
  o.dns_names.clear();
  o.ip_addresses.clear();
  o.serial = serial;
  o.client = true;
  return o;
}

/// A self-signed CA (EC P-256) that issues leaf certificates.
class TestCa {
 public:
  explicit TestCa(std::string_view common_name = "avw test CA", std::uint64_t serial = 1);
  ~TestCa();
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  void write_certificate(const std::string& path) const;
  /// Issues a certificate with a new key; writes both (atomically, certificate first).
  void issue(const std::string& cert_path, const std::string& key_path, const IssueOptions& options) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// What every test server is given: a temporary directory with a fresh CA (`ca.pem`) and a
/// serving certificate it issued for localhost and 127.0.0.1 (`tls.crt`, `tls.key`).
struct ServerFiles {
  explicit ServerFiles(std::uint64_t certificate_serial) {
    ca.write_certificate(ca_file);
    ca.issue(cert_file, key_file, server_certificate(certificate_serial));
  }

  TempDir dir;
  TestCa ca;
  std::string ca_file = dir.file("ca.pem");
  std::string cert_file = dir.file("tls.crt");
  std::string key_file = dir.file("tls.key");
};

/// Polls `condition` every few milliseconds until it holds or `timeout` passes. The
/// synchronisation tests use instead of sleeping for a guessed time.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(20));

}  // namespace avw::test
