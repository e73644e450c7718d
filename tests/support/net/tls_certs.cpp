#include "support/net/tls_certs.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <thread>

namespace avw::test {
namespace {

[[noreturn]] void openssl_fail(std::string_view what) {
  char buf[256] = {0};
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  throw std::runtime_error("OpenSSL: " + std::string(what) + ": " + buf);
}

void check(int ok, std::string_view what) {
  if (ok <= 0) openssl_fail(what);
}

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* c) const { X509_free(c); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

Key new_key() {
  Key key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) openssl_fail("EVP_PKEY_Q_keygen");
  return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) openssl_fail("X509V3_EXT_conf_nid " + value);
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  check(ok, "X509_add_ext");
}

// A certificate for `key` named `cn`; self-signed when issuer is null.
Cert make_cert(EVP_PKEY* key, std::string_view cn, std::uint64_t serial, X509* issuer) {
  Cert cert(X509_new());
  if (!cert) openssl_fail("X509_new");
  X509* x = cert.get();
  check(X509_set_version(x, X509_VERSION_3), "X509_set_version");
  check(ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial), "serial");
  if (X509_gmtime_adj(X509_getm_notBefore(x), -3600) == nullptr) openssl_fail("notBefore");
  if (X509_gmtime_adj(X509_getm_notAfter(x), 7L * 24 * 3600) == nullptr) openssl_fail("notAfter");
  check(X509_set_pubkey(x, key), "X509_set_pubkey");
  X509_NAME* name = X509_get_subject_name(x);
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.data()),
                                   static_cast<int>(cn.size()), -1, 0),
        "subject CN");
  check(X509_set_issuer_name(x, issuer != nullptr ? X509_get_subject_name(issuer) : name), "issuer");
  X509* signer = issuer != nullptr ? issuer : x;
  add_extension(x, signer, NID_subject_key_identifier, "hash");
  if (issuer == nullptr) {
    add_extension(x, signer, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  }
  return cert;
}

void sign(X509* cert, EVP_PKEY* key) {
  if (X509_sign(cert, key, EVP_sha256()) <= 0) openssl_fail("X509_sign");
}

std::string cert_pem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) openssl_fail("BIO_new");
  const int ok = PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  const long n = BIO_ctrl(bio, BIO_CTRL_INFO, 0, static_cast<void*>(&data));
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  check(ok, "PEM_write_bio_X509");
  return out;
}

std::string key_pem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) openssl_fail("BIO_new");
  const int ok = PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_ctrl(bio, BIO_CTRL_INFO, 0, static_cast<void*>(&data));
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  check(ok, "PEM_write_bio_PrivateKey");
  return out;
}

}  // namespace

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/avw-test-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + templ);
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_file_atomic(const std::string& path, std::string_view content) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct TestCa::Impl {
  Key key;
  Cert cert;
};

TestCa::TestCa(std::string_view common_name, std::uint64_t serial) : impl_(std::make_unique<Impl>()) {
  impl_->key = new_key();
  impl_->cert = make_cert(impl_->key.get(), common_name, serial, nullptr);
  sign(impl_->cert.get(), impl_->key.get());
}

TestCa::~TestCa() = default;

void TestCa::write_certificate(const std::string& path) const { write_file_atomic(path, cert_pem(impl_->cert.get())); }

void TestCa::issue(const std::string& cert_path, const std::string& key_path, const IssueOptions& options) const {
  Key key = new_key();
  Cert cert = make_cert(key.get(), options.common_name, options.serial, impl_->cert.get());
  std::string sans;
  for (const auto& d : options.dns_names) sans += (sans.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const auto& ip : options.ip_addresses) sans += (sans.empty() ? "" : ",") + std::string("IP:") + ip;
  if (!sans.empty()) add_extension(cert.get(), impl_->cert.get(), NID_subject_alt_name, sans);
  add_extension(cert.get(), impl_->cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert.get(), impl_->cert.get(), NID_key_usage, "critical,digitalSignature");
  add_extension(cert.get(), impl_->cert.get(), NID_ext_key_usage, options.client ? "clientAuth" : "serverAuth");
  add_extension(cert.get(), impl_->cert.get(), NID_authority_key_identifier, "keyid:always");
  sign(cert.get(), impl_->key.get());
  write_file_atomic(cert_path, cert_pem(cert.get()));
  write_file_atomic(key_path, key_pem(key.get()));
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace avw::test
