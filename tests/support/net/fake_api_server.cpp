#include "support/net/fake_api_server.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "support/fixtures.hpp"

namespace avw::test {
namespace {

namespace net = boost::asio;       // from <boost/asio.hpp>
namespace beast = boost::beast;    // from <boost/beast.hpp>
namespace http = beast::http;      // from <boost/beast/http.hpp>
namespace ssl = boost::asio::ssl;  // from <boost/asio/ssl.hpp>
using tcp = net::ip::tcp;
using Stream = beast::ssl_stream<beast::tcp_stream>;
using namespace std::chrono_literals;

inline constexpr auto use_nothrow_awaitable = net::as_tuple(net::use_awaitable);

// ---- certificates, made in process with OpenSSL 3 ---------------------------------------

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* c) const { X509_free(c); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using CertPtr = std::unique_ptr<X509, CertFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("fake API server: OpenSSL failed to ") + what);
}

KeyPtr make_key() {
  KeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  check(key != nullptr, "generate a key");
  return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  check(ext != nullptr, "make an extension");
  const int added = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  check(added == 1, "add an extension");
}

// A certificate for `key` named `cn`, signed by issuer (self-signed when issuer is null).
CertPtr make_cert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key, long serial,
                  bool ca, const char* san, const char* usage) {
  CertPtr cert(X509_new());
  check(cert != nullptr, "allocate a certificate");
  check(X509_set_version(cert.get(), 2) == 1, "set the version");
  check(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial) == 1, "set the serial");
  check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) != nullptr, "set notBefore");
  check(X509_gmtime_adj(X509_getm_notAfter(cert.get()), 7L * 24 * 3600) != nullptr, "set notAfter");
  check(X509_set_pubkey(cert.get(), key) == 1, "set the public key");
  X509_NAME* name = X509_get_subject_name(cert.get());
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()),
                                   -1, -1, 0) == 1,
        "set the subject");
  X509* signer = issuer != nullptr ? issuer : cert.get();
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) == 1, "set the issuer");
  add_extension(cert.get(), signer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_extension(cert.get(), signer, NID_key_usage,
                ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,keyEncipherment");
  if (usage != nullptr) add_extension(cert.get(), signer, NID_ext_key_usage, usage);
  if (san != nullptr) add_extension(cert.get(), signer, NID_subject_alt_name, san);
  check(X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0, "sign");
  return cert;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_ctrl(bio, BIO_CTRL_INFO, 0, static_cast<void*>(&data));
  check(n >= 0 && data != nullptr, "read PEM");
  return std::string(data, static_cast<std::size_t>(n));
}

std::string cert_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(bio && PEM_write_bio_X509(bio.get(), cert) == 1, "write a certificate");
  return bio_text(bio.get());
}

std::string key_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(bio && PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "write a key");
  return bio_text(bio.get());
}

// ---- JSON ---------------------------------------------------------------------------

std::string to_json(const rapidjson::Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string quote(std::string_view s) {
  rapidjson::Value v(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  return to_json(v);
}

std::string status_body(int code, std::string_view reason, std::string_view message) {
  return R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":)" + quote(message) +
         R"(,"reason":)" + quote(reason) + R"(,"code":)" + std::to_string(code) + "}";
}

std::string failure_body(int status) {
  switch (status) {
    case 401: return read_fixture("api/error-401.json");
    case 403: return read_fixture("api/error-403.json");
    case 404: return status_body(404, "NotFound", "the server could not find the requested resource");
    case 429: return status_body(429, "TooManyRequests", "the server has received too many requests");
    case 500: return status_body(500, "InternalError", "Internal error occurred: etcdserver: request timed out");
    case 503: return status_body(503, "ServiceUnavailable", "the server is currently unable to handle the request");
    default: return status_body(status, "Unknown", "injected failure");
  }
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      unsigned value = 0;
      const auto [ptr, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, value, 16);
      if (ec == std::errc() && ptr == s.data() + i + 3) {
        out.push_back(static_cast<char>(value));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i] == '+' ? ' ' : s[i]);
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    out[percent_decode(pair.substr(0, eq))] =
        eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  while (!path.empty()) {
    const auto slash = path.find('/');
    if (slash != 0) out.emplace_back(percent_decode(path.substr(0, slash)));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

std::uint64_t parse_u64(std::string_view s) {
  std::uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return 0;
  return v;
}

std::string hex(std::size_t n) {
  char buf[32];
  const auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, n, 16);
  return std::string(buf, ptr);
}

std::string chunk(std::string_view data) { return hex(data.size()) + "\r\n" + std::string(data) + "\r\n"; }

struct Collection {
  std::string api_version;  // "autoscaling.k8s.io/v1", "v1"
  std::string kind;
  std::map<std::string, std::string> objects;  // "namespace/name" -> compact JSON
  bool missing = false;
};

struct Event {
  std::uint64_t resource_version;
  std::string plural;
  std::string namespace_;
  std::string line;  // the event JSON with its "\n"
};

struct Watcher {
  explicit Watcher(net::io_context& ioc) : signal(ioc) {}
  std::string plural;
  std::string namespace_;  // empty: all namespaces
  bool bookmarks = false;
  std::uint64_t from = 0;
  std::deque<std::string> queue;
  net::steady_timer signal;  // cancelled to wake the writer
  bool expire = false;       // end with ERROR 410
  bool drop = false;         // close abruptly
  bool stalled = false;      // silent until the client closes the connection
};

}  // namespace

struct FakeApiServer::Impl {
  explicit Impl(Options opts) : options(opts) {
    ca_key = make_key();
    ca_cert = make_cert(ca_key.get(), "fake-kubernetes-ca", nullptr, nullptr, 1, true, nullptr, nullptr);
    ca = cert_pem(ca_cert.get());
    server_key = make_key();
    server_cert = make_cert(server_key.get(), "kube-apiserver", ca_cert.get(), ca_key.get(), 2, false,
                            "IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc", "serverAuth");
    const std::string chain = cert_pem(server_cert.get());
    const std::string key = key_pem(server_key.get());
    tls.use_certificate_chain(net::buffer(chain));
    tls.use_private_key(net::buffer(key), ssl::context::pem);
    tls.add_certificate_authority(net::buffer(ca));
    // Ask for a client certificate but do not require one: tokens are the usual credential.
    tls.set_verify_mode(ssl::verify_peer);

    collections["verticalpodautoscalers"] = {"autoscaling.k8s.io/v1", "VerticalPodAutoscaler", {}, false};
    collections["airflowtasks"] = {"airflow-vpa-webhook.io/v1alpha1", "AirflowTask", {}, false};
    collections["limitranges"] = {"v1", "LimitRange", {}, false};
    collections["namespaces"] = {"v1", "Namespace", {}, false};
    collections["verticalpodautoscalercheckpoints"] = {"autoscaling.k8s.io/v1", "VerticalPodAutoscalerCheckpoint",
                                                       {}, false};
    if (options.seed_fixtures) seed();
    compacted_rv = rv;
    history.clear();

    bind();
    listen();
    thread = std::thread([this] { ioc.run(); });
  }

  ~Impl() {
    run([this] {
      paused = true;
      close_all();
    });
    work.reset();
    thread.join();
  }

  template <class F>
  auto run(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    net::post(ioc, [&task] { task(); });
    return result.get();
  }

  void seed() {
    auto load = [this](const std::string& plural, std::string_view fixture) {
      rapidjson::Document doc;
      const std::string text = read_fixture(fixture);
      doc.Parse(text.data(), text.size());
      if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("items")) {
        throw std::runtime_error("fake API server: bad fixture " + std::string(fixture));
      }
      const Collection& c = collection(plural);
      for (auto& item : doc["items"].GetArray()) {
        // Typed list pages omit apiVersion and kind on their items (list-limitranges.json);
        // stored objects and watch events always carry them.
        if (!item.HasMember("kind")) {
          item.AddMember("apiVersion", rapidjson::Value(c.api_version.c_str(), doc.GetAllocator()), doc.GetAllocator());
          item.AddMember("kind", rapidjson::Value(c.kind.c_str(), doc.GetAllocator()), doc.GetAllocator());
        }
        put(plural, to_json(item), false);
      }
    };
    load("verticalpodautoscalers", "api/list-vpas-page1.json");
    load("verticalpodautoscalers", "api/list-vpas-page2.json");
    load("airflowtasks", "api/list-airflowtasks.json");
    load("limitranges", "api/list-limitranges.json");
    load("verticalpodautoscalercheckpoints", "recommender/checkpoints.json");
  }

  // Binds the port (the same one again after a pause). A bound socket that does not listen
  // refuses connections as a stopped server does, and it keeps the port: a free port can be
  // handed to any outgoing connection as its ephemeral port, and then it could not be bound
  // again when the server comes back.
  void bind() {
    const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    port = acceptor.local_endpoint().port();
  }

  void listen() {
    acceptor.listen();
    net::co_spawn(ioc, accept_loop(), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  }

  void close_all() {
    boost::system::error_code ec;
    acceptor.close(ec);
    set_hanging(false);
    for (Stream* s : sessions) beast::get_lowest_layer(*s).close();
    for (Watcher* w : watchers) {
      w->drop = true;
      w->signal.cancel();
    }
  }

  // The held operations wait on `unhang`, which never expires: they wake when it is cancelled.
  void set_hanging(bool on) {
    hanging = on;
    if (on) {
      unhang.expires_at(net::steady_timer::time_point::max());
    } else {
      unhang.cancel();
    }
  }

  net::awaitable<void> wait_while_hanging() {
    while (hanging) co_await unhang.async_wait(use_nothrow_awaitable);
  }

  Collection& collection(std::string_view plural) {
    auto it = collections.find(std::string(plural));
    if (it == collections.end()) throw std::invalid_argument("fake API server: unknown resource " + std::string(plural));
    return it->second;
  }

  // Stores an object with a new resourceVersion and records (and maybe sends) its event.
  std::string put(const std::string& plural, std::string_view json, bool notify) {
    Collection& c = collection(plural);
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("metadata") || !doc["metadata"].IsObject()) {
      throw std::invalid_argument("fake API server: not an object with metadata: " + std::string(json));
    }
    auto& meta = doc["metadata"];
    if (!meta.HasMember("name") || !meta["name"].IsString()) {
      throw std::invalid_argument("fake API server: object without metadata.name");
    }
    const std::string ns = meta.HasMember("namespace") && meta["namespace"].IsString() ? meta["namespace"].GetString() : "";
    const std::string key = ns + "/" + meta["name"].GetString();
    ++rv;
    const std::string version = std::to_string(rv);
    meta.RemoveMember("resourceVersion");
    meta.AddMember("resourceVersion", rapidjson::Value(version.c_str(), doc.GetAllocator()), doc.GetAllocator());
    std::string stored = to_json(doc);
    const bool exists = c.objects.contains(key);
    record(plural, ns, std::string(R"({"type":")") + (exists ? "MODIFIED" : "ADDED") + R"(","object":)" + stored + "}\n",
           notify);
    c.objects[key] = std::move(stored);
    return version;
  }

  bool erase(const std::string& plural, const std::string& ns, const std::string& name) {
    Collection& c = collection(plural);
    auto it = c.objects.find(ns + "/" + name);
    if (it == c.objects.end()) return false;
    rapidjson::Document doc;
    doc.Parse(it->second.data(), it->second.size());
    ++rv;
    const std::string version = std::to_string(rv);
    auto& meta = doc["metadata"];
    meta.RemoveMember("resourceVersion");
    meta.AddMember("resourceVersion", rapidjson::Value(version.c_str(), doc.GetAllocator()), doc.GetAllocator());
    record(plural, ns, R"({"type":"DELETED","object":)" + to_json(doc) + "}\n", true);
    c.objects.erase(it);
    return true;
  }

  void record(const std::string& plural, const std::string& ns, std::string line, bool notify) {
    if (notify) {
      for (Watcher* w : watchers) {
        if (!w->stalled && w->plural == plural && (w->namespace_.empty() || w->namespace_ == ns)) {
          w->queue.push_back(line);
          w->signal.cancel();
        }
      }
    }
    history.push_back(Event{rv, plural, ns, std::move(line)});
    while (history.size() > options.history) {
      compacted_rv = history.front().resource_version;
      history.pop_front();
    }
  }

  // ---- writes: POST (create), PATCH (merge patch of an object or its /status), DELETE
  // (optional preconditions; dependents named by ownerReferences go too, as the garbage
  // collector would delete them). Each one makes a new resourceVersion and an event.
  std::pair<int, std::string> write(const http::request<http::string_body>& request, const std::string& api_version,
                                    const std::string& ns, const std::string& plural, const std::string& name,
                                    const std::string& sub) {
    auto c = collections.find(plural);
    if (c == collections.end() || c->second.api_version != api_version || c->second.missing || ns.empty()) {
      return {404, failure_body(404)};
    }
    const auto slash = api_version.find('/');
    const std::string resource = plural + (slash == std::string::npos ? "" : "." + api_version.substr(0, slash));
    const http::verb verb = request.method();
    rapidjson::Document body;
    if (!request.body().empty()) {
      body.Parse(request.body().data(), request.body().size());
      if (body.HasParseError() || !body.IsObject()) {
        return {400, status_body(400, "BadRequest", "the request body is not a JSON object")};
      }
    }
    if (verb == http::verb::post && name.empty()) {
      if (!body.IsObject() || !body.HasMember("metadata") || !body["metadata"].IsObject() ||
          !body["metadata"].HasMember("name") || !body["metadata"]["name"].IsString()) {
        return {422, status_body(422, "Invalid", resource + " is invalid: metadata.name: Required value")};
      }
      auto& meta = body["metadata"];
      const std::string object_name = meta["name"].GetString();
      if (c->second.objects.contains(ns + "/" + object_name)) {
        return {409, R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":)" +
                         quote(resource + " \"" + object_name + "\" already exists") +
                         R"(,"reason":"AlreadyExists","details":{"name":)" + quote(object_name) +
                         R"(,"group":)" + quote(slash == std::string::npos ? "" : api_version.substr(0, slash)) +
                         R"(,"kind":)" + quote(plural) + R"(},"code":409})"};
      }
      auto& a = body.GetAllocator();
      for (const char* field : {"namespace", "uid", "creationTimestamp", "resourceVersion"}) meta.RemoveMember(field);
      char uid[40];
      std::snprintf(uid, sizeof uid, "00000000-0000-4000-8000-%012llx", static_cast<unsigned long long>(++uids));
      meta.AddMember("namespace", rapidjson::Value(ns.c_str(), a), a);
      meta.AddMember("uid", rapidjson::Value(uid, a), a);
      meta.AddMember("creationTimestamp", rapidjson::Value(now_rfc3339().c_str(), a), a);
      put(plural, to_json(body), true);
      return {201, c->second.objects.at(ns + "/" + object_name)};
    }
    if (name.empty() || !(sub.empty() || sub == "status")) {
      return {405, status_body(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")};
    }
    const std::string key = ns + "/" + name;
    auto it = c->second.objects.find(key);
    if (it == c->second.objects.end()) return {404, status_body(404, "NotFound", resource + " \"" + name + "\" not found")};
    rapidjson::Document stored;
    stored.Parse(it->second.data(), it->second.size());
    if (verb == http::verb::patch) {
      if (request[http::field::content_type] != "application/merge-patch+json") {
        return {415, status_body(415, "UnsupportedMediaType", "the fake only applies merge patches")};
      }
      if (!body.IsObject()) return {400, status_body(400, "BadRequest", "empty patch")};
      // A resourceVersion in the patch is a precondition, as on a real API server: the object
      // must not have changed since the writer read it.
      if (body.HasMember("metadata") && body["metadata"].IsObject() && body["metadata"].HasMember("resourceVersion") &&
          body["metadata"]["resourceVersion"].IsString()) {
        const std::string want = body["metadata"]["resourceVersion"].GetString();
        const std::string have = stored["metadata"]["resourceVersion"].GetString();
        if (want != have) {
          return {409, status_body(409, "Conflict",
                                   "Operation cannot be fulfilled on " + resource + " \"" + name +
                                       "\": the object has been modified; please apply your changes to the latest "
                                       "version and try again")};
        }
      }
      // The status subresource changes only status; the object itself never its status.
      for (auto m = body.MemberBegin(); m != body.MemberEnd(); ++m) {
        const bool is_status = std::string_view(m->name.GetString(), m->name.GetStringLength()) == "status";
        if (is_status != (sub == "status")) continue;
        auto target = stored.FindMember(m->name);
        if (target == stored.MemberEnd()) {
          stored.AddMember(rapidjson::Value(m->name, stored.GetAllocator()), rapidjson::Value(), stored.GetAllocator());
          target = stored.FindMember(m->name);
        }
        merge_patch(target->value, m->value, stored.GetAllocator());
      }
      put(plural, to_json(stored), true);
      return {200, c->second.objects.at(key)};
    }
    if (verb == http::verb::delete_) {
      const auto& meta = stored["metadata"];
      if (body.IsObject() && body.HasMember("preconditions") && body["preconditions"].IsObject()) {
        for (const char* field : {"resourceVersion", "uid"}) {
          const auto& pre = body["preconditions"];
          if (!pre.HasMember(field) || !pre[field].IsString()) continue;
          const std::string want = pre[field].GetString();
          const std::string have = meta.HasMember(field) && meta[field].IsString() ? meta[field].GetString() : "";
          if (want != have) {
            return {409, status_body(409, "Conflict",
                                     "Operation cannot be fulfilled on " + resource + " \"" + name +
                                         "\": Precondition failed: " + (field[0] == 'u' ? "UID" : "ResourceVersion") +
                                         " in precondition: " + want + ", " +
                                         (field[0] == 'u' ? "UID" : "ResourceVersion") + " in object meta: " + have)};
          }
        }
      }
      const std::string uid = meta.HasMember("uid") && meta["uid"].IsString() ? meta["uid"].GetString() : "";
      std::string last = it->second;
      erase(plural, ns, name);
      if (!uid.empty()) erase_dependents(ns, uid);
      return {200, std::move(last)};
    }
    return {405, status_body(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")};
  }

  // RFC 7386: objects merge member by member, null removes, anything else replaces.
  static void merge_patch(rapidjson::Value& target, const rapidjson::Value& patch,
                          rapidjson::Document::AllocatorType& a) {
    if (!patch.IsObject()) {
      target.CopyFrom(patch, a);
      return;
    }
    if (!target.IsObject()) target.SetObject();
    for (auto m = patch.MemberBegin(); m != patch.MemberEnd(); ++m) {
      if (m->value.IsNull()) {
        target.RemoveMember(m->name);
        continue;
      }
      auto t = target.FindMember(m->name);
      if (t == target.MemberEnd()) {
        target.AddMember(rapidjson::Value(m->name, a), rapidjson::Value(), a);
        t = target.FindMember(m->name);
      }
      merge_patch(t->value, m->value, a);
    }
  }

  void erase_dependents(const std::string& ns, const std::string& owner_uid) {
    for (auto& [plural, c] : collections) {
      std::vector<std::string> doomed;
      for (const auto& [key, json] : c.objects) {
        if (key.compare(0, ns.size() + 1, ns + "/") != 0) continue;
        rapidjson::Document doc;
        doc.Parse(json.data(), json.size());
        const auto& meta = doc["metadata"];
        if (!meta.HasMember("ownerReferences") || !meta["ownerReferences"].IsArray()) continue;
        for (const auto& ref : meta["ownerReferences"].GetArray()) {
          if (ref.IsObject() && ref.HasMember("uid") && ref["uid"].IsString() && owner_uid == ref["uid"].GetString()) {
            doomed.push_back(meta["name"].GetString());
            break;
          }
        }
      }
      for (const auto& n : doomed) erase(plural, ns, n);
    }
  }

  static std::string now_rfc3339() {
    const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
  }

  net::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(use_nothrow_awaitable);
      if (ec) co_return;  // closed: paused or shutting down
      ++accepted;
      net::co_spawn(ioc, session(std::move(socket)), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
    }
  }

  struct Registered {
    Registered(Impl& i, Stream* s) : impl(i), stream(s) { impl.sessions.insert(stream); }
    ~Registered() { impl.sessions.erase(stream); }
    Registered(const Registered&) = delete;
    Registered& operator=(const Registered&) = delete;
    Impl& impl;
    Stream* stream;
  };

  net::awaitable<void> session(tcp::socket socket) {
    Stream stream(std::move(socket), tls);
    Registered registered(*this, &stream);
    co_await wait_while_hanging();
    if (paused) co_return;
    beast::get_lowest_layer(stream).expires_after(10s);
    auto [hec] = co_await stream.async_handshake(ssl::stream_base::server, use_nothrow_awaitable);
    if (hec) co_return;
    beast::flat_buffer buffer;
    for (;;) {
      // Idle keep-alive connections stay open: the client pools them.
      beast::get_lowest_layer(stream).expires_never();
      http::request_parser<http::string_body> parser;
      parser.body_limit(16u << 20);
      auto [rec, n] = co_await http::async_read(stream, buffer, parser, use_nothrow_awaitable);
      if (rec || paused) co_return;
      auto request = parser.release();
      if (!co_await handle(stream, request)) co_return;
    }
  }

  net::awaitable<bool> respond(Stream& stream, const http::request<http::string_body>& request, int status,
                               std::string body) {
    http::response<http::string_body> response{static_cast<http::status>(status), 11};
    response.set(http::field::content_type, "application/json");
    response.set(http::field::cache_control, "no-cache, private");
    response.keep_alive(request.keep_alive());
    response.body() = std::move(body);
    response.prepare_payload();
    auto [ec, n] = co_await http::async_write(stream, response, use_nothrow_awaitable);
    co_return !ec && request.keep_alive();
  }

  bool authorized(Stream& stream, const http::request<http::string_body>& request) const {
    if (request[http::field::authorization] == "Bearer " + token) return true;
    SSL* ssl_handle = stream.native_handle();
    return SSL_get0_peer_certificate(ssl_handle) != nullptr && SSL_get_verify_result(ssl_handle) == X509_V_OK;
  }

  net::awaitable<bool> handle(Stream& stream, const http::request<http::string_body>& request) {
    const std::string target(request.target());
    request_log.push_back(target);
    co_await wait_while_hanging();
    if (paused) co_return false;
    const auto qmark = target.find('?');
    const auto segments = split_path(std::string_view(target).substr(0, qmark));
    const auto query = qmark == std::string::npos ? std::map<std::string, std::string>{}
                                                  : parse_query(std::string_view(target).substr(qmark + 1));

    if (!authorized(stream, request)) co_return co_await respond(stream, request, 401, failure_body(401));
    if (fail_count > 0) {
      --fail_count;
      co_return co_await respond(stream, request, fail_status, failure_body(fail_status));
    }
    if (fail_all_status != 0) co_return co_await respond(stream, request, fail_all_status, failure_body(fail_all_status));
    // /api/v1/... or /apis/<group>/<version>/..., then [namespaces/<ns>/]<plural>[/<name>[/scale]]
    std::size_t i = 0;
    std::string api_version;
    if (segments.size() >= 2 && segments[0] == "api") {
      api_version = segments[1];
      i = 2;
    } else if (segments.size() >= 3 && segments[0] == "apis") {
      api_version = segments[1] + "/" + segments[2];
      i = 3;
    } else {
      co_return co_await respond(stream, request, 404, failure_body(404));
    }
    std::string ns;
    if (segments.size() >= i + 3 && segments[i] == "namespaces") {
      ns = segments[i + 1];
      i += 2;
    }
    if (i >= segments.size()) co_return co_await respond(stream, request, 404, failure_body(404));
    const std::string plural = segments[i];
    const std::string name = i + 1 < segments.size() ? segments[i + 1] : "";
    const std::string sub = i + 2 < segments.size() ? segments[i + 2] : "";

    if (request.method() != http::verb::get) {
      auto [status, body] = write(request, api_version, ns, plural, name, sub);
      co_return co_await respond(stream, request, status, std::move(body));
    }
    if (sub == "scale") {
      auto it = scales.find(api_version + "|" + ns + "|" + plural + "|" + name);
      if (it != scales.end()) co_return co_await respond(stream, request, 200, it->second);
      co_return co_await respond(stream, request, 404,
                                 status_body(404, "NotFound", plural + " \"" + name + "\" not found"));
    }
    auto c = collections.find(plural);
    if (c == collections.end() || c->second.api_version != api_version || c->second.missing) {
      co_return co_await respond(stream, request, 404, failure_body(404));
    }
    if (!name.empty()) {
      auto it = c->second.objects.find(ns + "/" + name);
      if (it == c->second.objects.end()) {
        co_return co_await respond(stream, request, 404,
                                   status_body(404, "NotFound", plural + " \"" + name + "\" not found"));
      }
      co_return co_await respond(stream, request, 200, it->second);
    }
    auto watch = query.find("watch");
    if (watch != query.end() && (watch->second == "1" || watch->second == "true")) {
      co_await serve_watch(stream, plural, ns, query);
      co_return false;
    }
    co_return co_await serve_list(stream, request, c->second, ns, query);
  }

  net::awaitable<bool> serve_list(Stream& stream, const http::request<http::string_body>& request,
                                  const Collection& c, const std::string& ns,
                                  const std::map<std::string, std::string>& query) {
    std::size_t limit = 0;
    if (auto it = query.find("limit"); it != query.end()) limit = parse_u64(it->second);
    std::uint64_t list_rv = rv;
    std::string start_after;
    if (auto it = query.find("continue"); it != query.end() && !it->second.empty()) {
      const auto bar = it->second.find('|');
      list_rv = parse_u64(std::string_view(it->second).substr(0, bar));
      start_after = bar == std::string::npos ? "" : it->second.substr(bar + 1);
      if (expire_continue || list_rv < compacted_rv || bar == std::string::npos) {
        expire_continue = false;
        co_return co_await respond(
            stream, request, 410,
            status_body(410, "Expired",
                        "The provided continue parameter is too old to display a consistent list result. "
                        "You can start a new list without the continue parameter."));
      }
    }
    std::string items;
    std::size_t count = 0;
    std::size_t remaining = 0;
    std::string last_key;
    for (auto it = start_after.empty() ? c.objects.begin() : c.objects.upper_bound(start_after);
         it != c.objects.end(); ++it) {
      if (!ns.empty() && it->first.compare(0, ns.size() + 1, ns + "/") != 0) continue;
      if (limit != 0 && count == limit) {
        ++remaining;
        continue;
      }
      if (count != 0) items += ",";
      items += it->second;
      last_key = it->first;
      ++count;
    }
    std::string metadata = R"({"continue":)" + quote(remaining == 0 ? "" : std::to_string(list_rv) + "|" + last_key);
    if (remaining != 0) metadata += R"(,"remainingItemCount":)" + std::to_string(remaining);
    metadata += R"(,"resourceVersion":")" + std::to_string(list_rv) + R"("})";
    co_return co_await respond(stream, request, 200,
                               R"({"apiVersion":")" + c.api_version + R"(","items":[)" + items + R"(],"kind":")" +
                                   c.kind + R"(List","metadata":)" + metadata + "}");
  }

  // Writes raw chunks: the framing is part of what is being tested, and a test must be able
  // to cut it anywhere.
  net::awaitable<bool> write_raw(Stream& stream, const std::string& bytes) {
    auto [ec, n] = co_await net::async_write(stream, net::buffer(bytes), use_nothrow_awaitable);
    co_return !ec;
  }

  net::awaitable<void> serve_watch(Stream& stream, const std::string& plural, const std::string& ns,
                                   const std::map<std::string, std::string>& query) {
    const Collection& c = collections.at(plural);
    Watcher w(ioc);
    w.plural = plural;
    w.namespace_ = ns;
    w.bookmarks = query.contains("allowWatchBookmarks") && query.at("allowWatchBookmarks") == "true";
    std::uint64_t timeout_seconds = 1800;
    if (auto it = query.find("timeoutSeconds"); it != query.end() && parse_u64(it->second) > 0) {
      timeout_seconds = parse_u64(it->second);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);

    // The headers go out at once, before any event (as the captured watches show).
    if (!co_await write_raw(stream, "HTTP/1.1 200 OK\r\nCache-Control: no-cache, private\r\n"
                                    "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")) {
      co_return;
    }
    const auto rv_param = query.find("resourceVersion");
    if (rv_param == query.end() || rv_param->second.empty() || rv_param->second == "0") {
      for (const auto& [key, object] : c.objects) {
        if (ns.empty() || key.compare(0, ns.size() + 1, ns + "/") == 0) {
          w.queue.push_back(R"({"type":"ADDED","object":)" + object + "}\n");
        }
      }
    } else {
      w.from = parse_u64(rv_param->second);
      if (w.from < compacted_rv) {
        // Not HTTP 410: a 200 stream with one ERROR event, then the end (fixtures/api/watch-410.raw).
        co_await write_raw(stream, chunk(expired_event(w.from)) + "0\r\n\r\n");
        co_return;
      }
      for (const auto& e : history) {
        if (e.resource_version > w.from && e.plural == plural && (ns.empty() || e.namespace_ == ns)) {
          w.queue.push_back(e.line);
        }
      }
    }

    watchers.insert(&w);
    struct Unregister {
      Impl& impl;
      Watcher* w;
      ~Unregister() { impl.watchers.erase(w); }
    } unregister{*this, &w};

    for (;;) {
      if (hanging && !w.drop) {
        co_await wait_while_hanging();
        continue;
      }
      if (w.stalled && !w.drop) {
        // Nothing more is written; the client sends nothing on a watch, so a read ends only
        // when it closes the connection (or close_all() does).
        w.queue.clear();
        char byte = 0;
        co_await stream.async_read_some(net::buffer(&byte, 1), use_nothrow_awaitable);
        co_return;
      }
      while (!w.queue.empty() && !w.drop) {
        const std::string line = std::move(w.queue.front());
        w.queue.pop_front();
        if (drop_next_event) {
          drop_next_event = false;
          const std::string framed = chunk(line);
          co_await write_raw(stream, framed.substr(0, framed.size() / 2));
          beast::get_lowest_layer(stream).close();
          co_return;
        }
        if (!co_await write_raw(stream, chunk(line))) co_return;
      }
      if (w.drop || paused) {
        beast::get_lowest_layer(stream).close();
        co_return;
      }
      if (w.expire) {
        co_await write_raw(stream, chunk(expired_event(w.from)) + "0\r\n\r\n");
        co_return;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        co_await write_raw(stream, "0\r\n\r\n");
        co_return;
      }
      w.signal.expires_at(deadline);
      co_await w.signal.async_wait(use_nothrow_awaitable);
    }
  }

  std::string expired_event(std::uint64_t from) const {
    return R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
           R"("message":"too old resource version: )" +
           std::to_string(from) + " (" + std::to_string(compacted_rv) +
           R"x()","reason":"Expired","code":410}})x" + "\n";
  }

  Options options;
  net::io_context ioc;
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  ssl::context tls{ssl::context::tls_server};
  tcp::acceptor acceptor{ioc};
  std::uint16_t port = 0;
  std::thread thread;

  KeyPtr ca_key;
  CertPtr ca_cert;
  std::string ca;
  KeyPtr server_key;
  CertPtr server_cert;
  long next_serial = 10;

  std::string token = "fake-admin-token";
  std::map<std::string, Collection> collections;
  std::uint64_t rv = 0;
  std::uint64_t compacted_rv = 0;
  std::deque<Event> history;
  std::set<Watcher*> watchers;
  std::set<Stream*> sessions;
  std::map<std::string, std::string> scales;
  std::vector<std::string> request_log;
  bool drop_next_event = false;
  int fail_status = 0;
  int fail_count = 0;
  bool expire_continue = false;
  int fail_all_status = 0;
  bool paused = false;
  bool hanging = false;
  net::steady_timer unhang{ioc};
  std::size_t accepted = 0;
  std::uint64_t uids = 0;
};

FakeApiServer::FakeApiServer() : FakeApiServer(Options{}) {}
FakeApiServer::FakeApiServer(Options options) : impl_(std::make_unique<Impl>(options)) {}
FakeApiServer::~FakeApiServer() = default;

std::string FakeApiServer::url() const { return "https://127.0.0.1:" + std::to_string(port()); }
std::string FakeApiServer::ca_pem() const { return impl_->ca; }
std::uint16_t FakeApiServer::port() const {
  return impl_->run([this] { return impl_->port; });
}

std::string FakeApiServer::token() const {
  return impl_->run([this] { return impl_->token; });
}
void FakeApiServer::set_token(std::string token) {
  impl_->run([this, &token] { impl_->token = std::move(token); });
}

PemPair FakeApiServer::issue_client_certificate(std::string_view common_name) {
  return impl_->run([this, common_name] {
    KeyPtr key = make_key();
    CertPtr cert = make_cert(key.get(), std::string(common_name), impl_->ca_cert.get(), impl_->ca_key.get(),
                             impl_->next_serial++, false, nullptr, "clientAuth");
    return PemPair{cert_pem(cert.get()), key_pem(key.get())};
  });
}

std::string FakeApiServer::upsert(std::string_view plural, std::string_view object_json) {
  return impl_->run([&] { return impl_->put(std::string(plural), object_json, true); });
}
std::string FakeApiServer::upsert_silently(std::string_view plural, std::string_view object_json) {
  return impl_->run([&] { return impl_->put(std::string(plural), object_json, false); });
}
void FakeApiServer::upsert_many(std::string_view plural, const std::vector<std::string>& objects) {
  impl_->run([&] {
    for (const auto& o : objects) impl_->put(std::string(plural), o, false);
  });
}
bool FakeApiServer::remove(std::string_view plural, std::string_view namespace_, std::string_view name) {
  return impl_->run(
      [&] { return impl_->erase(std::string(plural), std::string(namespace_), std::string(name)); });
}
std::optional<std::string> FakeApiServer::get(std::string_view plural, std::string_view namespace_,
                                              std::string_view name) const {
  return impl_->run([&]() -> std::optional<std::string> {
    const auto& objects = impl_->collection(plural).objects;
    auto it = objects.find(std::string(namespace_) + "/" + std::string(name));
    if (it == objects.end()) return std::nullopt;
    return it->second;
  });
}
std::string FakeApiServer::resource_version() const {
  return impl_->run([this] { return std::to_string(impl_->rv); });
}
std::size_t FakeApiServer::object_count(std::string_view plural) const {
  return impl_->run([&] { return impl_->collection(plural).objects.size(); });
}

void FakeApiServer::bookmark() {
  impl_->run([this] {
    for (Watcher* w : impl_->watchers) {
      if (!w->bookmarks || w->stalled) continue;
      const Collection& c = impl_->collections.at(w->plural);
      w->queue.push_back(R"({"type":"BOOKMARK","object":{"apiVersion":")" + c.api_version + R"(","kind":")" + c.kind +
                         R"(","metadata":{"resourceVersion":")" + std::to_string(impl_->rv) + "\"}}}\n");
      w->signal.cancel();
    }
  });
}

void FakeApiServer::compact(bool drop_watches) {
  impl_->run([this, drop_watches] {
    impl_->history.clear();
    impl_->compacted_rv = impl_->rv;
    for (Watcher* w : impl_->watchers) {
      (drop_watches ? w->drop : w->expire) = true;
      w->signal.cancel();
    }
  });
}

void FakeApiServer::drop_next_event_mid_chunk() {
  impl_->run([this] { impl_->drop_next_event = true; });
}

void FakeApiServer::drop_watches() {
  impl_->run([this] {
    for (Watcher* w : impl_->watchers) {
      w->drop = true;
      w->signal.cancel();
    }
  });
}

std::size_t FakeApiServer::open_watches() const {
  return impl_->run([this] { return impl_->watchers.size(); });
}

void FakeApiServer::fail_next(int status, int count) {
  impl_->run([this, status, count] {
    impl_->fail_status = status;
    impl_->fail_count = count;
  });
}

void FakeApiServer::expire_next_continue() {
  impl_->run([this] { impl_->expire_continue = true; });
}

void FakeApiServer::set_missing(std::string_view plural, bool missing) {
  impl_->run([&] { impl_->collection(plural).missing = missing; });
}

void FakeApiServer::pause() {
  impl_->run([this] {
    if (impl_->paused) return;
    impl_->paused = true;
    impl_->close_all();
    impl_->bind();
  });
}

void FakeApiServer::resume() {
  impl_->run([this] {
    if (!impl_->paused) return;
    impl_->paused = false;
    impl_->listen();
  });
}

void FakeApiServer::fail_all(int status) {
  impl_->run([this, status] { impl_->fail_all_status = status; });
}

void FakeApiServer::hang(bool on) {
  impl_->run([this, on] { impl_->set_hanging(on); });
}

std::size_t FakeApiServer::stall_watches(std::string_view plural) {
  return impl_->run([this, plural] {
    std::size_t n = 0;
    for (Watcher* w : impl_->watchers) {
      if (w->stalled || (!plural.empty() && w->plural != plural)) continue;
      w->stalled = true;
      w->signal.cancel();
      ++n;
    }
    return n;
  });
}

void FakeApiServer::set_scale(std::string_view api_version, std::string_view plural, std::string_view namespace_,
                              std::string_view name, std::string_view selector) {
  std::string body = R"({"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":)" + quote(name) +
                     R"(,"namespace":)" + quote(namespace_) + R"(,"resourceVersion":"1"},"spec":{"replicas":1},)" +
                     R"("status":{"replicas":1,"selector":)" + quote(selector) + "}}";
  std::string key = std::string(api_version) + "|" + std::string(namespace_) + "|" + std::string(plural) + "|" +
                    std::string(name);
  impl_->run([&] { impl_->scales[key] = body; });
}

std::size_t FakeApiServer::requests(std::string_view needle) const {
  return impl_->run([&] {
    std::size_t n = 0;
    for (const auto& r : impl_->request_log) {
      if (r.find(needle) != std::string::npos) ++n;
    }
    return n;
  });
}

std::size_t FakeApiServer::connections() const {
  return impl_->run([this] { return impl_->accepted; });
}

std::string make_vpa_for(std::string_view namespace_, std::string_view name, std::string_view api_version,
                         std::string_view kind, std::string_view target, std::string_view cpu,
                         std::string_view memory) {
  const std::string resources = R"({"cpu":)" + quote(cpu) + R"(,"memory":)" + quote(memory) + "}";
  return R"({"apiVersion":"autoscaling.k8s.io/v1","kind":"VerticalPodAutoscaler","metadata":{"name":)" +
         quote(name) + R"(,"namespace":)" + quote(namespace_) +
         R"(,"creationTimestamp":"2026-11-23T17:09:07Z","uid":)" + quote(std::string(namespace_) + "-" + std::string(name)) +
         R"(},"spec":{"targetRef":{"apiVersion":)" + quote(api_version) + R"(,"kind":)" + quote(kind) +
         R"(,"name":)" + quote(target) +
         R"(},"updatePolicy":{"updateMode":"Off"}},"status":{"recommendation":{"containerRecommendations":[)" +
         R"({"containerName":"base","lowerBound":)" + resources + R"(,"target":)" + resources +
         R"(,"uncappedTarget":)" + resources + R"(,"upperBound":)" + resources + "}]}}}";
}

std::string make_vpa(std::string_view namespace_, std::string_view name, std::string_view task, std::string_view cpu,
                     std::string_view memory, std::string_view creation_timestamp) {
  std::string json = make_vpa_for(namespace_, name, "airflow-vpa-webhook.io/v1alpha1", "AirflowTask", task, cpu, memory);
  const std::string fixed = R"("creationTimestamp":"2026-11-23T17:09:07Z")";
  json.replace(json.find(fixed), fixed.size(), R"("creationTimestamp":)" + quote(creation_timestamp));
  return json;
}

std::string make_airflow_task(std::string_view namespace_, std::string_view name, std::string_view selector) {
  return R"({"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask","metadata":{"name":)" + quote(name) +
         R"(,"namespace":)" + quote(namespace_) +
         R"(,"creationTimestamp":"2026-11-23T17:09:03Z"},"spec":{"replicas":0},"status":{"replicas":0,"selector":)" +
         quote(selector) + "}}";
}

}  // namespace avw::test
