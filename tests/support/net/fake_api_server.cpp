#include "support/net/fake_api_server.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <span>
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

#include "avw/async/async.hpp"
#include "avw/core/selector.hpp"
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

using avw::async::use_nothrow_awaitable;

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

using Allocator = rapidjson::Document::AllocatorType;

std::string status_body(int code, std::string_view reason, std::string_view message, std::string_view details = {}) {
  return R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":)" + quote(message) +
         R"(,"reason":)" + quote(reason) + (details.empty() ? "" : R"(,"details":)" + std::string(details)) +
         R"(,"code":)" + std::to_string(code) + "}";
}

// A Status's details: what it is about. Empty members are left out, as Go's omitempty does,
// so a core resource's details have no group.
std::string status_details(std::string_view name, std::string_view group, std::string_view kind,
                           std::string_view causes = {}) {
  std::string out;
  const auto add = [&out](std::string_view key, const std::string& json) {
    out += (out.empty() ? "{" : ",") + quote(key) + ":" + json;
  };
  if (!name.empty()) add("name", quote(name));
  if (!group.empty()) add("group", quote(group));
  if (!kind.empty()) add("kind", quote(kind));
  if (!causes.empty()) add("causes", std::string(causes));
  return out.empty() ? "{}" : out + "}";
}

// One validation error, worded as apimachinery's field.Error words it.
struct FieldError {
  std::string field;
  bool required = false;  // FieldValueRequired; otherwise FieldValueInvalid
  std::string value = {};
  std::string detail = {};

  std::string body() const {
    std::string text = required ? "Required value" : "Invalid value: " + quote(value);
    return detail.empty() ? text : text + ": " + detail;
  }
};

// 422 Invalid as apierrors.NewInvalid makes it: one error as it is, several in brackets, and
// each one again as a cause.
std::string invalid_body(std::string_view kind, std::string_view group, std::string_view name,
                         const std::vector<FieldError>& errors) {
  std::string list;
  std::string causes;
  for (const FieldError& e : errors) {
    if (!list.empty()) {
      list += ", ";
      causes += ",";
    }
    list += e.field + ": " + e.body();
    causes += R"({"reason":)" + quote(e.required ? "FieldValueRequired" : "FieldValueInvalid") + R"(,"message":)" +
              quote(e.body()) + R"(,"field":)" + quote(e.field) + "}";
  }
  const std::string qualified = std::string(kind) + (group.empty() ? "" : "." + std::string(group));
  return status_body(422, "Invalid",
                     qualified + " " + quote(name) + " is invalid: " + (errors.size() == 1 ? list : "[" + list + "]"),
                     status_details(name, group, kind, "[" + causes + "]"));
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

std::string group_of(std::string_view api_version) {
  const auto slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string() : std::string(api_version.substr(0, slash));
}

std::string string_member(const rapidjson::Value& object, const char* name) {
  if (!object.IsObject()) return {};
  const auto m = object.FindMember(name);
  if (m == object.MemberEnd() || !m->value.IsString()) return {};
  return {m->value.GetString(), m->value.GetStringLength()};
}

rapidjson::Value text(std::string_view s, Allocator& a) {
  return rapidjson::Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
}

// Replaces a member in its place (the API server's key order is part of the shape) or adds it.
void set_member(rapidjson::Value& object, std::string_view name, rapidjson::Value value, Allocator& a) {
  const auto m = object.FindMember(rapidjson::StringRef(name.data(), name.size()));
  if (m != object.MemberEnd()) {
    m->value = value;  // RapidJSON assignment moves
    return;
  }
  object.AddMember(text(name, a), value, a);
}

std::string event_line(std::string_view type, std::string_view object) {
  return R"({"type":")" + std::string(type) + R"(","object":)" + std::string(object) + "}\n";
}

std::string with_resource_version(std::string_view json, std::string_view version) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  set_member(doc["metadata"], "resourceVersion", text(version, doc.GetAllocator()), doc.GetAllocator());
  return to_json(doc);
}

// Whether an object's labels satisfy a selector (the core's matcher, over views into the object).
bool selects(const core::Selector& selector, std::string_view object_json) {
  rapidjson::Document doc;
  doc.Parse(object_json.data(), object_json.size());
  core::LabelSet labels;
  if (!doc.HasParseError() && doc.IsObject() && doc.HasMember("metadata") && doc["metadata"].IsObject() &&
      doc["metadata"].HasMember("labels") && doc["metadata"]["labels"].IsObject()) {
    for (const auto& m : doc["metadata"]["labels"].GetObject()) {
      if (!m.value.IsString()) continue;
      labels.set({m.name.GetString(), m.name.GetStringLength()}, {m.value.GetString(), m.value.GetStringLength()});
    }
  }
  return selector.matches(labels);
}

// ---- built-in kinds: written from Go structs ------------------------------------------

// How the API server writes a Go struct field that is unset: left out (omitempty strings,
// pointers), left out also when 0 (omitempty numbers), or as null (a metav1.Time), {} (a
// struct: omitempty never drops one) or "" (a string without omitempty).
enum class Unset : std::uint8_t { Omit, OmitZero, Null, Object, String };

struct GoField {
  const char* name;
  Unset unset = Unset::Omit;
  std::span<const GoField> fields = {};  // a struct's own fields, in declaration order
};

constexpr GoField kObjectReference[] = {{"kind"},       {"namespace"},       {"name"},     {"uid"},
                                        {"apiVersion"}, {"resourceVersion"}, {"fieldPath"}};
constexpr GoField kEventSource[] = {{"component"}, {"host"}};
constexpr GoField kEventSeries[] = {{"count"}, {"lastObservedTime"}};
constexpr GoField kObjectMeta[] = {{"name"},
                                   {"generateName"},
                                   {"namespace"},
                                   {"selfLink"},
                                   {"uid"},
                                   {"resourceVersion"},
                                   {"generation", Unset::OmitZero},
                                   {"creationTimestamp", Unset::Null},
                                   {"deletionTimestamp"},
                                   {"deletionGracePeriodSeconds"},
                                   {"labels"},
                                   {"annotations"},
                                   {"ownerReferences"},
                                   {"finalizers"},
                                   {"managedFields"}};
// events.k8s.io/v1 Event and core v1 Event; kind, apiVersion and metadata come first in both.
constexpr GoField kEventsV1Event[] = {{"kind"},
                                      {"apiVersion"},
                                      {"metadata", Unset::Object, kObjectMeta},
                                      {"eventTime", Unset::Null},
                                      {"series", Unset::Omit, kEventSeries},
                                      {"reportingController"},
                                      {"reportingInstance"},
                                      {"action"},
                                      {"reason"},
                                      {"regarding", Unset::Object, kObjectReference},
                                      {"related", Unset::Omit, kObjectReference},
                                      {"note"},
                                      {"type"},
                                      {"deprecatedSource", Unset::Object, kEventSource},
                                      {"deprecatedFirstTimestamp", Unset::Null},
                                      {"deprecatedLastTimestamp", Unset::Null},
                                      {"deprecatedCount", Unset::OmitZero}};
constexpr GoField kCoreV1Event[] = {{"kind"},
                                    {"apiVersion"},
                                    {"metadata", Unset::Object, kObjectMeta},
                                    {"involvedObject", Unset::Object, kObjectReference},
                                    {"reason"},
                                    {"message"},
                                    {"source", Unset::Object, kEventSource},
                                    {"firstTimestamp", Unset::Null},
                                    {"lastTimestamp", Unset::Null},
                                    {"count", Unset::OmitZero},
                                    {"type"},
                                    {"eventTime", Unset::Null},
                                    {"series", Unset::Omit, kEventSeries},
                                    {"action"},
                                    {"related", Unset::Omit, kObjectReference},
                                    {"reportingComponent", Unset::String},
                                    {"reportingInstance", Unset::String}};

// `in` as the API server writes it back: the struct's fields in declaration order, unknown
// ones dropped (decoding into the struct loses them), unset ones as the field says.
rapidjson::Value go_struct(const rapidjson::Value& in, std::span<const GoField> fields, Allocator& a) {
  rapidjson::Value out(rapidjson::kObjectType);
  for (const GoField& f : fields) {
    const rapidjson::Value* v = in.IsObject() && in.HasMember(f.name) ? &in[f.name] : nullptr;
    const bool unset = v == nullptr || v->IsNull() || (v->IsString() && v->GetStringLength() == 0) ||
                       (f.unset == Unset::OmitZero && v->IsNumber() && v->GetDouble() == 0.0);
    rapidjson::Value name(rapidjson::StringRef(f.name));  // the table is static
    if (!unset) {
      rapidjson::Value copy;
      if (!f.fields.empty() && v->IsObject()) {
        copy = go_struct(*v, f.fields, a);
      } else {
        copy.CopyFrom(*v, a);
      }
      out.AddMember(name, copy, a);
      continue;
    }
    switch (f.unset) {
      case Unset::Null:
        out.AddMember(name, rapidjson::Value(), a);
        break;
      case Unset::Object:
        out.AddMember(name, go_struct(rapidjson::Value(rapidjson::kObjectType), f.fields, a), a);
        break;
      case Unset::String:
        out.AddMember(name, rapidjson::Value(rapidjson::kStringType), a);
        break;
      case Unset::Omit:
      case Unset::OmitZero:
        break;
    }
  }
  return out;
}

// What follows metadata in a BOOKMARK's object: the zero value of the rest of the struct.
std::string zero_fields_of(std::span<const GoField> fields) {
  rapidjson::Document doc;
  const std::string zero =
      to_json(go_struct(rapidjson::Value(rapidjson::kObjectType), fields.subspan(3), doc.GetAllocator()));
  return zero.size() <= 2 ? std::string() : "," + zero.substr(1, zero.size() - 2);
}

// metav1.MicroTime is written with six decimals (RFC3339Micro): "...:38Z" -> "...:38.000000Z".
std::string micro_time(std::string_view t) {
  if (t.size() < 20 || t.back() != 'Z' || (t.size() > 20 && t[19] != '.')) return std::string(t);
  std::string digits(t.size() > 20 ? t.substr(20, t.size() - 21) : std::string_view());
  digits.resize(6, '0');
  return std::string(t.substr(0, 19)) + "." + digits + "Z";
}

// ---- Event validation, as Kubernetes' ValidateEventCreate (pkg/apis/core/validation/events.go)

constexpr std::string_view kDnsSubdomainMessage =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
constexpr std::string_view kQualifiedNameMessage =
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

// IsDNS1123Subdomain. A qualified label key's prefix is exactly a DNS-1123 subdomain, so the
// core's key check answers it.
std::optional<std::string> dns_subdomain_problem(std::string_view s) {
  if (s.size() > 253) return "must be no more than 253 characters";
  if (!s.empty() && core::is_valid_label_key(std::string(s) + "/x")) return std::nullopt;
  return std::string(kDnsSubdomainMessage);
}

// Legacy checks for every Event; for events.k8s.io/v1 (`strict`) also ObjectMeta and the strict
// ones. That is why core v1 accepts a generateName ending in "." and events.k8s.io/v1 does not,
// and why core v1 needs no reason while an Event with an eventTime does. Field paths are the
// internal type's (involvedObject, reportingController, message), whichever API was used.
std::vector<FieldError> event_problems(bool strict, const std::string& ns, const std::string& name,
                                       const rapidjson::Value& event) {
  std::vector<FieldError> errors;
  const auto has = [&event](const char* field) { return event.HasMember(field) && !event[field].IsNull(); };
  const auto limited = [&errors](const char* field, std::string_view value, std::size_t limit) {
    if (value.size() > limit)
      errors.push_back({field, false, "", "can have at most " + std::to_string(limit) + " characters"});
  };
  const std::string involved_ns = event.HasMember(strict ? "regarding" : "involvedObject")
                                      ? string_member(event[strict ? "regarding" : "involvedObject"], "namespace")
                                      : std::string();
  const FieldError mismatch{"involvedObject.namespace", false, involved_ns, "does not match event.namespace"};
  const bool has_event_time = !string_member(event, "eventTime").empty();
  if (!has_event_time) {
    if (involved_ns.empty() ? !ns.empty() && ns != "default" : ns != involved_ns) errors.push_back(mismatch);
  } else {
    if (involved_ns.empty() && ns != "default" && ns != "kube-system") errors.push_back(mismatch);
    const std::string controller = string_member(event, strict ? "reportingController" : "reportingComponent");
    if (controller.empty()) {
      errors.push_back({"reportingController", true});
      errors.push_back({"reportingController", false, "", "name part must be non-empty"});
    }
    if (!core::is_valid_label_key(controller)) {
      errors.push_back({"reportingController", false, controller, std::string(kQualifiedNameMessage)});
    }
    for (const char* field : {"reportingInstance", "action", "reason"}) {
      const std::string value = string_member(event, field);
      if (value.empty()) errors.push_back({field, true});
      limited(field, value, 128);
    }
    limited("message", string_member(event, strict ? "note" : "message"), 1024);
  }
  if (!strict) return errors;

  const std::string generate_name = string_member(event["metadata"], "generateName");
  if (!generate_name.empty()) {
    // NameIsDNSSubdomain(prefix=true) lets a prefix end in '-' (maskTrailingDash), not in '.'.
    std::string masked = generate_name;
    if (masked.size() > 1 && masked.back() == '-') masked.back() = 'a';
    if (auto problem = dns_subdomain_problem(masked))
      errors.push_back({"metadata.generateName", false, generate_name, *problem});
  }
  if (auto problem = dns_subdomain_problem(name)) errors.push_back({"metadata.name", false, name, *problem});
  if (has("series")) {
    const auto& series = event["series"];
    if (!series.IsObject() || !series.HasMember("count") || !series["count"].IsInt() || series["count"].GetInt() < 2) {
      errors.push_back({"series.count", false, "", "should be at least 2"});
    }
    if (string_member(series, "lastObservedTime").empty()) errors.push_back({"series.lastObservedTime", true});
  }
  if (!has_event_time) errors.push_back({"eventTime", true});
  if (const std::string type = string_member(event, "type"); type != "Normal" && type != "Warning") {
    errors.push_back({"type", false, "", "has invalid value: " + type});
  }
  if (has("deprecatedFirstTimestamp")) errors.push_back({"firstTimestamp", false, "", "needs to be unset"});
  if (has("deprecatedLastTimestamp")) errors.push_back({"lastTimestamp", false, "", "needs to be unset"});
  if (has("deprecatedCount") && !(event["deprecatedCount"].IsNumber() && event["deprecatedCount"].GetDouble() == 0.0)) {
    errors.push_back({"count", false, "", "needs to be unset"});
  }
  if (has("deprecatedSource") && (!string_member(event["deprecatedSource"], "component").empty() ||
                                  !string_member(event["deprecatedSource"], "host").empty())) {
    errors.push_back({"source", false, "", "needs to be unset"});
  }
  return errors;
}

struct Collection {
  std::string api_version;  // "autoscaling.k8s.io/v1", "v1"
  std::string kind;
  std::string plural;
  // Built-in kinds are written from Go structs: lists in struct order whose items carry no
  // apiVersion or kind, no empty `continue`, BOOKMARKs with the struct's zero values after
  // metadata (`zero_fields`). Custom resources come back as the maps they are stored as.
  bool builtin = false;
  std::string zero_fields;
  std::map<std::string, std::string> objects;  // "namespace/name" -> compact JSON
  bool missing = false;

  std::string group() const { return group_of(api_version); }
  // As errors name it: "airflowtasks.airflow-vpa-webhook.io", "pods".
  std::string resource() const { return group().empty() ? plural : plural + "." + group(); }
};

struct Event {
  std::uint64_t resource_version;
  std::string plural;
  std::string namespace_;
  std::string type;      // ADDED, MODIFIED, DELETED
  std::string object;    // the state after; for DELETED the last state with the new resourceVersion
  std::string previous;  // the state before (empty for ADDED), which a selector watch needs
};

struct Watcher {
  explicit Watcher(net::io_context& ioc) : signal(ioc) {}
  std::string plural;
  std::string namespace_;  // empty: all namespaces
  std::optional<core::Selector> selector;
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

    serve("verticalpodautoscalers", "autoscaling.k8s.io/v1", "VerticalPodAutoscaler");
    serve("airflowtasks", "airflow-vpa-webhook.io/v1alpha1", "AirflowTask");
    // LimitRanges and Namespaces keep the custom-resource list shape their tests were written against.
    serve("limitranges", "v1", "LimitRange");
    serve("namespaces", "v1", "Namespace");
    serve("verticalpodautoscalercheckpoints", "autoscaling.k8s.io/v1", "VerticalPodAutoscalerCheckpoint");
    // The captured Pod BOOKMARK (api/watch-task-pods.raw).
    serve("pods", "v1", "Pod", R"(,"spec":{"containers":null},"status":{})");
    serve("events", "v1", "Event", zero_fields_of(kCoreV1Event));
    serve("events", "events.k8s.io/v1", "Event", zero_fields_of(kEventsV1Event));
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

  // Registers a kind. Its key is its plural, or plural.group for a plural that two groups
  // serve (events); a built-in kind has the zero fields its BOOKMARKs carry.
  void serve(const std::string& plural, const std::string& api_version, const std::string& kind,
             std::optional<std::string> zero_fields = std::nullopt) {
    Collection c{api_version, kind, plural, zero_fields.has_value(), zero_fields.value_or(""), {}, false};
    const std::string key = collections.contains(plural) ? plural + "." + c.group() : plural;
    collections.emplace(key, std::move(c));
  }

  // The key of the collection served at <api_version>/<plural>, or "" when none is.
  std::string collection_key(const std::string& api_version, const std::string& plural) const {
    for (const std::string& key : {plural, plural + "." + group_of(api_version)}) {
      const auto it = collections.find(key);
      if (it != collections.end() && it->second.api_version == api_version) return key;
    }
    return {};
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
    const std::string ns = string_member(meta, "namespace");
    const std::string key = ns + "/" + meta["name"].GetString();
    ++rv;
    const std::string version = std::to_string(rv);
    set_member(meta, "resourceVersion", text(version, doc.GetAllocator()), doc.GetAllocator());
    auto [it, added] = c.objects.try_emplace(key);
    std::string previous = std::exchange(it->second, to_json(doc));
    record(plural, ns, added ? "ADDED" : "MODIFIED", it->second, std::move(previous), notify);
    return version;
  }

  bool erase(const std::string& plural, const std::string& ns, const std::string& name) {
    Collection& c = collection(plural);
    auto it = c.objects.find(ns + "/" + name);
    if (it == c.objects.end()) return false;
    ++rv;
    const std::string last = with_resource_version(it->second, std::to_string(rv));
    std::string previous = std::move(it->second);
    c.objects.erase(it);
    record(plural, ns, "DELETED", last, std::move(previous), true);
    return true;
  }

  // A forced delete as captured (api/watch-task-pods.ndjson): the object first gets its
  // deletionTimestamp (MODIFIED), then goes (DELETED). Returns the marked object.
  std::optional<std::string> force_delete(const std::string& plural, const std::string& ns, const std::string& name) {
    Collection& c = collection(plural);
    auto it = c.objects.find(ns + "/" + name);
    if (it == c.objects.end()) return std::nullopt;
    rapidjson::Document doc;
    doc.Parse(it->second.data(), it->second.size());
    auto& a = doc.GetAllocator();
    if (!doc["metadata"].HasMember("deletionTimestamp")) {
      set_member(doc["metadata"], "deletionTimestamp", text(now_rfc3339(), a), a);
      set_member(doc["metadata"], "deletionGracePeriodSeconds", rapidjson::Value(0), a);
      rapidjson::Value ordered = go_struct(doc["metadata"], kObjectMeta, a);
      doc["metadata"] = ordered;
      put(plural, to_json(doc), true);
    }
    std::string marked = c.objects.at(ns + "/" + name);
    erase(plural, ns, name);
    return marked;
  }

  void record(const std::string& plural, const std::string& ns, std::string_view type, const std::string& object,
              std::string previous, bool notify) {
    Event e{rv, plural, ns, std::string(type), object, std::move(previous)};
    if (notify) {
      for (Watcher* w : watchers) {
        if (w->stalled || w->plural != plural || !(w->namespace_.empty() || w->namespace_ == ns)) continue;
        if (auto line = line_for(*w, e)) {
          w->queue.push_back(std::move(*line));
          w->signal.cancel();
        }
      }
    }
    history.push_back(std::move(e));
    while (history.size() > options.history) {
      compacted_rv = history.front().resource_version;
      history.pop_front();
    }
  }

  // What a watch is sent for an event. Without a selector, the event as it happened. With
  // one, what the watch cache's cacheWatcher.convertToWatchEvent makes of the object before
  // and after: one that starts matching is ADDED, one that stops matching is DELETED (its
  // previous state with the event's resourceVersion), one that matches neither is not sent.
  static std::optional<std::string> line_for(const Watcher& w, const Event& e) {
    if (!w.selector) return event_line(e.type, e.object);
    const bool now = e.type != "DELETED" && selects(*w.selector, e.object);
    const bool before = !e.previous.empty() && selects(*w.selector, e.previous);
    if (now) return event_line(before ? "MODIFIED" : "ADDED", e.object);
    if (!before) return std::nullopt;
    if (e.type == "DELETED") return event_line(e.type, e.object);
    return event_line("DELETED", with_resource_version(e.previous, std::to_string(e.resource_version)));
  }

  std::string bookmark_line(const Collection& c) const {
    const std::string version = std::to_string(rv);
    if (!c.builtin) {
      return R"({"type":"BOOKMARK","object":{"apiVersion":")" + c.api_version + R"(","kind":")" + c.kind +
             R"(","metadata":{"resourceVersion":")" + version + "\"}}}\n";
    }
    return R"({"type":"BOOKMARK","object":{"kind":")" + c.kind + R"(","apiVersion":")" + c.api_version +
           R"(","metadata":{"resourceVersion":")" + version + R"(","creationTimestamp":null})" + c.zero_fields + "}}\n";
  }

  // ---- writes: POST (create), PATCH (merge patch of an object or its /status), DELETE
  // (optional preconditions; dependents named by ownerReferences go too, as the garbage
  // collector would delete them). Each one makes a new resourceVersion and an event.
  std::pair<int, std::string> write(const http::request<http::string_body>& request, const std::string& api_version,
                                    const std::string& ns, const std::string& plural, const std::string& name,
                                    const std::string& sub) {
    const std::string key = collection_key(api_version, plural);
    if (key.empty() || collections.at(key).missing || ns.empty()) return {404, failure_body(404)};
    Collection& c = collections.at(key);
    const http::verb verb = request.method();
    rapidjson::Document body;
    if (!request.body().empty()) {
      body.Parse(request.body().data(), request.body().size());
      if (body.HasParseError() || !body.IsObject()) {
        return {400, status_body(400, "BadRequest", "the request body is not a JSON object")};
      }
    }
    if (verb == http::verb::post && name.empty()) return create(key, ns, body);
    if (name.empty() || !(sub.empty() || sub == "status")) {
      return {405, status_body(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")};
    }
    auto it = c.objects.find(ns + "/" + name);
    if (it == c.objects.end()) return {404, not_found(c, name)};
    rapidjson::Document stored;
    stored.Parse(it->second.data(), it->second.size());
    const std::string version = string_member(stored["metadata"], "resourceVersion");
    if (verb == http::verb::patch) {
      if (request[http::field::content_type] != "application/merge-patch+json") {
        return {415, status_body(415, "UnsupportedMediaType", "the fake only applies merge patches")};
      }
      if (!body.IsObject()) return {400, status_body(400, "BadRequest", "empty patch")};
      // A resourceVersion in the patch is a precondition: the patched object keeps it, and
      // the update fails when it is not the stored one (optimistic concurrency).
      const std::string want = body.HasMember("metadata") ? string_member(body["metadata"], "resourceVersion") : "";
      if (!want.empty() && want != version) {
        return {409, conflict(c, name,
                              "the object has been modified; please apply your changes to the latest version and try "
                              "again")};
      }
      rapidjson::Document before;
      before.Parse(it->second.data(), it->second.size());
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
      // An update that changes nothing is not written: same resourceVersion, no event.
      if (stored == before) return {200, it->second};
      put(key, to_json(stored), true);
      return {200, c.objects.at(ns + "/" + name)};
    }
    if (verb == http::verb::delete_) {
      const auto& meta = stored["metadata"];
      if (body.IsObject() && body.HasMember("preconditions") && body["preconditions"].IsObject()) {
        for (const char* field : {"resourceVersion", "uid"}) {
          const auto& pre = body["preconditions"];
          if (!pre.HasMember(field) || !pre[field].IsString()) continue;
          const std::string wanted = pre[field].GetString();
          const std::string have = string_member(meta, field);
          if (wanted != have) {
            const std::string what = field[0] == 'u' ? "UID" : "ResourceVersion";
            return {409, conflict(c, name,
                                  "Precondition failed: " + what + " in precondition: " + wanted + ", " + what +
                                      " in object meta: " + have)};
          }
        }
      }
      const std::string uid = string_member(meta, "uid");
      std::string last = it->second;
      // Pods go as a forced delete goes: marked first, then removed.
      if (c.plural == "pods") {
        last = force_delete(key, ns, name).value_or(last);
      } else {
        erase(key, ns, name);
      }
      if (!uid.empty()) erase_dependents(ns, uid);
      return {200, std::move(last)};
    }
    return {405, status_body(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")};
  }

  // apierrors.NewConflict.
  static std::string conflict(const Collection& c, const std::string& name, const std::string& why) {
    return status_body(409, "Conflict",
                       "Operation cannot be fulfilled on " + c.resource() + " \"" + name + "\": " + why,
                       status_details(name, c.group(), c.plural));
  }

  static std::string not_found(const Collection& c, const std::string& name) {
    return status_body(404, "NotFound", c.resource() + " \"" + name + "\" not found",
                       status_details(name, c.group(), c.plural));
  }

  // POST: the name is metadata.name or made from generateName, the server sets namespace,
  // uid, creationTimestamp and resourceVersion. Events are validated and written back as
  // their Go structs are; their posted order is kept for events().
  std::pair<int, std::string> create(const std::string& key, const std::string& ns, rapidjson::Document& body) {
    Collection& c = collections.at(key);
    if (!body.IsObject()) body.SetObject();
    auto& a = body.GetAllocator();
    if (!body.HasMember("metadata") || !body["metadata"].IsObject()) {
      set_member(body, "metadata", rapidjson::Value(rapidjson::kObjectType), a);
    }
    auto& meta = body["metadata"];
    if (const std::string given = string_member(meta, "namespace"); !given.empty() && given != ns) {
      return {400,
              status_body(400, "BadRequest",
                          "the namespace of the provided object does not match the namespace sent on the request")};
    }
    std::string object_name = string_member(meta, "name");
    if (const std::string prefix = string_member(meta, "generateName"); object_name.empty() && !prefix.empty()) {
      do object_name = generate_name(prefix);
      while (c.objects.contains(ns + "/" + object_name));
    }
    if (object_name.empty()) {
      return {422,
              invalid_body(c.kind, c.group(), "", {{"metadata.name", true, "", "name or generateName is required"}})};
    }
    const bool is_event = c.kind == "Event";
    if (is_event) {
      const auto errors = event_problems(c.group() == "events.k8s.io", ns, object_name, body);
      if (!errors.empty()) return {422, invalid_body(c.kind, c.group(), object_name, errors)};
    }
    if (c.objects.contains(ns + "/" + object_name)) {
      return {409, status_body(409, "AlreadyExists", c.resource() + " \"" + object_name + "\" already exists",
                               status_details(object_name, c.group(), c.plural))};
    }
    char uid[40];
    std::snprintf(uid, sizeof uid, "00000000-0000-4000-8000-%012llx", static_cast<unsigned long long>(++uids));
    if (c.builtin) {
      set_member(meta, "name", text(object_name, a), a);
      set_member(meta, "namespace", text(ns, a), a);
      set_member(meta, "uid", text(uid, a), a);
      set_member(meta, "resourceVersion", text("0", a), a);  // holds its place; put() sets it
      set_member(meta, "creationTimestamp", text(now_rfc3339(), a), a);
      set_member(body, "kind", text(c.kind, a), a);
      set_member(body, "apiVersion", text(c.api_version, a), a);
    } else {
      for (const char* field : {"name", "namespace", "uid", "creationTimestamp", "resourceVersion"})
        meta.RemoveMember(field);
      meta.AddMember("name", text(object_name, a), a);
      meta.AddMember("namespace", text(ns, a), a);
      meta.AddMember("uid", text(uid, a), a);
      meta.AddMember("creationTimestamp", text(now_rfc3339(), a), a);
    }
    if (is_event) {
      rapidjson::Value event =
          go_struct(body, c.group().empty() ? std::span(kCoreV1Event) : std::span(kEventsV1Event), a);
      if (const std::string t = string_member(event, "eventTime"); !t.empty())
        set_member(event, "eventTime", text(micro_time(t), a), a);
      static_cast<rapidjson::Value&>(body).Swap(event);
    } else if (c.builtin) {
      rapidjson::Value ordered = go_struct(meta, kObjectMeta, a);
      meta = ordered;
    }
    put(key, to_json(body), true);
    std::string created = c.objects.at(ns + "/" + object_name);
    if (is_event) posted_events.push_back(created);
    return {201, std::move(created)};
  }

  // names.SimpleNameGenerator: the prefix, cut to leave room, and five characters from
  // utilrand's alphabet (no vowels, no digits that look like letters).
  std::string generate_name(std::string_view prefix) {
    static constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
    std::uniform_int_distribution<std::size_t> pick(0, kAlphabet.size() - 1);
    std::string out(prefix.substr(0, std::min<std::size_t>(prefix.size(), 58)));
    for (int i = 0; i < 5; ++i) out += kAlphabet[pick(rng)];
    return out;
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
        target.EraseMember(m->name);  // Erase keeps the other members' order; Remove would not
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
    const std::string key = collection_key(api_version, plural);
    if (key.empty() || collections.at(key).missing) co_return co_await respond(stream, request, 404, failure_body(404));
    const Collection& c = collections.at(key);
    if (!name.empty()) {
      auto it = c.objects.find(ns + "/" + name);
      if (it == c.objects.end()) co_return co_await respond(stream, request, 404, not_found(c, name));
      co_return co_await respond(stream, request, 200, it->second);
    }
    std::optional<core::Selector> selector;
    if (auto it = query.find("labelSelector"); it != query.end() && !it->second.empty()) {
      std::string error;
      selector = core::Selector::parse(it->second, &error);
      if (!selector) {
        co_return co_await respond(stream, request, 400,
                                   status_body(400, "BadRequest", "unable to parse requirement: " + error));
      }
    }
    auto watch = query.find("watch");
    if (watch != query.end() && (watch->second == "1" || watch->second == "true")) {
      co_await serve_watch(stream, key, ns, query, std::move(selector));
      co_return false;
    }
    co_return co_await serve_list(stream, request, c, ns, query, selector);
  }

  net::awaitable<bool> serve_list(Stream& stream, const http::request<http::string_body>& request, const Collection& c,
                                  const std::string& ns, const std::map<std::string, std::string>& query,
                                  const std::optional<core::Selector>& selector) {
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
      if (selector && !selects(*selector, it->second)) continue;
      if (limit != 0 && count == limit) {
        ++remaining;
        continue;
      }
      if (count != 0) items += ",";
      items += c.builtin ? without_type(it->second) : it->second;
      last_key = it->first;
      ++count;
    }
    const std::string next = remaining == 0 ? "" : std::to_string(list_rv) + "|" + last_key;
    // etcd counts keys, not matches, so with a selector the server does not say how many remain.
    const std::string remaining_count =
        remaining == 0 || selector ? "" : R"(,"remainingItemCount":)" + std::to_string(remaining);
    // The body is built before the co_await: g++ 12 destroys a conditional's temporary twice
    // when it sits in a co_await's operand.
    std::string body;
    if (c.builtin) {
      // As list-task-pods.json: Go struct order, and `continue` only when there is more.
      const std::string continued = next.empty() ? "" : R"(,"continue":)" + quote(next);
      body = R"({"kind":")" + c.kind + R"(List","apiVersion":")" + c.api_version +
             R"(","metadata":{"resourceVersion":")" + std::to_string(list_rv) + "\"" + continued + remaining_count +
             R"(},"items":[)" + items + "]}";
    } else {
      body = R"({"apiVersion":")" + c.api_version + R"(","items":[)" + items + R"(],"kind":")" + c.kind +
             R"(List","metadata":{"continue":)" + quote(next) + remaining_count + R"(,"resourceVersion":")" +
             std::to_string(list_rv) + R"("}})";
    }
    co_return co_await respond(stream, request, 200, std::move(body));
  }

  // A typed list's items carry no apiVersion or kind (the list says them once).
  static std::string without_type(const std::string& json) {
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    doc.EraseMember("kind");
    doc.EraseMember("apiVersion");
    return to_json(doc);
  }

  // Writes raw chunks: the framing is part of what is being tested, and a test must be able
  // to cut it anywhere.
  net::awaitable<bool> write_raw(Stream& stream, const std::string& bytes) {
    auto [ec, n] = co_await net::async_write(stream, net::buffer(bytes), use_nothrow_awaitable);
    co_return !ec;
  }

  net::awaitable<void> serve_watch(Stream& stream, const std::string& plural, const std::string& ns,
                                   const std::map<std::string, std::string>& query,
                                   std::optional<core::Selector> selector) {
    const Collection& c = collections.at(plural);
    Watcher w(ioc);
    w.plural = plural;
    w.namespace_ = ns;
    w.selector = std::move(selector);
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
        if (!ns.empty() && key.compare(0, ns.size() + 1, ns + "/") != 0) continue;
        if (w.selector && !selects(*w.selector, object)) continue;
        w.queue.push_back(event_line("ADDED", object));
      }
    } else {
      w.from = parse_u64(rv_param->second);
      if (w.from < compacted_rv) {
        // Not HTTP 410: a 200 stream with one ERROR event, then the end (fixtures/api/watch-410.raw).
        co_await write_raw(stream, chunk(expired_event(w.from)) + "0\r\n\r\n");
        co_return;
      }
      for (const auto& e : history) {
        if (e.resource_version <= w.from || e.plural != plural || !(ns.empty() || e.namespace_ == ns)) continue;
        if (auto line = line_for(w, e)) w.queue.push_back(std::move(*line));
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
  std::minstd_rand rng;  // generated names; a fixed seed keeps a run repeatable
  std::vector<std::string> posted_events;
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
bool FakeApiServer::force_delete_pod(std::string_view namespace_, std::string_view name) {
  return impl_->run(
      [&] { return impl_->force_delete("pods", std::string(namespace_), std::string(name)).has_value(); });
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
      w->queue.push_back(impl_->bookmark_line(impl_->collections.at(w->plural)));
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

std::vector<std::string> FakeApiServer::events() const {
  return impl_->run([this] { return impl_->posted_events; });
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
         R"(,"creationTimestamp":"2026-11-23T17:09:03Z","uid":)" + quote("task-" + std::string(namespace_) + "-" + std::string(name)) +
         R"(},"spec":{"replicas":0},"status":{"replicas":0,"selector":)" + quote(selector) + "}}";
}

// ---- task pods ------------------------------------------------------------------------

namespace {

constexpr std::string_view kNodeIp = "10.0.0.7";
constexpr std::string_view kPodIp = "10.244.1.23";

rapidjson::Document parse_object(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    throw std::invalid_argument("fake API server: not a JSON object: " + std::string(json.substr(0, 80)));
  }
  return doc;
}

// A stable uid for a pod: FNV-1a of its namespace and name, in the UUID v4 layout.
std::string uid_of(std::string_view namespace_, std::string_view name) {
  std::uint64_t h = 14695981039346656037ull;
  for (const char c : std::string(namespace_) + "/" + std::string(name)) {
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  }
  char out[40];
  std::snprintf(out, sizeof out, "%08llx-%04llx-4%03llx-8%03llx-%012llx", static_cast<unsigned long long>(h >> 32),
                static_cast<unsigned long long>((h >> 16) & 0xffff), static_cast<unsigned long long>(h & 0xfff),
                static_cast<unsigned long long>((h >> 20) & 0xfff),
                static_cast<unsigned long long>(h & 0xffffffffffffull));
  return out;
}

// The kubelet's ids: the runtime's container id (the captured ones repeat the container's
// index) and the image digest.
std::string container_id_of(std::size_t index) {
  char two[3];
  std::snprintf(two, sizeof two, "%02zx", index & 0xff);
  std::string id = "containerd://";
  for (int i = 0; i < 32; ++i) id += two;
  return id;
}

std::string image_id_of(std::string_view image) {
  const auto slash = image.rfind('/');
  const auto colon = image.rfind(':');
  const std::string_view repository =
      colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash) ? image.substr(0, colon)
                                                                                            : image;
  std::string digest;
  for (int i = 0; i < 32; ++i) digest += "ab";
  return std::string(repository) + "@sha256:" + digest;
}

// The imagePullPolicy default: Always for an untagged or :latest image, else IfNotPresent.
std::string_view pull_policy_of(std::string_view image) {
  const auto slash = image.rfind('/');
  const auto colon = image.rfind(':');
  const bool tagged = colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash);
  return tagged && image.substr(colon + 1) != "latest" ? "IfNotPresent" : "Always";
}

// The QoS class the API server derives from the containers' resources.
std::string_view qos_class_of(const std::vector<TaskPodContainer>& containers) {
  bool any = false;
  bool guaranteed = true;
  for (const auto& c : containers) {
    any = any || !c.cpu_request.empty() || !c.memory_request.empty() || !c.cpu_limit.empty() || !c.memory_limit.empty();
    guaranteed = guaranteed && !c.cpu_limit.empty() && !c.memory_limit.empty() &&
                 (c.cpu_request.empty() || c.cpu_request == c.cpu_limit) &&
                 (c.memory_request.empty() || c.memory_request == c.memory_limit);
  }
  return !any ? "BestEffort" : guaranteed ? "Guaranteed" : "Burstable";
}

rapidjson::Value condition(std::string_view type, std::string_view status, std::string_view since,
                           std::string_view reason, Allocator& a) {
  rapidjson::Value c(rapidjson::kObjectType);
  c.AddMember("type", text(type, a), a);
  c.AddMember("status", text(status, a), a);
  c.AddMember("lastProbeTime", rapidjson::Value(), a);
  c.AddMember("lastTransitionTime", text(since, a), a);
  if (!reason.empty()) c.AddMember("reason", text(reason, a), a);
  return c;
}

}  // namespace

std::string make_task_pod(const TaskPod& pod) {
  const core::TaskLabelKeys keys;
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  // Labels come back sorted by key (the server stores a Go map).
  std::map<std::string, std::string> labels{{"airflow_version", "2.10.3"},
                                            {keys.dag_id, pod.dag_id},
                                            {"run_id", pod.run_id},
                                            {keys.task_id, pod.task_id},
                                            {keys.try_number, std::to_string(pod.try_number)}};
  if (pod.launcher == core::Launcher::PodOperator) {
    labels[keys.pod_operator] = "True";
    labels["airflow_kpo_in_cluster"] = "True";
  } else if (pod.launcher == core::Launcher::Executor) {
    labels[keys.executor] = "True";
    labels["airflow-worker"] = "12";
  }
  rapidjson::Value label_object(rapidjson::kObjectType);
  for (const auto& [k, v] : labels) label_object.AddMember(text(k, a), text(v, a), a);
  rapidjson::Value meta(rapidjson::kObjectType);
  meta.AddMember("name", text(pod.name, a), a);
  meta.AddMember("namespace", text(pod.namespace_, a), a);
  meta.AddMember("uid", text(uid_of(pod.namespace_, pod.name), a), a);
  meta.AddMember("creationTimestamp", text(pod.creation_timestamp, a), a);
  meta.AddMember("labels", label_object, a);

  rapidjson::Value containers(rapidjson::kArrayType);
  for (const auto& c : pod.containers) {
    const auto quantities = [&a](std::string_view cpu, std::string_view memory) {
      rapidjson::Value q(rapidjson::kObjectType);
      if (!cpu.empty()) q.AddMember("cpu", text(cpu, a), a);
      if (!memory.empty()) q.AddMember("memory", text(memory, a), a);
      return q;
    };
    rapidjson::Value resources(rapidjson::kObjectType);
    if (rapidjson::Value limits = quantities(c.cpu_limit, c.memory_limit); limits.MemberCount() != 0) {
      resources.AddMember("limits", limits, a);
    }
    if (rapidjson::Value requests = quantities(c.cpu_request, c.memory_request); requests.MemberCount() != 0) {
      resources.AddMember("requests", requests, a);
    }
    rapidjson::Value container(rapidjson::kObjectType);
    container.AddMember("name", text(c.name, a), a);
    container.AddMember("image", text(c.image, a), a);
    container.AddMember("resources", resources, a);
    container.AddMember("terminationMessagePath", "/dev/termination-log", a);
    container.AddMember("terminationMessagePolicy", "File", a);
    container.AddMember("imagePullPolicy", text(pull_policy_of(c.image), a), a);
    containers.PushBack(container, a);
  }
  rapidjson::Value tolerations(rapidjson::kArrayType);
  for (const char* key : {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}) {
    rapidjson::Value t(rapidjson::kObjectType);
    t.AddMember("key", rapidjson::StringRef(key), a);
    t.AddMember("operator", "Exists", a);
    t.AddMember("effect", "NoExecute", a);
    t.AddMember("tolerationSeconds", 300, a);
    tolerations.PushBack(t, a);
  }
  // What defaulting and admission add to a pod that names only its containers (the captured ADDED).
  rapidjson::Value spec(rapidjson::kObjectType);
  spec.AddMember("containers", containers, a);
  spec.AddMember("restartPolicy", "Never", a);
  spec.AddMember("terminationGracePeriodSeconds", 30, a);
  spec.AddMember("dnsPolicy", "ClusterFirst", a);
  spec.AddMember("securityContext", rapidjson::Value(rapidjson::kObjectType), a);
  spec.AddMember("schedulerName", "default-scheduler", a);
  spec.AddMember("tolerations", tolerations, a);
  spec.AddMember("priority", 0, a);
  spec.AddMember("enableServiceLinks", true, a);
  spec.AddMember("preemptionPolicy", "PreemptLowerPriority", a);
  rapidjson::Value status(rapidjson::kObjectType);
  status.AddMember("phase", "Pending", a);
  status.AddMember("qosClass", text(qos_class_of(pod.containers), a), a);

  doc.AddMember("kind", "Pod", a);
  doc.AddMember("apiVersion", "v1", a);
  doc.AddMember("metadata", meta, a);
  doc.AddMember("spec", spec, a);
  doc.AddMember("status", status, a);
  return to_json(doc);
}

std::string with_containers_running(std::string_view pod_json, std::string_view started_at) {
  rapidjson::Document doc = parse_object(pod_json);
  auto& a = doc.GetAllocator();
  rapidjson::Value conditions(rapidjson::kArrayType);
  for (const char* type : {"Initialized", "Ready", "ContainersReady", "PodScheduled"}) {
    conditions.PushBack(condition(type, "True", started_at, "", a), a);
  }
  rapidjson::Value pod_ips(rapidjson::kArrayType);
  rapidjson::Value pod_ip(rapidjson::kObjectType);
  pod_ip.AddMember("ip", text(kPodIp, a), a);
  pod_ips.PushBack(pod_ip, a);
  rapidjson::Value statuses(rapidjson::kArrayType);
  const auto& containers = doc["spec"]["containers"];
  for (rapidjson::SizeType i = 0; i < containers.Size(); ++i) {
    const std::string image = string_member(containers[i], "image");
    rapidjson::Value running(rapidjson::kObjectType);
    running.AddMember("startedAt", text(started_at, a), a);
    rapidjson::Value state(rapidjson::kObjectType);
    state.AddMember("running", running, a);
    rapidjson::Value s(rapidjson::kObjectType);
    s.AddMember("name", text(string_member(containers[i], "name"), a), a);
    s.AddMember("state", state, a);
    s.AddMember("lastState", rapidjson::Value(rapidjson::kObjectType), a);
    s.AddMember("ready", true, a);
    s.AddMember("restartCount", 0, a);
    s.AddMember("image", text(image, a), a);
    s.AddMember("imageID", text(image_id_of(image), a), a);
    s.AddMember("containerID", text(container_id_of(i), a), a);
    s.AddMember("started", true, a);
    statuses.PushBack(s, a);
  }
  rapidjson::Value status(rapidjson::kObjectType);
  status.AddMember("phase", "Running", a);
  status.AddMember("conditions", conditions, a);
  status.AddMember("hostIP", text(kNodeIp, a), a);
  status.AddMember("podIP", text(kPodIp, a), a);
  status.AddMember("podIPs", pod_ips, a);
  status.AddMember("startTime", text(started_at, a), a);
  status.AddMember("containerStatuses", statuses, a);
  status.AddMember("qosClass", text(string_member(doc["status"], "qosClass"), a), a);
  doc["status"] = status;
  return to_json(doc);
}

std::string with_container_ended(std::string_view pod_json, const ContainerEnd& end) {
  rapidjson::Document doc = parse_object(pod_json);
  if (!doc["status"].HasMember("containerStatuses")) {
    doc = parse_object(with_containers_running(pod_json, end.started_at));
  }
  auto& a = doc.GetAllocator();
  auto& status = doc["status"];
  bool found = false;
  bool all_ended = true;
  bool failed = false;
  for (auto& s : status["containerStatuses"].GetArray()) {
    if (string_member(s, "name") == end.container) {
      rapidjson::Value terminated(rapidjson::kObjectType);
      terminated.AddMember("exitCode", end.exit_code, a);
      terminated.AddMember("reason", text(end.reason, a), a);
      terminated.AddMember("startedAt", text(end.started_at, a), a);
      terminated.AddMember("finishedAt", text(end.finished_at, a), a);
      terminated.AddMember("containerID", text(string_member(s, "containerID"), a), a);
      rapidjson::Value state(rapidjson::kObjectType);
      state.AddMember("terminated", terminated, a);
      s["state"] = state;
      s["ready"] = false;
      s["started"] = false;
      found = true;
    }
    const bool ended = s["state"].HasMember("terminated");
    all_ended = all_ended && ended;
    failed = failed || (ended && s["state"]["terminated"]["exitCode"].GetInt() != 0);
  }
  if (!found) throw std::invalid_argument("fake API server: the pod has no container " + end.container);
  if (all_ended) {
    // As captured: the status patch that ended the pod replaced the conditions with these two.
    const std::string_view reason = failed ? "PodFailed" : "PodCompleted";
    rapidjson::Value conditions(rapidjson::kArrayType);
    for (const char* type : {"Ready", "ContainersReady"}) {
      conditions.PushBack(condition(type, "False", end.finished_at, reason, a), a);
    }
    status["phase"] = text(failed ? "Failed" : "Succeeded", a);
    status["conditions"] = conditions;
  }
  return to_json(doc);
}

std::vector<CapturedPodEvent> captured_task_pod_events() {
  const std::string stream = read_fixture("api/watch-task-pods.ndjson");
  std::vector<CapturedPodEvent> events;
  std::size_t start = 0;
  while (start < stream.size()) {
    const auto nl = stream.find('\n', start);
    const std::string_view line = std::string_view(stream).substr(start, nl == std::string::npos ? nl : nl - start);
    start = nl == std::string::npos ? stream.size() : nl + 1;
    if (line.empty()) continue;
    const rapidjson::Document event = parse_object(line);
    const std::string type = string_member(event, "type");
    if (type == "BOOKMARK") continue;
    events.push_back({type, to_json(event["object"])});
  }
  return events;
}

void replay(FakeApiServer& api, const CapturedPodEvent& event) {
  if (event.type != "DELETED") {
    api.upsert("pods", event.object);
    return;
  }
  const rapidjson::Document pod = parse_object(event.object);
  api.remove("pods", string_member(pod["metadata"], "namespace"), string_member(pod["metadata"], "name"));
}

}  // namespace avw::test
