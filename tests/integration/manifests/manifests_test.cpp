// The deployment manifests as `kubectl kustomize` renders them (the base, the cert-manager
// overlay, the recommender component and the optional ServiceMonitor, PrometheusRule and
// NetworkPolicy components), checked against what the webhook, the VPA recommender, the API
// server and Prometheus need:
// opt-in webhooks that fail open, a CRD whose /scale the recommender can read, a hardened
// Deployment that serves what its probes and the Service expect, least-privilege RBAC, and
// flags the binary actually has. Selectors are evaluated with the core's own label selector
// semantics, so "matches" here means what it means to the API server. Also: the example
// objects against the core's naming, the Grafana dashboard's and the alerts' queries against
// the real server's /metrics, manifests/install-certs against a fake kubectl, and docs/
// against the binary (its flags, the annotations it reads, the metrics it registers).
//
// kubectl is required (KUBECTL overrides which one); both kustomize v2.0.3 (Debian bookworm's
// kubectl 1.20) and v5 render the same objects.
#include <sys/wait.h>
#include <unistd.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "avw/core/base64.hpp"
#include "avw/core/oom_kill.hpp"
#include "avw/core/selector.hpp"
#include "avw/core/task.hpp"
#include "support/net/https_client.hpp"
#include "support/net/process.hpp"
#include "support/net/tls_certs.hpp"

namespace {

namespace fs = std::filesystem;
using avw::core::LabelSet;
using avw::core::Selector;
using avw::test::TempDir;

constexpr std::string_view kNamespace = "airflow-vpa-webhook";
constexpr std::string_view kName = "airflow-vpa-webhook";
constexpr std::string_view kSecret = "airflow-vpa-webhook-tls";
constexpr std::string_view kTlsDir = "/etc/airflow-vpa-webhook/tls";

// AVW_FIXTURES_DIR is <repo>/tests/fixtures.
fs::path repo_root() { return fs::path(AVW_FIXTURES_DIR).parent_path().parent_path(); }

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs a shell command, keeping stdout and stderr apart: newer kustomize prints deprecation
// warnings on stderr, and they must not end up in the YAML.
CommandResult run_command(const std::string& command) {
  char err_path[] = "/tmp/avw-manifests-test-XXXXXX";
  const int fd = ::mkstemp(err_path);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  ::close(fd);

  CommandResult result;
  FILE* pipe = ::popen((command + " 2>" + shell_quote(err_path)).c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.out.append(buffer, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;

  std::ifstream err_file(err_path);
  std::ostringstream err;
  err << err_file.rdbuf();
  result.err = err.str();
  std::remove(err_path);
  return result;
}

std::string kubectl() {
  const char* env = std::getenv("KUBECTL");
  return env != nullptr && *env != '\0' ? env : "kubectl";
}

// The rendered objects of one kustomization, looked up by kind and name.
class Rendered {
 public:
  explicit Rendered(const std::string& dir) {
    const std::string command = kubectl() + " kustomize " + shell_quote((repo_root() / dir).string());
    const CommandResult r = run_command(command);
    INFO("command: " << command);
    INFO("stderr: " << r.err);
    INFO("kubectl is required (Debian: apt-get install kubernetes-client; scripts/deps installs it)");
    REQUIRE(r.exit_code == 0);
    for (const YAML::Node& doc : YAML::LoadAll(r.out)) {
      if (doc.IsMap()) docs_.push_back(doc);
    }
    REQUIRE(!docs_.empty());
  }

  const std::vector<YAML::Node>& all() const { return docs_; }

  std::optional<YAML::Node> find(std::string_view kind, std::string_view name) const {
    for (const YAML::Node& doc : docs_) {
      if (doc["kind"].as<std::string>() == kind && doc["metadata"]["name"].as<std::string>() == name)
        return doc;
    }
    return std::nullopt;
  }

  YAML::Node get(std::string_view kind, std::string_view name) const {
    auto doc = find(kind, name);
    INFO("looking for " << kind << " " << name);
    REQUIRE(doc.has_value());
    return *doc;
  }

  std::vector<YAML::Node> of_kind(std::string_view kind) const {
    std::vector<YAML::Node> out;
    for (const YAML::Node& doc : docs_) {
      if (doc["kind"].as<std::string>() == kind) out.push_back(doc);
    }
    return out;
  }

 private:
  std::vector<YAML::Node> docs_;
};

const Rendered& base() {
  static const Rendered rendered("manifests");
  return rendered;
}

const Rendered& cert_manager() {
  static const Rendered rendered("manifests/overlays/cert-manager");
  return rendered;
}

const Rendered& with_recommender() {
  static const Rendered rendered("manifests/overlays/recommender");
  return rendered;
}

// A kustomization of one's own, outside the repository, of `resources` and `components` (paths
// in the repository), rendered: what a user writes to combine the overlays and components.
// kustomize takes only relative paths to other kustomizations.
Rendered compose(const std::vector<std::string>& resources, const std::vector<std::string>& components) {
  const TempDir dir;
  const fs::path here(dir.path());
  std::ofstream out(here / "kustomization.yaml");
  out << "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n";
  for (const std::string& r : resources) out << "- " << fs::relative(repo_root() / r, here).string() << "\n";
  out << "components:\n";
  for (const std::string& c : components) out << "- " << fs::relative(repo_root() / c, here).string() << "\n";
  out.close();
  return Rendered(here.string());
}

std::vector<std::string> strings(const YAML::Node& seq) {
  std::vector<std::string> out;
  if (!seq.IsDefined() || seq.IsNull()) return out;
  REQUIRE(seq.IsSequence());
  for (const YAML::Node& item : seq) out.push_back(item.as<std::string>());
  return out;
}

std::string text(const YAML::Node& node) {
  REQUIRE(node.IsDefined());
  REQUIRE(node.IsScalar());
  return node.as<std::string>();
}

// A structured metav1.LabelSelector as the core evaluates it.
Selector selector_of(const YAML::Node& label_selector) {
  std::vector<std::pair<std::string, std::string>> match_labels;
  for (const auto& kv : label_selector["matchLabels"]) {
    match_labels.emplace_back(kv.first.as<std::string>(), kv.second.as<std::string>());
  }
  std::vector<Selector::MatchExpression> expressions;
  for (const YAML::Node& e : label_selector["matchExpressions"]) {
    expressions.push_back({text(e["key"]), text(e["operator"]), strings(e["values"])});
  }
  std::string error;
  auto selector = Selector::from_structured(match_labels, expressions, &error);
  INFO(error);
  REQUIRE(selector.has_value());
  return *selector;
}

// Owns the strings a LabelSet views.
class Labels {
 public:
  explicit Labels(std::map<std::string, std::string> labels) : labels_(std::move(labels)) {
    for (const auto& [k, v] : labels_) set_.set(k, v);
  }
  explicit Labels(const YAML::Node& map) {
    for (const auto& kv : map) labels_.emplace(kv.first.as<std::string>(), kv.second.as<std::string>());
    for (const auto& [k, v] : labels_) set_.set(k, v);
  }
  Labels(const Labels&) = delete;
  Labels& operator=(const Labels&) = delete;
  const LabelSet& set() const { return set_; }

 private:
  std::map<std::string, std::string> labels_;
  LabelSet set_;
};

YAML::Node webhook_named(const YAML::Node& mwc, std::string_view name) {
  for (const YAML::Node& w : mwc["webhooks"]) {
    if (w["name"].as<std::string>() == name) return w;
  }
  FAIL("no webhook named " << name);
  return {};
}

YAML::Node only_container(const YAML::Node& deployment) {
  const YAML::Node containers = deployment["spec"]["template"]["spec"]["containers"];
  REQUIRE(containers.size() == 1);
  return containers[0];
}

// The hardening every Deployment of the install has, which the restricted Pod Security
// Standard of the namespace also demands: a non-root user (`user`), no privilege escalation or
// capabilities, RuntimeDefault seccomp, a read-only root filesystem, requests and limits.
void check_hardened(const YAML::Node& deployment, int user) {
  const YAML::Node pod = deployment["spec"]["template"]["spec"];
  CHECK(pod["securityContext"]["runAsNonRoot"].as<bool>());
  CHECK(pod["securityContext"]["runAsUser"].as<int>() == user);
  CHECK(text(pod["securityContext"]["seccompProfile"]["type"]) == "RuntimeDefault");

  const YAML::Node container = only_container(deployment);
  const YAML::Node sc = container["securityContext"];
  CHECK(sc["runAsNonRoot"].as<bool>());
  CHECK(sc["runAsUser"].as<int>() == user);
  CHECK(sc["readOnlyRootFilesystem"].as<bool>());
  CHECK_FALSE(sc["allowPrivilegeEscalation"].as<bool>());
  CHECK_FALSE(sc["privileged"].as<bool>());
  CHECK(strings(sc["capabilities"]["drop"]) == std::vector<std::string>{"ALL"});
  CHECK(!sc["capabilities"]["add"].IsDefined());
  CHECK(text(sc["seccompProfile"]["type"]) == "RuntimeDefault");

  for (const char* kind : {"requests", "limits"}) {
    for (const char* resource : {"cpu", "memory"}) {
      INFO(kind << "." << resource);
      CHECK(container["resources"][kind][resource].IsDefined());
    }
  }
}

// The value following `flag` in an argument list.
std::string arg_value(const std::vector<std::string>& args, std::string_view flag) {
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == flag) return args[i + 1];
  }
  FAIL("no " << flag << " in the arguments");
  return {};
}

// Every "--flag" of an argument list, without any "=value".
std::set<std::string> flags_of(const std::vector<std::string>& args) {
  std::set<std::string> flags;
  for (const std::string& a : args) {
    if (a.rfind("--", 0) == 0) flags.insert(a.substr(0, a.find('=')));
  }
  return flags;
}

// True when `flag` appears in `help` as a whole option name (not as the prefix of a longer one).
bool mentions_flag(const std::string& help, const std::string& flag) {
  for (std::size_t pos = help.find(flag); pos != std::string::npos; pos = help.find(flag, pos + 1)) {
    const std::size_t end = pos + flag.size();
    const bool starts_word = pos == 0 || help[pos - 1] != '-';
    const bool ends_word = end == help.size() || !(std::isalnum(static_cast<unsigned char>(help[end])) || help[end] == '-');
    if (starts_word && ends_word) return true;
  }
  return false;
}

// Resolves a probe's or Service's port (a number or a container port name) to a number.
int container_port(const YAML::Node& container, const YAML::Node& port) {
  for (const YAML::Node& p : container["ports"]) {
    if (port.as<std::string>() == p["name"].as<std::string>() ||
        port.as<std::string>() == p["containerPort"].as<std::string>()) {
      return p["containerPort"].as<int>();
    }
  }
  FAIL("container has no port " << port.as<std::string>());
  return 0;
}

using RuleKey = std::pair<std::string, std::string>;  // (apiGroup, resource)

// Every permission the rules of `role` grant, as (apiGroup, resource) -> verbs.
void add_rules(std::map<RuleKey, std::set<std::string>>& grants, const YAML::Node& role) {
  for (const YAML::Node& rule : role["rules"]) {
    REQUIRE(!rule["resourceNames"].IsDefined());
    REQUIRE(!rule["nonResourceURLs"].IsDefined());
    for (const std::string& group : strings(rule["apiGroups"])) {
      for (const std::string& resource : strings(rule["resources"])) {
        for (const std::string& verb : strings(rule["verbs"])) grants[{group, resource}].insert(verb);
      }
    }
  }
}

bool binds_service_account(const YAML::Node& binding, std::string_view account = kName) {
  for (const YAML::Node& s : binding["subjects"]) {
    if (s["kind"].as<std::string>() == "ServiceAccount" && s["name"].as<std::string>() == account &&
        s["namespace"].as<std::string>() == kNamespace) {
      return true;
    }
  }
  return false;
}

// A kubectl that answers what manifests/install-certs asks of a cluster where `kubectl apply -k
// manifests/` ran: it records every call, keeps the caBundle patch and the applied Secret, and
// serves the current caBundle from a file. Anything else is an error, so the script cannot call
// something the test does not know about.
class FakeKubectl {
 public:
  explicit FakeKubectl(bool webhook_configuration_exists = true) {
    const fs::path script = dir_.file("kubectl");
    std::ofstream out(script);
    out << "#!/usr/bin/env bash\n"
        << "dir='" << dir_.path() << "'\n"
        << "printf '%s\\n' \"$*\" >> \"$dir/calls\"\n"
        << "case \"$*\" in\n"
        << "  'get namespace airflow-vpa-webhook') echo namespace/airflow-vpa-webhook ;;\n"
        << "  'get mutatingwebhookconfiguration airflow-vpa-webhook')\n"
        << (webhook_configuration_exists ? "    echo found ;;\n" : "    echo 'not found' >&2; exit 1 ;;\n")
        << "  'get mutatingwebhookconfiguration airflow-vpa-webhook -o jsonpath={.webhooks[*].name}')\n"
        << "    echo enforce.airflow-vpa-webhook.io audit.airflow-vpa-webhook.io ;;\n"
        << "  'get mutatingwebhookconfiguration airflow-vpa-webhook -o jsonpath={.webhooks[0].clientConfig.caBundle}')\n"
        << "    cat \"$dir/current-ca-bundle\" 2>/dev/null || true ;;\n"
        << "  'patch mutatingwebhookconfiguration airflow-vpa-webhook --type=json -p '*)\n"
        << "    printf '%s' \"${@: -1}\" > \"$dir/patch.json\" ;;\n"
        << "  '-n airflow-vpa-webhook create secret tls airflow-vpa-webhook-tls '*' --dry-run=client -o yaml')\n"
        << "    printf 'kind: Secret\\ncert: %s\\nkey: %s\\n' \"$(cat \"${7#--cert=}\" | head -c 40)\" \"${8#--key=}\" ;;\n"
        << "  'apply -f -') cat > \"$dir/applied.yaml\" ;;\n"
        << "  *) echo \"fake kubectl: unexpected call: $*\" >&2; exit 1 ;;\n"
        << "esac\n";
    out.close();
    fs::permissions(script, fs::perms::owner_all);
  }

  std::string env() const { return "KUBECTL=" + shell_quote(dir_.file("kubectl")) + " "; }
  std::string file(const std::string& name) const { return dir_.file(name); }
  std::vector<std::string> calls() const {
    std::vector<std::string> lines;
    std::ifstream in(file("calls"));
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
  // What `get ... caBundle` answers from now on.
  void set_current_ca_bundle(const std::string& base64) const { std::ofstream(file("current-ca-bundle")) << base64; }

 private:
  TempDir dir_;
};

CommandResult install_certs(const FakeKubectl& kubectl, const TempDir& out, const std::string& extra = "") {
  return run_command(kubectl.env() + shell_quote((repo_root() / "manifests/install-certs").string()) + " --out " +
                     shell_quote(out.path()) + " " + extra);
}

// The PEM certificates of a caBundle patch, one per webhook, decoded.
std::vector<std::string> patched_bundles(const FakeKubectl& kubectl) {
  const YAML::Node patch = YAML::LoadFile(kubectl.file("patch.json"));
  std::vector<std::string> bundles;
  for (const YAML::Node& op : patch) {
    CHECK(text(op["op"]) == "add");
    CHECK(text(op["path"]) == "/webhooks/" + std::to_string(bundles.size()) + "/clientConfig/caBundle");
    const auto pem = avw::core::base64_decode(text(op["value"]));
    REQUIRE(pem.has_value());
    bundles.push_back(*pem);
  }
  return bundles;
}

std::size_t count_certificates(const std::string& pem) {
  std::size_t n = 0;
  for (std::size_t pos = pem.find("-----BEGIN CERTIFICATE-----"); pos != std::string::npos;
       pos = pem.find("-----BEGIN CERTIFICATE-----", pos + 1)) {
    ++n;
  }
  return n;
}

// The port of the server's "listening address=127.0.0.1:PORT" log line, once it is written.
std::optional<std::uint16_t> logged_port(const std::string& log_file) {
  std::ifstream in(log_file);
  for (std::string line; std::getline(in, line);) {
    const auto at = line.find("listening address=127.0.0.1:");
    if (at == std::string::npos) continue;
    const std::string digits = line.substr(at + 28, line.find(' ', at + 28) - (at + 28));
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    return static_cast<std::uint16_t>(std::stoi(digits));
  }
  return std::nullopt;
}

// Prometheus text exposition: metric name -> the label sets of its series.
using Exposition = std::map<std::string, std::vector<std::map<std::string, std::string>>>;

Exposition parse_exposition(const std::string& body) {
  Exposition out;
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    const std::size_t name_end = line.find_first_of("{ ");
    std::map<std::string, std::string> labels;
    if (name_end != std::string::npos && line[name_end] == '{') {
      std::size_t pos = name_end + 1;
      while (pos < line.size() && line[pos] != '}') {
        const std::size_t eq = line.find("=\"", pos);
        if (eq == std::string::npos) break;
        std::string value;
        std::size_t v = eq + 2;
        for (; v < line.size() && line[v] != '"'; ++v) {
          if (line[v] == '\\' && v + 1 < line.size()) ++v;
          value += line[v];
        }
        labels[line.substr(pos, eq - pos)] = value;
        pos = v + 1;
        if (pos < line.size() && line[pos] == ',') ++pos;
      }
    }
    out[line.substr(0, name_end)].push_back(std::move(labels));
  }
  return out;
}

// What a dashboard query needs from the exposition: the metrics it reads, the labels it groups
// by (`by (a, b)`) and the label values it selects (`a="x"`, and each alternative of `a=~"x|y"`).
struct PromQuery {
  std::set<std::string> metrics;
  std::set<std::string> grouping;
  std::set<std::pair<std::string, std::string>> matchers;
};

bool is_ident(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

PromQuery parse_query(const std::string& expr) {
  PromQuery q;
  for (std::size_t pos = expr.find("avw_"); pos != std::string::npos; pos = expr.find("avw_", pos)) {
    std::size_t end = pos;
    while (end < expr.size() && is_ident(expr[end])) ++end;
    q.metrics.insert(expr.substr(pos, end - pos));
    pos = end;
  }
  for (std::size_t pos = expr.find("by ("); pos != std::string::npos; pos = expr.find("by (", pos)) {
    const std::size_t close = expr.find(')', pos);
    std::istringstream names(expr.substr(pos + 4, close - pos - 4));
    for (std::string name; std::getline(names, name, ',');) {
      name.erase(0, name.find_first_not_of(' '));
      name.erase(name.find_last_not_of(' ') + 1);
      q.grouping.insert(name);
    }
    pos = close;
  }
  for (std::size_t open = expr.find('{'); open != std::string::npos; open = expr.find('{', open + 1)) {
    const std::size_t close = expr.find('}', open);
    const std::string inside = expr.substr(open + 1, close - open - 1);
    std::size_t pos = 0;
    while (pos < inside.size()) {
      const std::size_t op = inside.find_first_of("=!", pos);
      if (op == std::string::npos) break;
      const std::string label = inside.substr(pos, op - pos);
      const bool regex = inside.compare(op, 2, "=~") == 0;
      const bool negative = inside[op] == '!';
      const std::size_t quote = inside.find('"', op);
      const std::size_t end_quote = inside.find('"', quote + 1);
      const std::string value = inside.substr(quote + 1, end_quote - quote - 1);
      if (!negative) {
        std::istringstream alternatives(value);
        for (std::string alt; std::getline(alternatives, alt, regex ? '|' : '\0');) q.matchers.emplace(label, alt);
      }
      pos = inside.find(',', end_quote);
      pos = pos == std::string::npos ? inside.size() : pos + 1;
    }
  }
  return q;
}

// Metrics that only a cluster brings: the Kubernetes API source (src/kube), the closed loop's
// task-pod watch (src/loop) and the provisioner (src/provision) register them, and a scrape of
// the server on a recommendations file cannot show them. Each with its labels and the values
// they take (empty: any, such as an HTTP code or a resource). Keep in step with those sources;
// a test below finds every name and value here in them.
using LabelValues = std::map<std::string, std::set<std::string>>;
const std::set<std::string> kModes{"enforce", "dry-run"};
const std::set<std::string> kRequests{"original", "new"};
const std::map<std::string, LabelValues> kClusterOnlyMetrics{
    {"avw_kube_synced", {}},
    {"avw_kube_last_sync_timestamp_seconds", {}},
    {"avw_kube_watch_events_total", {{"resource", {}}, {"type", {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"}}}},
    {"avw_kube_api_errors_total", {{"resource", {}}, {"code", {}}}},
    {"avw_kube_relists_total", {{"resource", {}}, {"reason", {"initial", "expired", "resync", "retry"}}}},
    {"avw_kube_watch_restarts_total", {{"resource", {}}, {"reason", {"timeout", "dropped", "expired", "error"}}}},
    {"avw_kube_store_objects", {{"kind", {"vpas", "targets", "limitranges", "checkpoints", "namespaces"}}}},
    {"avw_kube_snapshot_rebuild_seconds_bucket", {{"le", {}}}},
    {"avw_task_runs_total", {{"phase", {"Succeeded", "Failed"}}}},
    {"avw_task_run_seconds_bucket", {{"le", {}}}},
    {"avw_task_oom_kills_total", {}},
    {"avw_task_cpu_core_seconds_total", {{"mode", kModes}, {"requests", kRequests}}},
    {"avw_task_memory_byte_seconds_total", {{"mode", kModes}, {"requests", kRequests}}},
    {"avw_oom_floor_changes_total", {{"change", {"raised", "lifted"}}}},
    {"avw_loop_status_writes_total", {{"result", {"written", "unchanged", "conflict", "missing", "error"}}}},
    {"avw_loop_events_total", {{"result", {"created", "error"}}}},
    {"avw_loop_dropped_total", {}},
    {"avw_provision_total", {{"result", {"created", "exists", "refreshed", "error", "dropped"}}}},
    {"avw_provision_gc_total", {{"result", {"deleted", "conflict", "gone", "error"}}}},
    {"avw_provision_known_tasks", {}},
    {"avw_provision_vpa_recommender_updates_total", {}},
    {"avw_provision_vpas_without_recommendation", {{"recommender", {}}}},
    {"avw_provision_vpas_with_recommendation", {{"recommender", {}}}},
};

// The real server, on the example recommendations, scraped once: every metric it registers
// without a cluster, with its series' labels.
Exposition scrape_example_server() {
  const TempDir dir;
  const avw::test::TestCa ca;
  ca.write_certificate(dir.file("ca.pem"));
  ca.issue(dir.file("tls.crt"), dir.file("tls.key"), avw::test::server_certificate(2));
  const std::string log_file = dir.file("server.log");
  avw::test::Subprocess server({AVW_BINARY, "serve", "--listen", "127.0.0.1:0", "--tls-cert", dir.file("tls.crt"),
                                "--tls-key", dir.file("tls.key"), "--recommendations",
                                (repo_root() / "tests/fixtures/recommendations-first-day.json").string(), "--threads",
                                "1", "--log-format", "text"},
                               avw::test::stdio("/dev/null", log_file));
  std::optional<std::uint16_t> port;
  avw::test::eventually([&] {
    port = logged_port(log_file);
    return port.has_value() || server.wait_for({}).has_value();
  });
  INFO(avw::test::read_file(log_file));
  REQUIRE(port.has_value());
  const auto scrape = avw::test::HttpsClient(*port, avw::test::trusting(dir.file("ca.pem"))).request("GET", "/metrics");
  REQUIRE(scrape.status == 200);
  return parse_exposition(scrape.body);
}

const Exposition& example_exposition() {
  static const Exposition exposed = scrape_example_server();
  return exposed;
}

// A query (a dashboard panel's, an alert's) asks only for metrics the webhook has, grouped by
// labels they carry and selected by values those labels take: scraped from the real server,
// or, for the metrics only a cluster brings, as the table above says.
void check_query(const std::string& expr) {
  INFO("query: " << expr);
  const PromQuery q = parse_query(expr);
  REQUIRE(!q.metrics.empty());
  const Exposition& exposed = example_exposition();
  for (const std::string& metric : q.metrics) {
    INFO("metric " << metric);
    // Label -> the values its series have ({"*"}: any value).
    LabelValues labels;
    if (const auto known = kClusterOnlyMetrics.find(metric); known != kClusterOnlyMetrics.end()) {
      for (const auto& [label, values] : known->second) labels[label] = values.empty() ? std::set<std::string>{"*"} : values;
    } else {
      const auto series = exposed.find(metric);
      REQUIRE(series != exposed.end());
      for (const auto& series_labels : series->second) {
        for (const auto& [label, value] : series_labels) labels[label].insert(value);
      }
    }
    for (const std::string& label : q.grouping) {
      INFO("grouped by " << label);
      CHECK(labels.count(label) == 1);
    }
    for (const auto& [label, value] : q.matchers) {
      if (label == "job") continue;  // set by Prometheus, not by the server
      INFO("matched by " << label << " = " << value);
      REQUIRE(labels.count(label) == 1);
      CHECK((labels.at(label).count("*") == 1 || labels.at(label).count(value) == 1));
    }
  }
}

}  // namespace

TEST_CASE("the base renders every object the webhook needs, in its namespace", "[manifests]") {
  const std::set<std::pair<std::string, std::string>> expected{
      {"Namespace", "airflow-vpa-webhook"},
      {"CustomResourceDefinition", "airflowtasks.airflow-vpa-webhook.io"},
      {"ServiceAccount", "airflow-vpa-webhook"},
      {"ClusterRole", "airflow-vpa-webhook-reader"},
      {"ClusterRole", "airflow-vpa-webhook-provisioner"},
      {"ClusterRoleBinding", "airflow-vpa-webhook-reader"},
      {"ClusterRoleBinding", "airflow-vpa-webhook-provisioner"},
      {"ClusterRole", "airflow-vpa-webhook-run-watch"},
      {"ClusterRoleBinding", "airflow-vpa-webhook-run-watch"},
      {"ClusterRole", "airflow-vpa-webhook-aggregate-to-view"},
      {"ClusterRole", "airflow-vpa-webhook-aggregate-to-edit"},
      {"Deployment", "airflow-vpa-webhook"},
      {"PodDisruptionBudget", "airflow-vpa-webhook"},
      {"Service", "airflow-vpa-webhook"},
      {"MutatingWebhookConfiguration", "airflow-vpa-webhook"},
  };
  std::set<std::pair<std::string, std::string>> rendered;
  for (const YAML::Node& doc : base().all()) {
    rendered.emplace(doc["kind"].as<std::string>(), doc["metadata"]["name"].as<std::string>());
  }
  CHECK(rendered == expected);

  const std::set<std::string> cluster_scoped{"Namespace", "CustomResourceDefinition", "ClusterRole",
                                             "ClusterRoleBinding", "MutatingWebhookConfiguration"};
  for (const YAML::Node& doc : base().all()) {
    const std::string kind = doc["kind"].as<std::string>();
    INFO(kind << " " << doc["metadata"]["name"].as<std::string>());
    if (cluster_scoped.count(kind) != 0) {
      CHECK(!doc["metadata"]["namespace"].IsDefined());
    } else {
      CHECK(doc["metadata"]["namespace"].as<std::string>() == kNamespace);
    }
  }
  // The webhook's pods meet the restricted Pod Security Standard, so the namespace enforces it.
  CHECK(text(base().get("Namespace", kNamespace)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]) ==
        "restricted");
}

TEST_CASE("each webhook calls its path through the Service for pod creations only", "[manifests][webhook]") {
  const auto [webhook, path] = GENERATE(table<std::string, std::string>({
      {"enforce.airflow-vpa-webhook.io", "/mutate"},
      {"audit.airflow-vpa-webhook.io", "/audit"},
  }));
  INFO(webhook);
  const YAML::Node mwc = base().get("MutatingWebhookConfiguration", kName);
  REQUIRE(mwc["apiVersion"].as<std::string>() == "admissionregistration.k8s.io/v1");
  REQUIRE(mwc["webhooks"].size() == 2);
  const YAML::Node w = webhook_named(mwc, webhook);

  const YAML::Node service = w["clientConfig"]["service"];
  CHECK(text(service["namespace"]) == kNamespace);
  CHECK(text(service["name"]) == kName);
  CHECK(text(service["path"]) == path);
  CHECK(service["port"].as<int>() == 443);
  CHECK(!w["clientConfig"]["url"].IsDefined());
  // Set by install-certs or cert-manager; a value here would be reset by every `kubectl apply -k`.
  CHECK(!w["clientConfig"]["caBundle"].IsDefined());

  REQUIRE(w["rules"].size() == 1);
  const YAML::Node rule = w["rules"][0];
  CHECK(strings(rule["operations"]) == std::vector<std::string>{"CREATE"});
  CHECK(strings(rule["apiGroups"]) == std::vector<std::string>{""});
  CHECK(strings(rule["apiVersions"]) == std::vector<std::string>{"v1"});
  CHECK(strings(rule["resources"]) == std::vector<std::string>{"pods"});
  CHECK(text(rule["scope"]) == "Namespaced");
}

TEST_CASE("the webhooks fail open fast and have no side effects on dry runs", "[manifests][webhook]") {
  const std::string webhook = GENERATE(as<std::string>{}, "enforce.airflow-vpa-webhook.io",
                                       "audit.airflow-vpa-webhook.io");
  INFO(webhook);
  const YAML::Node w = webhook_named(base().get("MutatingWebhookConfiguration", kName), webhook);
  CHECK(text(w["failurePolicy"]) == "Ignore");
  CHECK(w["timeoutSeconds"].as<int>() == 5);
  CHECK(text(w["sideEffects"]) == "NoneOnDryRun");
  CHECK(strings(w["admissionReviewVersions"]) == std::vector<std::string>{"v1"});
  CHECK(text(w["matchPolicy"]) == "Equivalent");
  CHECK(text(w["reinvocationPolicy"]) == "IfNeeded");
}

TEST_CASE("a namespace is served by the webhook of its mode label and never when excluded",
          "[manifests][webhook]") {
  struct Case {
    std::string namespace_name;
    std::string mode;  // empty: no label
    bool enforce;
    bool audit;
  };
  const Case c = GENERATE(values<Case>({
      {"airflow", "enforce", true, false},
      {"airflow", "dry-run", false, true},
      {"airflow", "", false, false},
      {"airflow", "enabled", false, false},
      {"kube-system", "enforce", false, false},
      {"airflow-vpa-webhook", "enforce", false, false},
      {"airflow-vpa-webhook", "dry-run", false, false},
  }));
  std::map<std::string, std::string> labels{{"kubernetes.io/metadata.name", c.namespace_name}};
  if (!c.mode.empty()) labels["airflow-vpa-webhook.io/mode"] = c.mode;
  const Labels ns(labels);
  INFO("namespace " << c.namespace_name << " mode '" << c.mode << "'");

  const YAML::Node mwc = base().get("MutatingWebhookConfiguration", kName);
  const auto serves = [&](std::string_view name) {
    return selector_of(webhook_named(mwc, name)["namespaceSelector"]).matches(ns.set());
  };
  CHECK(serves("enforce.airflow-vpa-webhook.io") == c.enforce);
  CHECK(serves("audit.airflow-vpa-webhook.io") == c.audit);
}

TEST_CASE("the webhooks are called for captured task pods and not for other pods", "[manifests][webhook]") {
  const std::string pod_file =
      GENERATE(as<std::string>{}, "inputs/kpo-pod.yaml", "inputs/executor-pod.yaml", "inputs/long-names.yaml");
  INFO(pod_file);
  const YAML::Node pod = YAML::LoadFile((fs::path(AVW_FIXTURES_DIR) / pod_file).string());
  const Labels task_pod(pod["metadata"]["labels"]);
  // Half a task identity, and no labels at all: the API server must not even call the webhook.
  const Labels half_task(std::map<std::string, std::string>{{"app", "web"}, {"dag_id", "etl_daily"}});
  const Labels no_labels(std::map<std::string, std::string>{});

  for (const YAML::Node& w : base().get("MutatingWebhookConfiguration", kName)["webhooks"]) {
    const Selector selector = selector_of(w["objectSelector"]);
    CHECK(selector.matches(task_pod.set()));
    CHECK_FALSE(selector.matches(half_task.set()));
    CHECK_FALSE(selector.matches(no_labels.set()));
  }
}

TEST_CASE("the AirflowTask CRD has a scale subresource the VPA recommender can read", "[manifests][crd]") {
  const YAML::Node crd = base().get("CustomResourceDefinition", "airflowtasks.airflow-vpa-webhook.io");
  CHECK(crd["apiVersion"].as<std::string>() == "apiextensions.k8s.io/v1");
  const YAML::Node spec = crd["spec"];
  CHECK(text(spec["group"]) == "airflow-vpa-webhook.io");
  CHECK(text(spec["scope"]) == "Namespaced");
  CHECK(text(spec["names"]["kind"]) == "AirflowTask");
  CHECK(text(spec["names"]["plural"]) == "airflowtasks");
  CHECK(text(spec["names"]["singular"]) == "airflowtask");
  CHECK(strings(spec["names"]["shortNames"]) == std::vector<std::string>{"aft"});

  REQUIRE(spec["versions"].size() == 1);
  const YAML::Node version = spec["versions"][0];
  CHECK(text(version["name"]) == "v1alpha1");
  CHECK(version["served"].as<bool>());
  CHECK(version["storage"].as<bool>());

  CHECK(version["subresources"]["status"].IsMap());
  const YAML::Node scale = version["subresources"]["scale"];
  CHECK(text(scale["specReplicasPath"]) == ".spec.replicas");
  CHECK(text(scale["statusReplicasPath"]) == ".status.replicas");
  CHECK(text(scale["labelSelectorPath"]) == ".status.selector");

  std::map<std::string, std::string> columns;
  for (const YAML::Node& c : version["additionalPrinterColumns"]) columns[text(c["name"])] = text(c["jsonPath"]);
  CHECK(columns["Dag"] == ".spec.dagId");
  CHECK(columns["Task"] == ".spec.taskId");
  CHECK(columns["Launcher"] == ".spec.launcher");
  CHECK(columns["Last Seen"] == ".status.lastSeen");
  CHECK(columns["Age"] == ".metadata.creationTimestamp");
}

TEST_CASE("the AirflowTask schema is structural and always gives spec.replicas a value", "[manifests][crd]") {
  const YAML::Node schema =
      base().get("CustomResourceDefinition", "airflowtasks.airflow-vpa-webhook.io")["spec"]["versions"][0]["schema"]
                                                                                              ["openAPIV3Schema"];
  CHECK(text(schema["type"]) == "object");
  const YAML::Node spec = schema["properties"]["spec"];
  CHECK(text(spec["type"]) == "object");
  for (const char* field : {"dagId", "taskId", "selector"}) {
    INFO(field);
    CHECK(text(spec["properties"][field]["type"]) == "string");
  }
  CHECK(strings(spec["properties"]["launcher"]["enum"]) ==
        std::vector<std::string>{"PodOperator", "Executor", "Other"});
  // GET /scale fails when nothing is at specReplicasPath: required, and defaulted so that an
  // object written without it is still accepted and still has it.
  const YAML::Node replicas = spec["properties"]["replicas"];
  CHECK(text(replicas["type"]) == "integer");
  CHECK(replicas["default"].as<int>() == 0);
  const auto required = strings(spec["required"]);
  CHECK(std::find(required.begin(), required.end(), "replicas") != required.end());

  const YAML::Node status = schema["properties"]["status"]["properties"];
  CHECK(text(status["replicas"]["type"]) == "integer");
  CHECK(text(status["selector"]["type"]) == "string");
  CHECK(text(status["lastSeen"]["type"]) == "string");
  CHECK(text(status["lastSeen"]["format"]) == "date-time");
  CHECK(text(status["conditions"]["type"]) == "array");

  // status.oomKills holds every member the closed loop writes, one entry per container.
  const YAML::Node kills = status["oomKills"];
  CHECK(text(kills["x-kubernetes-list-type"]) == "map");
  CHECK(strings(kills["x-kubernetes-list-map-keys"]) == std::vector<std::string>{"container"});
  avw::core::OomKill kill;
  kill.container = "base";
  kill.memory_request = avw::core::Quantity::parse("300Mi");
  kill.memory_limit = avw::core::Quantity::parse("600Mi");
  kill.clean_runs = {"r2"};
  kill.lifted_at = 1;
  const YAML::Node written = YAML::Load(avw::core::oom_kills_to_json({kill}))[0];
  REQUIRE(written.size() == 10);
  for (const auto& kv : written) {
    INFO(kv.first.as<std::string>());
    CHECK(kills["items"]["properties"][kv.first.as<std::string>()].IsDefined());
  }

  // Every property of the schema has a type (a structural schema), save the metadata stubs.
  std::vector<std::pair<std::string, YAML::Node>> pending{{"", schema}};
  while (!pending.empty()) {
    const auto [path, node] = pending.back();
    pending.pop_back();
    INFO("schema at ." << path);
    // A quantity is int-or-string, which a structural schema spells without a type.
    CHECK((node["type"].IsDefined() || node["x-kubernetes-int-or-string"].as<bool>(false)));
    CHECK(!node["x-kubernetes-preserve-unknown-fields"].IsDefined());
    for (const auto& kv : node["properties"]) pending.emplace_back(path + "." + kv.first.as<std::string>(), kv.second);
    if (node["items"].IsDefined()) pending.emplace_back(path + "[]", node["items"]);
  }

  // The captured AirflowTasks that a real API server accepted satisfy the required fields.
  for (const YAML::Node& task : YAML::LoadAllFromFile((fs::path(AVW_FIXTURES_DIR) / "inputs/airflowtasks.yaml").string())) {
    for (const std::string& field : required) {
      INFO(task["metadata"]["name"].as<std::string>() << " lacks " << field);
      CHECK(task["spec"][field].IsDefined());
    }
  }
}

TEST_CASE("the Deployment runs two hardened non-root replicas spread across nodes", "[manifests][deployment]") {
  const YAML::Node deployment = base().get("Deployment", kName);
  CHECK(deployment["spec"]["replicas"].as<int>() == 2);
  const YAML::Node pod = deployment["spec"]["template"]["spec"];
  const Labels pod_labels(deployment["spec"]["template"]["metadata"]["labels"]);
  CHECK(selector_of(deployment["spec"]["selector"]).matches(pod_labels.set()));
  CHECK(text(pod["serviceAccountName"]) == kName);

  check_hardened(deployment, 65532);

  const YAML::Node preferred = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"];
  REQUIRE(preferred.size() == 1);
  CHECK(text(preferred[0]["podAffinityTerm"]["topologyKey"]) == "kubernetes.io/hostname");
  CHECK(selector_of(preferred[0]["podAffinityTerm"]["labelSelector"]).matches(pod_labels.set()));
  CHECK(!pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"].IsDefined());

  const YAML::Node pdb = base().get("PodDisruptionBudget", kName);
  CHECK(pdb["spec"]["minAvailable"].as<int>() == 1);
  CHECK(selector_of(pdb["spec"]["selector"]).matches(pod_labels.set()));
}

TEST_CASE("the Deployment serves HTTPS on 8443 with the mounted certificate and probes it", "[manifests][deployment]") {
  const YAML::Node deployment = base().get("Deployment", kName);
  const YAML::Node container = only_container(deployment);
  const auto args = strings(container["args"]);
  REQUIRE(!args.empty());
  CHECK(args[0] == "serve");
  CHECK(arg_value(args, "--listen") == "0.0.0.0:8443");
  CHECK(arg_value(args, "--tls-cert") == std::string(kTlsDir) + "/tls.crt");
  CHECK(arg_value(args, "--tls-key") == std::string(kTlsDir) + "/tls.key");
  CHECK(arg_value(args, "--log-format") == "json");
  // In a pod the webhook reads the API with its service account.
  CHECK(flags_of(args).count("--recommendations") == 0);
  CHECK(flags_of(args).count("--kubeconfig") == 0);

  const YAML::Node probes[] = {container["readinessProbe"], container["livenessProbe"]};
  const std::string paths[] = {"/readyz", "/healthz"};
  for (std::size_t i = 0; i < 2; ++i) {
    INFO(paths[i]);
    const YAML::Node get = probes[i]["httpGet"];
    CHECK(text(get["path"]) == paths[i]);
    CHECK(text(get["scheme"]) == "HTTPS");
    CHECK(container_port(container, get["port"]) == 8443);
  }

  // The certificate Secret, read-only, where --tls-cert and --tls-key point.
  REQUIRE(container["volumeMounts"].size() == 1);
  const YAML::Node mount = container["volumeMounts"][0];
  CHECK(text(mount["mountPath"]) == kTlsDir);
  CHECK(mount["readOnly"].as<bool>());
  const YAML::Node volumes = deployment["spec"]["template"]["spec"]["volumes"];
  REQUIRE(volumes.size() == 1);
  CHECK(text(volumes[0]["name"]) == text(mount["name"]));
  CHECK(text(volumes[0]["secret"]["secretName"]) == kSecret);
  CHECK(volumes[0]["secret"]["defaultMode"].as<int>() == 0440);

  // The Service the webhooks call: 443 to the container's HTTPS port, selecting these pods.
  const YAML::Node service = base().get("Service", kName);
  const Labels pod_labels(deployment["spec"]["template"]["metadata"]["labels"]);
  std::vector<std::pair<std::string, std::string>> service_selector;
  for (const auto& kv : service["spec"]["selector"]) {
    service_selector.emplace_back(kv.first.as<std::string>(), kv.second.as<std::string>());
  }
  const auto svc_selector = Selector::from_structured(service_selector, {});
  REQUIRE(svc_selector.has_value());
  CHECK(!svc_selector->empty());
  CHECK(svc_selector->matches(pod_labels.set()));
  REQUIRE(service["spec"]["ports"].size() == 1);
  const YAML::Node port = service["spec"]["ports"][0];
  CHECK(port["port"].as<int>() == 443);
  CHECK(container_port(container, port["targetPort"]) == 8443);
}

TEST_CASE("every flag the Deployment passes is one that serve --help documents", "[manifests][deployment]") {
  const auto args = strings(only_container(base().get("Deployment", kName))["args"]);
  const CommandResult help = run_command(shell_quote(AVW_BINARY) + " serve --help");
  const std::string output = help.out + help.err;
  INFO(output);
  REQUIRE(help.exit_code == 0);
  const auto flags = flags_of(args);
  REQUIRE(flags.size() == 4);
  for (const std::string& flag : flags) {
    INFO(flag);
    CHECK(mentions_flag(output, flag));
  }
}

TEST_CASE("the Dockerfile's default command uses only flags that serve --help documents", "[manifests][image]") {
  const std::string dockerfile = avw::test::read_file((repo_root() / "Dockerfile").string());
  std::optional<std::vector<std::string>> cmd;
  std::istringstream lines(dockerfile);
  for (std::string line; std::getline(lines, line);) {
    // The exec form is a JSON array, which is also a YAML flow sequence.
    if (line.rfind("CMD [", 0) == 0) cmd = strings(YAML::Load(line.substr(4)));
  }
  REQUIRE(cmd.has_value());
  REQUIRE(!cmd->empty());
  CHECK(cmd->front() == "serve");
  const CommandResult help = run_command(shell_quote(AVW_BINARY) + " serve --help");
  REQUIRE(help.exit_code == 0);
  for (const std::string& flag : flags_of(*cmd)) {
    INFO(flag);
    CHECK(mentions_flag(help.out + help.err, flag));
  }
}

TEST_CASE("the service account holds exactly the permissions the webhook uses", "[manifests][rbac]") {
  std::map<RuleKey, std::set<std::string>> grants;
  std::size_t bindings = 0;
  for (const char* kind : {"ClusterRoleBinding", "RoleBinding"}) {
    for (const YAML::Node& binding : base().of_kind(kind)) {
      if (!binds_service_account(binding)) continue;
      ++bindings;
      const YAML::Node ref = binding["roleRef"];
      REQUIRE(text(ref["kind"]) == "ClusterRole");
      add_rules(grants, base().get("ClusterRole", text(ref["name"])));
    }
  }
  CHECK(bindings == 3);

  const std::map<RuleKey, std::set<std::string>> expected{
      {{"autoscaling.k8s.io", "verticalpodautoscalers"}, {"get", "list", "watch", "create", "patch"}},
      {{"autoscaling.k8s.io", "verticalpodautoscalercheckpoints"}, {"get", "list", "watch"}},
      {{"", "limitranges"}, {"get", "list", "watch"}},
      {{"", "namespaces"}, {"get", "list", "watch"}},
      {{"airflow-vpa-webhook.io", "airflowtasks"}, {"get", "list", "watch", "create", "update", "patch", "delete"}},
      {{"airflow-vpa-webhook.io", "airflowtasks/status"}, {"get", "patch", "update"}},
      {{"airflow-vpa-webhook.io", "airflowtasks/finalizers"}, {"update"}},
      {{"*", "*/scale"}, {"get"}},
      // The closed loop: task pods' ends, and an Event on the AirflowTask.
      {{"", "pods"}, {"list", "watch"}},
      {{"events.k8s.io", "events"}, {"create"}},
  };
  CHECK(grants == expected);

  // The roles for people are aggregated into view/edit/admin and bound to nobody here.
  for (const char* name : {"airflow-vpa-webhook-aggregate-to-view", "airflow-vpa-webhook-aggregate-to-edit"}) {
    INFO(name);
    const YAML::Node role = base().get("ClusterRole", name);
    CHECK(text(role["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-admin"]) == "true");
    std::map<RuleKey, std::set<std::string>> role_grants;
    add_rules(role_grants, role);
    for (const auto& [key, verbs] : role_grants) CHECK(key.second == "airflowtasks");
  }
}

TEST_CASE("the cert-manager overlay issues the serving certificate and injects its CA", "[manifests][cert-manager]") {
  const Rendered& overlay = cert_manager();
  const YAML::Node service = base().get("Service", kName);
  const std::string service_dns = std::string(kName) + "." + std::string(kNamespace) + ".svc";

  const YAML::Node serving = overlay.get("Certificate", "airflow-vpa-webhook-serving");
  CHECK(text(serving["metadata"]["namespace"]) == kNamespace);
  CHECK(text(serving["spec"]["secretName"]) == kSecret);
  const auto dns = strings(serving["spec"]["dnsNames"]);
  CHECK(std::find(dns.begin(), dns.end(), service_dns) != dns.end());
  CHECK(std::find(dns.begin(), dns.end(), service_dns + ".cluster.local") != dns.end());
  CHECK(text(service["metadata"]["name"]) + "." + text(service["metadata"]["namespace"]) + ".svc" == service_dns);

  // serving <- CA Issuer (the CA Certificate's Secret) <- CA Certificate <- self-signed Issuer.
  const YAML::Node ca_issuer = overlay.get("Issuer", text(serving["spec"]["issuerRef"]["name"]));
  const YAML::Node ca_cert = overlay.get("Certificate", "airflow-vpa-webhook-ca");
  CHECK(text(ca_issuer["spec"]["ca"]["secretName"]) == text(ca_cert["spec"]["secretName"]));
  CHECK(ca_cert["spec"]["isCA"].as<bool>());
  const YAML::Node root = overlay.get("Issuer", text(ca_cert["spec"]["issuerRef"]["name"]));
  CHECK(root["spec"]["selfSigned"].IsMap());
  for (const YAML::Node& doc : overlay.of_kind("Issuer")) CHECK(text(doc["metadata"]["namespace"]) == kNamespace);

  const YAML::Node mwc = overlay.get("MutatingWebhookConfiguration", kName);
  CHECK(text(mwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]) ==
        std::string(kNamespace) + "/airflow-vpa-webhook-serving");
  CHECK(!base().get("MutatingWebhookConfiguration", kName)["metadata"]["annotations"].IsDefined());

  // Everything else is the base, unchanged.
  for (const YAML::Node& doc : base().all()) {
    const std::string kind = doc["kind"].as<std::string>();
    const std::string name = doc["metadata"]["name"].as<std::string>();
    INFO(kind << " " << name);
    const YAML::Node same = overlay.get(kind, name);
    if (kind == "MutatingWebhookConfiguration") {
      CHECK(YAML::Dump(same["webhooks"]) == YAML::Dump(doc["webhooks"]));
    } else {
      CHECK(YAML::Dump(same) == YAML::Dump(doc));
    }
  }
  CHECK(overlay.all().size() == base().all().size() + 4);
}

TEST_CASE("the example AirflowTask and VPA are the ones the webhook would provision", "[manifests][examples]") {
  const auto docs =
      YAML::LoadAllFromFile((repo_root() / "manifests/examples/etl-daily-load.yaml").string());
  REQUIRE(docs.size() == 2);
  const YAML::Node task = docs[0];
  const YAML::Node vpa = docs[1];
  REQUIRE(text(task["kind"]) == "AirflowTask");
  REQUIRE(text(vpa["kind"]) == "VerticalPodAutoscaler");

  const std::string namespace_name = text(task["metadata"]["namespace"]);
  const avw::core::TaskKey key{namespace_name, "etl_daily", "load", avw::core::Launcher::PodOperator};
  const avw::core::TaskLabelKeys label_keys;
  CHECK(text(task["apiVersion"]) == "airflow-vpa-webhook.io/v1alpha1");
  CHECK(text(task["metadata"]["name"]) == avw::core::task_object_name(key));
  CHECK(text(task["spec"]["dagId"]) == key.dag_id);
  CHECK(text(task["spec"]["taskId"]) == key.task_id);
  CHECK(text(task["spec"]["launcher"]) == avw::core::to_string(key.launcher));
  CHECK(text(task["spec"]["selector"]) == avw::core::task_selector(key, label_keys).to_string());
  CHECK(task["spec"]["replicas"].as<int>() == 0);

  CHECK(text(vpa["apiVersion"]) == "autoscaling.k8s.io/v1");
  CHECK(text(vpa["metadata"]["namespace"]) == text(task["metadata"]["namespace"]));
  CHECK(text(vpa["metadata"]["name"]) == text(task["metadata"]["name"]));
  const YAML::Node target = vpa["spec"]["targetRef"];
  CHECK(text(target["apiVersion"]) == text(task["apiVersion"]));
  CHECK(text(target["kind"]) == "AirflowTask");
  CHECK(text(target["name"]) == text(task["metadata"]["name"]));
  CHECK(text(vpa["spec"]["updatePolicy"]["updateMode"]) == "Off");
  for (const YAML::Node& policy : vpa["spec"]["resourcePolicy"]["containerPolicies"]) {
    if (policy["mode"].IsDefined() && text(policy["mode"]) == "Off") continue;
    INFO(text(policy["containerName"]));
    CHECK(strings(policy["controlledResources"]) == std::vector<std::string>{"cpu", "memory"});
  }

  // The pods of the example DAG's task (the captured KPO pod is one) are what it selects.
  const YAML::Node pod = YAML::LoadFile((fs::path(AVW_FIXTURES_DIR) / "inputs/kpo-pod.yaml").string());
  const Labels pod_labels(pod["metadata"]["labels"]);
  const auto selector = Selector::parse(text(task["spec"]["selector"]));
  REQUIRE(selector.has_value());
  CHECK(selector->matches(pod_labels.set()));
}

TEST_CASE("the Grafana dashboard queries metrics the server exposes, by labels it sets", "[manifests][grafana]") {
  // JSON is a subset of YAML's flow style.
  const YAML::Node dashboard =
      YAML::LoadFile((repo_root() / "manifests/grafana/airflow-vpa-webhook-dashboard.json").string());
  CHECK(text(dashboard["uid"]) == "airflow-vpa-webhook");
  std::vector<std::string> queries;
  for (const YAML::Node& panel : dashboard["panels"]) {
    for (const YAML::Node& target : panel["targets"]) queries.push_back(text(target["expr"]));
  }
  REQUIRE(queries.size() > 10);
  for (const std::string& expr : queries) check_query(expr);
}

TEST_CASE("every metric the tests know only from a cluster is registered by the webhook's sources",
          "[manifests][metrics]") {
  std::string sources;
  for (const auto& entry : fs::recursive_directory_iterator(repo_root() / "src")) {
    if (entry.is_regular_file()) sources += avw::test::read_file(entry.path().string());
  }
  const auto quoted = [](const std::string& s) { return "\"" + s + "\""; };
  for (const auto& [metric, labels] : kClusterOnlyMetrics) {
    INFO(metric);
    const std::string name = metric.ends_with("_bucket") ? metric.substr(0, metric.size() - 7) : metric;
    CHECK(sources.find(quoted(name)) != std::string::npos);
    CHECK(example_exposition().count(metric) == 0);  // else a scrape would show it
    for (const auto& [label, values] : labels) {
      if (label == "le") continue;  // a histogram's, written by the exposition
      INFO("label " << label);
      CHECK(sources.find(quoted(label)) != std::string::npos);
      for (const std::string& value : values) {
        INFO("value " << value);
        CHECK(sources.find(quoted(value)) != std::string::npos);
      }
    }
  }
}

TEST_CASE("install-certs trusts its CA in both webhooks before it writes the serving Secret", "[manifests][certs]") {
  const FakeKubectl kubectl;
  const TempDir out;
  const CommandResult r = install_certs(kubectl, out);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);

  const std::string ca = avw::test::read_file(out.file("ca.crt"));
  const auto bundles = patched_bundles(kubectl);
  REQUIRE(bundles.size() == 2);
  for (const std::string& bundle : bundles) CHECK(bundle.find(ca) == 0);
  CHECK(count_certificates(bundles[0]) == 1);

  // The Secret is the serving certificate, piped from a client-side dry run into apply.
  const std::string applied = avw::test::read_file(kubectl.file("applied.yaml"));
  CHECK(applied.find("kind: Secret") == 0);
  CHECK(applied.find(avw::test::read_file(out.file("tls.crt")).substr(0, 40)) != std::string::npos);
  CHECK(applied.find(out.file("tls.key")) != std::string::npos);

  const auto calls = kubectl.calls();
  const auto position = [&](std::string_view prefix) {
    const auto it = std::find_if(calls.begin(), calls.end(), [&](const std::string& c) { return c.rfind(prefix, 0) == 0; });
    INFO("call " << prefix);
    REQUIRE(it != calls.end());
    return it - calls.begin();
  };
  CHECK(position("patch mutatingwebhookconfiguration") < position("-n airflow-vpa-webhook create secret tls"));

  // The API server checks the certificate against the Service's name.
  const std::string cert = shell_quote(out.file("tls.crt"));
  const CommandResult verify = run_command("openssl verify -CAfile " + shell_quote(out.file("ca.crt")) + " " + cert);
  CHECK(verify.exit_code == 0);
  const CommandResult san = run_command("openssl x509 -noout -ext subjectAltName -in " + cert);
  CHECK(san.out.find("DNS:airflow-vpa-webhook.airflow-vpa-webhook.svc") != std::string::npos);
}

TEST_CASE("install-certs keeps the previous CA trusted for one run after --new-ca", "[manifests][certs]") {
  const FakeKubectl kubectl;
  const TempDir out;
  REQUIRE(install_certs(kubectl, out).exit_code == 0);
  const std::string first_ca = avw::test::read_file(out.file("ca.crt"));
  kubectl.set_current_ca_bundle(avw::core::base64_encode(first_ca));

  SECTION("a renewal reuses the CA, so the caBundle stays the same") {
    REQUIRE(install_certs(kubectl, out).exit_code == 0);
    CHECK(avw::test::read_file(out.file("ca.crt")) == first_ca);
    for (const std::string& bundle : patched_bundles(kubectl)) CHECK(bundle.find(first_ca) == 0);
  }
  SECTION("a new CA is trusted next to the previous one, then alone") {
    const CommandResult r = install_certs(kubectl, out, "--new-ca");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const std::string second_ca = avw::test::read_file(out.file("ca.crt"));
    REQUIRE(second_ca != first_ca);
    for (const std::string& bundle : patched_bundles(kubectl)) {
      CHECK(count_certificates(bundle) == 2);
      CHECK(bundle.find(second_ca) == 0);
      CHECK(bundle.find(first_ca) != std::string::npos);
    }

    kubectl.set_current_ca_bundle(avw::core::base64_encode(second_ca + first_ca));
    REQUIRE(install_certs(kubectl, out).exit_code == 0);
    for (const std::string& bundle : patched_bundles(kubectl)) CHECK(bundle == second_ca);
  }
}

TEST_CASE("install-certs stops with a hint when the manifests are not applied", "[manifests][certs]") {
  const FakeKubectl kubectl(/*webhook_configuration_exists=*/false);
  const TempDir out;
  const CommandResult r = install_certs(kubectl, out);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("kubectl apply -k manifests/") != std::string::npos);
  CHECK(!fs::exists(kubectl.file("patch.json")));
  CHECK(!fs::exists(kubectl.file("applied.yaml")));
}

// ---- the recommender component ---------------------------------------------------------

namespace {

constexpr std::string_view kRecommender = "airflow-vpa-webhook-recommender";

// Every flag the component passes, with the VPA release that has it (docs/flags.md and the
// recommender's main.go of the VPA project). All of them are in 1.0.0, the oldest release this
// project supports; a flag that came later must be added here with its release, and said in
// the deployment's comment and docs/recommender.md, since 1.0.0 refuses flags it does not know.
const std::map<std::string, std::string> kRecommenderFlagSince{
    {"--recommender-name", "1.0.0"},
    {"--memory-saver", "1.0.0"},
    {"--storage", "1.0.0"},
    {"--recommender-interval", "1.0.0"},
    {"--memory-aggregation-interval", "1.0.0"},
    {"--memory-aggregation-interval-count", "1.0.0"},
    {"--memory-histogram-decay-half-life", "1.0.0"},
    {"--cpu-histogram-decay-half-life", "1.0.0"},
    {"--pod-recommendation-min-memory-mb", "1.0.0"},
    {"--pod-recommendation-min-cpu-millicores", "1.0.0"},
    {"--checkpoints-gc-interval", "1.0.0"},
    {"--address", "1.0.0"},
};

// "--flag=value" arguments as flag -> value ("" for a bare switch).
std::map<std::string, std::string> flag_values(const std::vector<std::string>& args) {
  std::map<std::string, std::string> out;
  for (const std::string& a : args) {
    INFO("argument " << a);
    REQUIRE(a.rfind("--", 0) == 0);
    const auto eq = a.find('=');
    out[a.substr(0, eq)] = eq == std::string::npos ? "" : a.substr(eq + 1);
  }
  return out;
}

}  // namespace

TEST_CASE("the recommender overlay is the base plus the recommender, and the webhook's flag naming it",
          "[manifests][recommender]") {
  std::set<std::pair<std::string, std::string>> added;
  for (const YAML::Node& doc : with_recommender().all()) {
    const std::string kind = doc["kind"].as<std::string>();
    const std::string name = doc["metadata"]["name"].as<std::string>();
    INFO(kind << " " << name);
    const auto in_base = base().find(kind, name);
    if (!in_base) {
      added.emplace(kind, name);
      continue;
    }
    if (kind == "Deployment" && name == kName) {
      // The webhook gets exactly one argument more, at the end; the rest is the base's.
      const auto args = strings(only_container(doc)["args"]);
      auto base_args = strings(only_container(*in_base)["args"]);
      base_args.push_back("--vpa-recommender=airflow-vpa-webhook");
      CHECK(args == base_args);
      YAML::Node without = YAML::Clone(doc);
      without["spec"]["template"]["spec"]["containers"][0].remove("args");
      YAML::Node base_without = YAML::Clone(*in_base);
      base_without["spec"]["template"]["spec"]["containers"][0].remove("args");
      CHECK(YAML::Dump(without) == YAML::Dump(base_without));
    } else {
      CHECK(YAML::Dump(doc) == YAML::Dump(*in_base));
    }
  }
  const std::set<std::pair<std::string, std::string>> expected{
      {"ServiceAccount", std::string(kRecommender)},
      {"ClusterRole", std::string(kRecommender)},
      {"ClusterRoleBinding", std::string(kRecommender)},
      {"Deployment", std::string(kRecommender)},
  };
  CHECK(added == expected);
  CHECK(with_recommender().all().size() == base().all().size() + expected.size());
  for (const auto& [kind, name] : expected) {
    if (kind.rfind("Cluster", 0) == 0) continue;
    INFO(kind << " " << name);
    CHECK(text(with_recommender().get(kind, name)["metadata"]["namespace"]) == kNamespace);
  }

  // The flag is one the webhook has.
  const CommandResult help = run_command(shell_quote(AVW_BINARY) + " serve --help");
  REQUIRE(help.exit_code == 0);
  CHECK(mentions_flag(help.out, "--vpa-recommender"));
}

TEST_CASE("the recommender answers to the name the webhook's VPAs carry, with batch settings",
          "[manifests][recommender]") {
  const YAML::Node webhook = only_container(with_recommender().get("Deployment", kName));
  const YAML::Node recommender = only_container(with_recommender().get("Deployment", kRecommender));
  CHECK(text(recommender["image"]).rfind("registry.k8s.io/autoscaling/vpa-recommender:", 0) == 0);

  const auto webhook_flags = flag_values(
      std::vector<std::string>{strings(webhook["args"]).back()});  // the component's argument
  const auto flags = flag_values(strings(recommender["args"]));
  REQUIRE(webhook_flags.count("--vpa-recommender") == 1);
  CHECK(flags.at("--recommender-name") == webhook_flags.at("--vpa-recommender"));
  CHECK(flags.at("--recommender-name") != "default");  // "default" would serve every VPA of the cluster

  CHECK(flags.at("--memory-saver").empty());
  CHECK(flags.at("--storage") == "checkpoint");  // the history gate reads checkpoints
  CHECK(flags.at("--memory-aggregation-interval") == "24h");
  CHECK(flags.at("--memory-aggregation-interval-count") == "14");
  CHECK(flags.at("--memory-histogram-decay-half-life") == "72h");
  CHECK(flags.at("--cpu-histogram-decay-half-life") == "72h");
  CHECK(flags.at("--pod-recommendation-min-memory-mb") == "64");
  CHECK(flags.at("--pod-recommendation-min-cpu-millicores") == "10");
  CHECK(flags.at("--recommender-interval") == "1m");
  CHECK(flags.at("--checkpoints-gc-interval") == "24h");

  // Every flag is one VPA 1.0.0 already has.
  for (const auto& [flag, value] : flags) {
    INFO(flag);
    REQUIRE(kRecommenderFlagSince.count(flag) == 1);
    CHECK(kRecommenderFlagSince.at(flag) == "1.0.0");
  }

  // Every flag carries a comment that says why: the argument lines of the file, each run of
  // them preceded by a comment line.
  const std::string source =
      avw::test::read_file((repo_root() / "manifests/components/recommender/deployment.yaml").string());
  std::vector<std::string> lines;
  std::istringstream in(source);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::size_t flag_lines = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto first = lines[i].find_first_not_of(' ');
    if (first == std::string::npos || lines[i].compare(first, 4, "- --") != 0) continue;
    ++flag_lines;
    std::size_t j = i;
    while (j > 0) {
      const auto f = lines[j - 1].find_first_not_of(' ');
      if (f == std::string::npos || lines[j - 1].compare(f, 4, "- --") != 0) break;
      --j;
    }
    INFO("line " << i + 1 << ": " << lines[i]);
    REQUIRE(j > 0);
    const auto c = lines[j - 1].find_first_not_of(' ');
    CHECK((c != std::string::npos && lines[j - 1][c] == '#'));
  }
  CHECK(flag_lines == flags.size());
}

TEST_CASE("the recommender is hardened like the webhook, probed on its health check, and runs once",
          "[manifests][recommender]") {
  const YAML::Node deployment = with_recommender().get("Deployment", kRecommender);
  CHECK(deployment["spec"]["replicas"].as<int>() == 1);
  CHECK(text(deployment["spec"]["strategy"]["type"]) == "Recreate");
  const YAML::Node pod = deployment["spec"]["template"]["spec"];
  const Labels pod_labels(deployment["spec"]["template"]["metadata"]["labels"]);
  CHECK(selector_of(deployment["spec"]["selector"]).matches(pod_labels.set()));
  // Its pods are not the webhook's: the webhook's Service (admission requests), PDB and
  // Deployment select only those.
  CHECK_FALSE(selector_of(base().get("Deployment", kName)["spec"]["selector"]).matches(pod_labels.set()));
  CHECK_FALSE(selector_of(base().get("PodDisruptionBudget", kName)["spec"]["selector"]).matches(pod_labels.set()));
  std::vector<std::pair<std::string, std::string>> service_selector;
  for (const auto& kv : base().get("Service", kName)["spec"]["selector"]) {
    service_selector.emplace_back(kv.first.as<std::string>(), kv.second.as<std::string>());
  }
  const auto service = Selector::from_structured(service_selector, {});
  REQUIRE(service.has_value());
  CHECK_FALSE(service->matches(pod_labels.set()));
  CHECK(text(pod["serviceAccountName"]) == kRecommender);

  // The user the VPA project's images run as.
  check_hardened(deployment, 65534);
  const YAML::Node container = only_container(deployment);

  // Both probes ask /health-check on the port --address serves.
  const auto flags = flag_values(strings(container["args"]));
  const std::string address = flags.at("--address");
  REQUIRE(address.rfind(':', 0) == 0);
  const int port = std::stoi(address.substr(1));
  for (const char* probe : {"livenessProbe", "readinessProbe"}) {
    INFO(probe);
    const YAML::Node get = container[probe]["httpGet"];
    CHECK(text(get["path"]) == "/health-check");
    CHECK(text(get["scheme"]) == "HTTP");
    CHECK(container_port(container, get["port"]) == port);
  }
  CHECK(text(deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"]) == std::to_string(port));
}

TEST_CASE("the recommender's service account holds exactly what the recommender uses", "[manifests][recommender][rbac]") {
  const Rendered& rendered = with_recommender();
  std::map<RuleKey, std::set<std::string>> grants;
  std::size_t bindings = 0;
  for (const char* kind : {"ClusterRoleBinding", "RoleBinding"}) {
    for (const YAML::Node& binding : rendered.of_kind(kind)) {
      if (!binds_service_account(binding, kRecommender)) continue;
      ++bindings;
      CHECK_FALSE(binds_service_account(binding));  // nothing of it goes to the webhook
      const YAML::Node ref = binding["roleRef"];
      REQUIRE(text(ref["kind"]) == "ClusterRole");
      add_rules(grants, rendered.get("ClusterRole", text(ref["name"])));
    }
  }
  CHECK(bindings == 1);
  const std::set<std::string> read{"get", "list", "watch"};
  const std::map<RuleKey, std::set<std::string>> expected{
      {{"", "pods"}, read},
      {{"", "nodes"}, read},
      {{"", "limitranges"}, read},
      {{"", "events"}, {"list", "watch"}},
      {{"", "namespaces"}, {"get", "list"}},
      {{"", "replicationcontrollers"}, read},
      {{"apps", "daemonsets"}, read},
      {{"apps", "deployments"}, read},
      {{"apps", "replicasets"}, read},
      {{"apps", "statefulsets"}, read},
      {{"batch", "jobs"}, read},
      {{"batch", "cronjobs"}, read},
      {{"autoscaling.k8s.io", "verticalpodautoscalers"}, read},
      {{"autoscaling.k8s.io", "verticalpodautoscalers/status"}, {"get", "patch"}},
      {{"autoscaling.k8s.io", "verticalpodautoscalercheckpoints"}, {"get", "list", "watch", "create", "patch", "delete"}},
      {{"airflow-vpa-webhook.io", "airflowtasks/scale"}, {"get"}},
      {{"metrics.k8s.io", "pods"}, {"get", "list"}},
  };
  CHECK(grants == expected);
  // No Secrets, no writes to the VPA spec, nothing of any group's every resource.
  for (const auto& [key, verbs] : grants) {
    INFO(key.first << " " << key.second);
    CHECK(key.first != "*");
    CHECK(key.second.find('*') == std::string::npos);
    CHECK(key.second != "secrets");
  }
}

TEST_CASE("the recommender component composes with the cert-manager overlay", "[manifests][recommender][cert-manager]") {
  // A kustomization of one's own, as the component's comment shows.
  const Rendered composed = compose({"manifests/overlays/cert-manager"}, {"manifests/components/recommender"});
  CHECK(composed.all().size() == cert_manager().all().size() + 4);
  composed.get("Certificate", "airflow-vpa-webhook-serving");
  composed.get("Deployment", kRecommender);
  CHECK(text(composed.get("MutatingWebhookConfiguration", kName)["metadata"]["annotations"]
                 ["cert-manager.io/inject-ca-from"]) == std::string(kNamespace) + "/airflow-vpa-webhook-serving");
  CHECK(strings(only_container(composed.get("Deployment", kName))["args"]).back() ==
        "--vpa-recommender=airflow-vpa-webhook");
}

// ---- the documentation against the binary --------------------------------------------------

namespace {

// Every `--flag` in `text`.
std::set<std::string> flag_names(std::string_view text) {
  std::set<std::string> out;
  for (std::size_t pos = text.find("--"); pos != std::string_view::npos; pos = text.find("--", pos + 2)) {
    std::size_t end = pos + 2;
    while (end < text.size() && (std::islower(static_cast<unsigned char>(text[end])) || text[end] == '-')) ++end;
    if (end > pos + 2) out.insert(std::string(text.substr(pos, end - pos)));
    pos = end - 2;
  }
  return out;
}

// The flags a command's --help lists: its option lines ("  --flag ARG   what it does"), the
// names in their first column. Continuation lines are indented further and not read.
// With `after`, only the option lines that follow the line holding it.
std::set<std::string> help_flags(const std::string& command, const std::string& after = "") {
  const CommandResult help = run_command(shell_quote(AVW_BINARY) + " " + command + " --help");
  REQUIRE(help.exit_code == 0);
  std::set<std::string> flags;
  std::istringstream lines(help.out);
  bool reading = after.empty();
  for (std::string line; std::getline(lines, line);) {
    if (!reading) reading = line.find(after) != std::string::npos;
    if (!reading || line.rfind("  --", 0) != 0) continue;
    const std::size_t column_end = line.find("  ", 2);
    const auto names = flag_names(std::string_view(line).substr(0, column_end));
    flags.insert(names.begin(), names.end());
  }
  REQUIRE(!flags.empty());
  return flags;
}

std::string listed(const std::set<std::string>& items) {
  std::string out;
  for (const std::string& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

// The lines of a Markdown file outside its code fences (where `#` starts a shell comment).
std::vector<std::string> markdown_prose_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::istringstream in(avw::test::read_file(path));
  bool fenced = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("```", 0) == 0) {
      fenced = !fenced;
      continue;
    }
    if (!fenced) lines.push_back(line);
  }
  return lines;
}

// The anchor GitHub gives a Markdown heading: lowercased, spaces to '-', other punctuation
// (backticks, '?', ':', '.') dropped.
std::string heading_anchor(std::string_view heading) {
  std::string out;
  for (const char c : heading) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) {
      out += static_cast<char>(std::tolower(u));
    } else if (c == ' ' || c == '-') {
      out += '-';
    } else if (c == '_') {
      out += '_';
    }
  }
  return out;
}

std::set<std::string> heading_anchors(const std::string& path) {
  std::set<std::string> anchors;
  for (const std::string& line : markdown_prose_lines(path)) {
    if (line.rfind('#', 0) != 0) continue;
    anchors.insert(heading_anchor(line.substr(line.find_first_not_of("# "))));
  }
  return anchors;
}

// The warnings `review --dry-run` answers for the captured KPO pod given one more annotation,
// on the example recommendations (which hold its VPA and a recommendation).
std::vector<std::string> review_warnings(const std::string& annotation, const std::string& value) {
  rapidjson::Document review;
  review.Parse(avw::test::read_file((fs::path(AVW_FIXTURES_DIR) / "admission/kpo-pod.json").string()));
  REQUIRE(!review.HasParseError());
  auto& alloc = review.GetAllocator();
  rapidjson::Value& metadata = review["request"]["object"]["metadata"];
  if (!metadata.HasMember("annotations")) metadata.AddMember("annotations", rapidjson::Value(rapidjson::kObjectType), alloc);
  metadata["annotations"].AddMember(rapidjson::Value(annotation, alloc), rapidjson::Value(value, alloc), alloc);
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  review.Accept(writer);

  const TempDir dir;
  std::ofstream(dir.file("review.json")) << buffer.GetString();
  const CommandResult r = run_command(shell_quote(AVW_BINARY) + " review --dry-run --recommendations " +
                                      shell_quote((repo_root() / "tests/fixtures/recommendations-first-day.json").string()) +
                                      " --review " + shell_quote(dir.file("review.json")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  rapidjson::Document answer;
  answer.Parse(r.out);
  REQUIRE(!answer.HasParseError());
  std::vector<std::string> warnings;
  if (answer["response"].HasMember("warnings")) {
    for (const auto& w : answer["response"]["warnings"].GetArray()) warnings.emplace_back(w.GetString());
  }
  // The dry-run report of the change itself is there whatever the annotation.
  REQUIRE(!warnings.empty());
  return warnings;
}

}  // namespace

TEST_CASE("docs/configuration.md documents exactly the flags serve, review and report --help list",
          "[manifests][docs]") {
  const std::vector<std::string> commands = {"serve", "review", "report"};
  // The flags of the tables' first column, by the commands the `## ` section they are in names.
  std::map<std::string, std::set<std::string>> documented;  // "serve" / "review" / "report" -> flags
  std::string section;
  for (const std::string& line : markdown_prose_lines((repo_root() / "docs/configuration.md").string())) {
    if (line.rfind("## ", 0) == 0) section = line;
    if (line.rfind("| `--", 0) != 0) continue;
    INFO("section " << section << ", row " << line);
    const auto flags = flag_names(std::string_view(line).substr(0, line.find(" | ")));
    REQUIRE(!flags.empty());
    bool named = false;
    for (const std::string& command : commands) {
      if (section.find("`" + command + "`") == std::string::npos) continue;
      named = true;
      documented[command].insert(flags.begin(), flags.end());
    }
    REQUIRE(named);
  }
  for (const std::string& command : commands) {
    INFO(command);
    const std::set<std::string> help = help_flags(command);
    std::set<std::string> undocumented;
    std::set_difference(help.begin(), help.end(), documented[command].begin(), documented[command].end(),
                        std::inserter(undocumented, undocumented.end()));
    std::set<std::string> unknown;
    std::set_difference(documented[command].begin(), documented[command].end(), help.begin(), help.end(),
                        std::inserter(unknown, unknown.end()));
    INFO("in --help, not in the docs: " << listed(undocumented));
    INFO("in the docs, not in --help: " << listed(unknown));
    CHECK(undocumented.empty());
    CHECK(unknown.empty());
  }
}

TEST_CASE("docs/configuration.md lists exactly the gate flags that annotations override", "[manifests][docs]") {
  // The gate annotations of the namespace table.
  std::set<std::string> documented;
  std::string section;
  const std::string prefix = "annotation `airflow-vpa-webhook.io/";
  for (const std::string& line : markdown_prose_lines((repo_root() / "docs/configuration.md").string())) {
    if (line.rfind("### ", 0) == 0) section = line;
    if (section != "### On namespaces" || line.rfind("| " + prefix, 0) != 0) continue;
    documented.insert(line.substr(2 + prefix.size(), line.find('`', 2 + prefix.size()) - 2 - prefix.size()));
  }
  REQUIRE(documented.size() == 7);

  // Each flag of the help's safety gates: an invalid value in the annotation of the same name
  // is reported as ignored exactly when the docs say the annotation exists.
  const std::set<std::string> gates = help_flags("review", "Safety gates");
  for (const std::string& flag : gates) {
    const std::string name = flag.substr(2);
    INFO("annotation airflow-vpa-webhook.io/" << name);
    const auto warnings = review_warnings("airflow-vpa-webhook.io/" + name, "bogus");
    const bool read = std::any_of(warnings.begin(), warnings.end(), [&](const std::string& w) {
      return w.find("pod annotation airflow-vpa-webhook.io/" + name + "=bogus ignored") != std::string::npos;
    });
    CHECK(read == (documented.count(name) == 1));
  }
  for (const std::string& name : documented) {
    INFO(name);
    CHECK(gates.count("--" + name) == 1);
  }

  // The pod's recommendation field is read the same way.
  const auto warnings = review_warnings("airflow-vpa-webhook.io/recommendation", "bogus");
  CHECK(std::any_of(warnings.begin(), warnings.end(), [](const std::string& w) {
    return w.find("ignored airflow-vpa-webhook.io/recommendation=bogus") != std::string::npos;
  }));
}

TEST_CASE("docs/metrics.md names every metric the webhook registers, and its queries ask for what exists",
          "[manifests][docs][metrics]") {
  const std::string path = (repo_root() / "docs/metrics.md").string();
  const std::string doc = avw::test::read_file(path);

  // Every metric the webhook registers: scraped, or one only a cluster brings. A histogram by
  // its base name (the exposition writes it as _bucket, _sum and _count).
  std::set<std::string> names;
  for (const auto& [name, series] : example_exposition()) names.insert(name);
  for (const auto& [name, labels] : kClusterOnlyMetrics) names.insert(name);
  const auto base_of = [&](const std::string& name) {
    for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
      if (!name.ends_with(suffix)) continue;
      const std::string base = name.substr(0, name.size() - suffix.size());
      if (names.count(base + "_bucket") == 1) return base;
    }
    return name;
  };
  std::set<std::string> registered;
  for (const std::string& name : names) registered.insert(base_of(name));

  std::set<std::string> named;
  for (std::size_t pos = doc.find("avw_"); pos != std::string::npos; pos = doc.find("avw_", pos)) {
    std::size_t end = pos;
    while (end < doc.size() && is_ident(doc[end])) ++end;
    const std::string name = doc.substr(pos, end - pos);
    if (name.back() != '_') named.insert(base_of(name));  // not a prefix in prose (avw_kube_*)
    pos = end;
  }
  for (const std::string& name : named) {
    INFO("docs/metrics.md names " << name);
    CHECK(registered.count(name) == 1);
  }
  for (const std::string& name : registered) {
    INFO("docs/metrics.md lacks " << name);
    CHECK(doc.find("`" + name + "`") != std::string::npos);
  }

  // Its PromQL blocks, as a user pastes them.
  std::size_t blocks = 0;
  for (std::size_t open = doc.find("```promql\n"); open != std::string::npos; open = doc.find("```promql\n", open + 1)) {
    const std::size_t start = open + 10;
    std::string expr = doc.substr(start, doc.find("```", start) - start);
    std::string without_comments;
    std::istringstream lines(expr);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind('#', 0) != 0) without_comments += line + "\n";
    }
    check_query(without_comments);
    ++blocks;
  }
  CHECK(blocks >= 3);
}

TEST_CASE("every link between the docs leads to a file and a heading that exist", "[manifests][docs]") {
  const fs::path docs = repo_root() / "docs";
  std::size_t links = 0;
  for (const auto& entry : fs::directory_iterator(docs)) {
    if (entry.path().extension() != ".md") continue;
    for (const std::string& line : markdown_prose_lines(entry.path().string())) {
      for (std::size_t open = line.find("]("); open != std::string::npos; open = line.find("](", open + 2)) {
        const std::string target = line.substr(open + 2, line.find(')', open) - open - 2);
        if (target.find("://") != std::string::npos) continue;
        INFO(entry.path().filename().string() << " links to " << target);
        const std::size_t hash = target.find('#');
        const fs::path file = hash == 0 ? entry.path() : docs / target.substr(0, hash);
        REQUIRE(fs::exists(file));
        if (hash != std::string::npos) CHECK(heading_anchors(file.string()).count(target.substr(hash + 1)) == 1);
        ++links;
      }
    }
  }
  CHECK(links > 10);
}

// ---- the optional monitoring and network components -------------------------------------

namespace {

const std::vector<std::string> kMonitoringComponents{
    "manifests/components/servicemonitor",
    "manifests/components/prometheusrule",
    "manifests/components/networkpolicy",
};

// The base with all three components, as docs/metrics.md and docs/operations.md show them.
const Rendered& with_monitoring() {
  static const Rendered rendered = compose({"manifests/base"}, kMonitoringComponents);
  return rendered;
}

// A Prometheus duration of one unit, as a rule's `for` takes it: 10m, 1h.
bool is_prometheus_duration(const std::string& d) {
  return d.size() >= 2 && std::string_view("smhdwy").find(d.back()) != std::string_view::npos &&
         d.find_first_not_of("0123456789") == d.size() - 1;
}

}  // namespace

TEST_CASE("each optional component renders with the base and adds only its own object", "[manifests][components]") {
  const auto [component, kind] = GENERATE(table<std::string, std::string>({
      {"manifests/components/servicemonitor", "ServiceMonitor"},
      {"manifests/components/prometheusrule", "PrometheusRule"},
      {"manifests/components/networkpolicy", "NetworkPolicy"},
  }));
  INFO(component);
  const Rendered rendered = compose({"manifests/base"}, {component});
  for (const YAML::Node& doc : base().all()) {
    INFO(doc["kind"].as<std::string>() << " " << doc["metadata"]["name"].as<std::string>());
    CHECK(YAML::Dump(rendered.get(doc["kind"].as<std::string>(), doc["metadata"]["name"].as<std::string>())) ==
          YAML::Dump(doc));
  }
  REQUIRE(rendered.all().size() == base().all().size() + 1);
  const YAML::Node added = rendered.get(kind, kName);
  CHECK(text(added["metadata"]["namespace"]) == kNamespace);
  CHECK(text(added["metadata"]["labels"]["app.kubernetes.io/name"]) == kName);

  // All three together, and beside the recommender component, which has no Service of its own.
  CHECK(with_monitoring().all().size() == base().all().size() + 3);
  std::vector<std::string> with_recommender_too = kMonitoringComponents;
  with_recommender_too.push_back("manifests/components/recommender");
  CHECK(compose({"manifests/base"}, with_recommender_too).all().size() == with_recommender().all().size() + 3);
}

TEST_CASE("the ServiceMonitor scrapes /metrics over HTTPS from the webhook Service's port", "[manifests][servicemonitor]") {
  const YAML::Node monitor = with_monitoring().get("ServiceMonitor", kName);
  const YAML::Node service = base().get("Service", kName);
  CHECK(text(monitor["apiVersion"]) == "monitoring.coreos.com/v1");

  // It selects the webhook's Service, in its namespace, and nothing of the recommender's.
  CHECK(strings(monitor["spec"]["namespaceSelector"]["matchNames"]) ==
        std::vector<std::string>{text(service["metadata"]["namespace"])});
  const Labels service_labels(service["metadata"]["labels"]);
  CHECK(selector_of(monitor["spec"]["selector"]).matches(service_labels.set()));
  // No jobLabel: the job is the Service's name, which the PrometheusRule's expressions select.
  CHECK(!monitor["spec"]["jobLabel"].IsDefined());

  REQUIRE(monitor["spec"]["endpoints"].size() == 1);
  const YAML::Node endpoint = monitor["spec"]["endpoints"][0];
  CHECK(text(endpoint["scheme"]) == "https");
  CHECK(text(endpoint["path"]) == "/metrics");
  REQUIRE(service["spec"]["ports"].size() == 1);
  CHECK(text(endpoint["port"]) == text(service["spec"]["ports"][0]["name"]));

  // That port leads to the container port the server listens on, which serves /metrics.
  const YAML::Node deployment = base().get("Deployment", kName);
  const YAML::Node container = only_container(deployment);
  const int port = container_port(container, service["spec"]["ports"][0]["targetPort"]);
  const std::string listen = arg_value(strings(container["args"]), "--listen");
  CHECK(listen.substr(listen.rfind(':') + 1) == std::to_string(port));
  CHECK(text(deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"]) == std::to_string(port));
  CHECK(example_exposition().count("avw_ready") == 1);
}

TEST_CASE("the PrometheusRule alerts on metrics the webhook has, each with for, severity, summary and runbook",
          "[manifests][prometheusrule]") {
  const YAML::Node rule = with_monitoring().get("PrometheusRule", kName);
  CHECK(text(rule["apiVersion"]) == "monitoring.coreos.com/v1");
  const std::string job = "job=\"" + text(base().get("Service", kName)["metadata"]["name"]) + "\"";
  const std::set<std::string> runbooks = heading_anchors((repo_root() / "docs/operations.md").string());

  std::set<std::string> alerts;
  std::set<std::string> metrics;
  for (const YAML::Node& group : rule["spec"]["groups"]) {
    for (const YAML::Node& r : group["rules"]) {
      const std::string alert = text(r["alert"]);
      INFO("alert " << alert);
      CHECK(alerts.insert(alert).second);
      CHECK(alert.rfind("AirflowVpaWebhook", 0) == 0);
      CHECK(is_prometheus_duration(text(r["for"])));
      const std::string severity = text(r["labels"]["severity"]);
      CHECK((severity == "critical" || severity == "warning"));
      CHECK(!text(r["annotations"]["summary"]).empty());
      CHECK(!text(r["annotations"]["description"]).empty());

      // The runbook is the section of docs/operations.md named after the alert.
      const std::string runbook = text(r["annotations"]["runbook_url"]);
      CHECK(runbook == "docs/operations.md#" + heading_anchor(alert));
      CHECK(runbooks.count(heading_anchor(alert)) == 1);

      // Every metric it reads is one the webhook has, by labels it has, from the scrape job.
      const std::string expr = text(r["expr"]);
      check_query(expr);
      for (std::size_t pos = expr.find("avw_"); pos != std::string::npos; pos = expr.find("avw_", pos + 1)) {
        const std::size_t open = expr.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_", pos);
        INFO("selector at " << expr.substr(pos));
        REQUIRE(open != std::string::npos);
        REQUIRE(expr[open] == '{');
        CHECK(expr.substr(open, expr.find('}', open) - open).find(job) != std::string::npos);
      }
      const PromQuery q = parse_query(expr);
      metrics.insert(q.metrics.begin(), q.metrics.end());
    }
  }
  // The conditions that matter each have their alert.
  for (const char* metric : {"avw_ready", "avw_store_age_seconds", "avw_tls_reloads_total", "avw_provision_total",
                             "avw_oom_floor_changes_total", "avw_provision_vpas_without_recommendation"}) {
    INFO(metric);
    CHECK(metrics.count(metric) == 1);
  }
}

TEST_CASE("the NetworkPolicy admits the webhook's HTTPS port from anywhere and lets it reach the API server and DNS",
          "[manifests][networkpolicy]") {
  const YAML::Node policy = with_monitoring().get("NetworkPolicy", kName);
  const YAML::Node deployment = base().get("Deployment", kName);
  const YAML::Node container = only_container(deployment);

  // It governs the webhook's pods, not the recommender's.
  const Selector selector = selector_of(policy["spec"]["podSelector"]);
  const Labels webhook_pod(deployment["spec"]["template"]["metadata"]["labels"]);
  CHECK(selector.matches(webhook_pod.set()));
  const Labels recommender_pod(
      with_recommender().get("Deployment", kRecommender)["spec"]["template"]["metadata"]["labels"]);
  CHECK_FALSE(selector.matches(recommender_pod.set()));
  CHECK(strings(policy["spec"]["policyTypes"]) == std::vector<std::string>{"Ingress", "Egress"});

  // Ingress: exactly the port the Service sends the API server's calls (and the scrape) to,
  // from any source, since the API server's address is not portably known.
  const YAML::Node ingress = policy["spec"]["ingress"];
  REQUIRE(ingress.size() == 1);
  CHECK(!ingress[0]["from"].IsDefined());
  REQUIRE(ingress[0]["ports"].size() == 1);
  const YAML::Node admitted = ingress[0]["ports"][0];
  CHECK(text(admitted["protocol"]) == "TCP");
  const YAML::Node service_port = base().get("Service", kName)["spec"]["ports"][0];
  CHECK(container_port(container, admitted["port"]) == container_port(container, service_port["targetPort"]));
  for (const char* probe : {"readinessProbe", "livenessProbe"}) {
    INFO(probe);  // the kubelet's probes come from the node, which is always allowed, and use it too
    CHECK(container_port(container, container[probe]["httpGet"]["port"]) == container_port(container, admitted["port"]));
  }

  // Egress: the API server's ports and DNS, nothing else.
  std::set<std::pair<std::string, int>> egress;
  for (const YAML::Node& rule : policy["spec"]["egress"]) {
    CHECK(!rule["to"].IsDefined());
    for (const YAML::Node& p : rule["ports"]) egress.emplace(text(p["protocol"]), p["port"].as<int>());
  }
  const std::set<std::pair<std::string, int>> expected{{"TCP", 443}, {"TCP", 6443}, {"UDP", 53}, {"TCP", 53}};
  CHECK(egress == expected);
}
