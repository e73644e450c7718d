#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "avw/cli/config.hpp"

using avw::cli::Command;
using avw::cli::Config;
using avw::cli::UsageError;
using namespace std::chrono_literals;

namespace {

Config parse(std::vector<std::string_view> args) { return avw::cli::parse_args(args); }

std::string error_of(std::vector<std::string_view> args) {
  try {
    parse(args);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no error)";
}

const std::vector<std::string_view> kServeBase = {"serve", "--tls-cert", "c.pem", "--tls-key", "k.pem"};

std::vector<std::string_view> serve_with(std::vector<std::string_view> extra) {
  auto args = kServeBase;
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

}  // namespace

TEST_CASE("serve defaults are the documented ones", "[cli]") {
  const Config c = parse(kServeBase);
  CHECK(c.command == Command::Serve);
  CHECK(c.server.listen_host == "0.0.0.0");
  CHECK(c.server.listen_port == 8443);
  CHECK(c.server.tls_cert == "c.pem");
  CHECK(c.server.tls_key == "k.pem");
  CHECK(c.server.client_ca.empty());
  CHECK_FALSE(c.server.dry_run);
  CHECK(c.server.threads == 0);
  CHECK(c.server.max_request_bytes == 4 * 1024 * 1024);
  CHECK(c.server.max_connections == 1024);
  CHECK(c.server.handshake_timeout == 10s);
  CHECK(c.server.header_timeout == 10s);
  CHECK(c.server.body_timeout == 10s);
  CHECK(c.server.idle_timeout == 60s);
  CHECK(c.server.shutdown_timeout == 30s);
  CHECK(c.log_format == avw::cli::LogFormat::Text);
  CHECK(c.log_level == "info");
  CHECK(c.decision().field == avw::core::RecommendationField::Target);
  CHECK(c.store.allowed_update_modes ==
        std::vector<avw::core::UpdateMode>{avw::core::UpdateMode::Off, avw::core::UpdateMode::Initial});
  CHECK(c.vpa_recommender.empty());
  CHECK(c.missing_recommendation_after == 6h);
}

TEST_CASE("the recommender of provisioned VPAs is a name, or empty for the default one", "[cli]") {
  const std::string name = GENERATE(as<std::string>{}, "airflow-vpa-webhook", "batch", "B2", "team.batch_v2", "");
  const std::string flag = "--vpa-recommender=" + name;
  const Config c = parse(serve_with({flag, "--missing-recommendation-after", "90m"}));
  CHECK(c.vpa_recommender == name);
  CHECK(c.missing_recommendation_after == 90min);
}

TEST_CASE("a recommender name that cannot be one is refused", "[cli]") {
  const std::string name = GENERATE(as<std::string>{}, "two words", "-batch", "batch-", "batch/v2", "naïve",
                                    std::string(254, 'a'));
  CAPTURE(name);
  const std::string flag = "--vpa-recommender=" + name;
  const std::string error = error_of(serve_with({flag}));
  CHECK(error == "--vpa-recommender: \"" + name +
                     "\" is not a recommender name (letters, digits and inner '-', '_', '.'; e.g. airflow-vpa-webhook; "
                     "empty for the default recommender)");
}

TEST_CASE("serve flags land in the config, with --flag value or --flag=value", "[cli]") {
  const Config c = parse(serve_with({"--listen", "127.0.0.1:0", "--client-ca=ca.pem", "--recommendations", "r.json",
                                     "--dry-run", "--threads", "3", "--max-request-bytes", "1Mi", "--max-connections=7",
                                     "--handshake-timeout", "2s", "--header-timeout", "500ms", "--body-timeout",
                                     "1m30s", "--idle-timeout", "1h", "--shutdown-timeout", "0s", "--log-format",
                                     "json", "--log-level", "debug"}));
  CHECK(c.server.listen_host == "127.0.0.1");
  CHECK(c.server.listen_port == 0);
  CHECK(c.server.client_ca == "ca.pem");
  CHECK(c.recommendations == "r.json");
  CHECK(c.dry_run);
  CHECK(c.server.dry_run);
  CHECK(c.server.threads == 3);
  CHECK(c.server.max_request_bytes == 1024 * 1024);
  CHECK(c.server.max_connections == 7);
  CHECK(c.server.handshake_timeout == 2s);
  CHECK(c.server.header_timeout == 500ms);
  CHECK(c.server.body_timeout == 90s);
  CHECK(c.server.idle_timeout == 1h);
  CHECK(c.server.shutdown_timeout == 0s);
  CHECK(c.log_format == avw::cli::LogFormat::Json);
  CHECK(c.log_level == "debug");
}

TEST_CASE("IPv6 listen addresses are written in brackets", "[cli]") {
  const Config c = parse(serve_with({"--listen", "[::1]:9443"}));
  CHECK(c.server.listen_host == "::1");
  CHECK(c.server.listen_port == 9443);
}

TEST_CASE("decision flags are shared by serve and review", "[cli]") {
  const auto command = GENERATE(as<std::string_view>{}, "serve", "review");
  std::vector<std::string_view> args = {command, "--recommendations", "r.json"};
  if (command == "serve") args.insert(args.end(), {"--tls-cert", "c", "--tls-key", "k"});
  args.insert(args.end(), {"--recommendation-field", "upperBound", "--min-cpu", "10m", "--max-cpu", "4",
                           "--min-memory", "64Mi", "--max-memory", "16Gi", "--allowed-update-modes",
                           "Off,Initial,Auto", "--dag-id-label", "example.com/dag", "--task-id-label", "task",
                           "--pod-operator-label", "kpo", "--executor-label", "exec", "--try-number-label", "try"});
  const Config c = parse(args);
  const auto& d = c.decision();
  using avw::core::Quantity;
  using avw::core::Resource;
  CHECK(d.field == avw::core::RecommendationField::UpperBound);
  CHECK(d.min_request[Resource::Cpu] == Quantity::from_milli(10));
  CHECK(d.max_request[Resource::Cpu] == Quantity::from_units(4));
  CHECK(d.min_request[Resource::Memory] == Quantity::from_units(64 * 1024 * 1024));
  CHECK(d.max_request[Resource::Memory] == Quantity::from_units(16LL * 1024 * 1024 * 1024));
  CHECK(c.store.allowed_update_modes == std::vector<avw::core::UpdateMode>{avw::core::UpdateMode::Off,
                                                                            avw::core::UpdateMode::Initial,
                                                                            avw::core::UpdateMode::Auto});
  CHECK(d.keys.dag_id == "example.com/dag");
  CHECK(d.keys.task_id == "task");
  CHECK(d.keys.pod_operator == "kpo");
  CHECK(d.keys.executor == "exec");
  CHECK(d.keys.try_number == "try");
  // The store indexes targets by the same labels the decision reads.
  CHECK(c.store.index_key_a == "example.com/dag");
  CHECK(c.store.index_key_b == "task");
}

TEST_CASE("review takes its input file and dry-run flag", "[cli]") {
  const Config c = parse({"review", "--recommendations", "r.json", "--review", "in.json", "--dry-run"});
  CHECK(c.command == Command::Review);
  CHECK(c.recommendations == "r.json");
  CHECK(c.review_file == "in.json");
  CHECK(c.dry_run);
  CHECK(parse({"review", "--recommendations", "r.json"}).review_file.empty());
}

TEST_CASE("help and version are commands of their own", "[cli]") {
  CHECK(parse({"--help"}).command == Command::Help);
  CHECK(parse({"-h"}).help_topic.empty());
  CHECK(parse({"help", "serve"}).help_topic == "serve");
  const Config c = parse({"review", "--bogus-is-ignored-after-help", "--help"});
  CHECK(c.command == Command::Help);
  CHECK(c.help_topic == "review");
  CHECK(parse({"--version"}).command == Command::Version);
  for (const auto topic : {"", "serve", "review", "report"}) {
    const std::string text = avw::cli::usage(topic);
    CHECK(text.starts_with("Usage: airflow-vpa-webhook"));
    CHECK(text.ends_with("\n"));
  }
  CHECK(avw::cli::usage("serve").find("--max-request-bytes") != std::string::npos);
  CHECK(avw::cli::usage("review").find("--review FILE") != std::string::npos);
}

TEST_CASE("bad command lines get a one-line error naming the flag", "[cli]") {
  struct Row {
    std::vector<std::string_view> args;
    std::string error;
  };
  const Row row = GENERATE(values<Row>({
      {{}, "missing command (serve, review or report); see --help"},
      {{"run"}, "unknown command \"run\" (serve, review or report); see --help"},
      {{"help", "x"}, "help: unknown command \"x\" (serve, review or report)"},
      {{"serve"}, "serve: --tls-cert FILE and --tls-key FILE are required"},
      {{"review"}, "review: --recommendations FILE is required"},
      {{"serve", "--nope"}, "serve: unknown flag --nope; see serve --help"},
      {{"serve", "positional"}, "serve: unexpected argument \"positional\""},
      {{"review", "--threads", "2"}, "review: --threads is a flag of serve"},
      {{"serve", "--listen"}, "--listen: needs a value"},
      {{"serve", "--listen", "8443"}, "--listen: \"8443\" is not HOST:PORT"},
      {{"serve", "--listen", "example.com:8443"}, "--listen: \"example.com\" is not an IP address"},
      {{"serve", "--listen", "::1:8443"}, "--listen: \"::1:8443\": write IPv6 addresses in brackets ([::]:8443)"},
      {{"serve", "--listen", "0.0.0.0:65536"}, "--listen: \"65536\" is out of range (0..65535)"},
      {{"serve", "--listen", "0.0.0.0:x"}, "--listen: \"x\" is not a whole number"},
      {{"serve", "--threads", "0"}, "--threads: \"0\" is out of range (1..1024)"},
      {{"serve", "--threads", "-1"}, "--threads: \"-1\" is not a whole number"},
      {{"serve", "--max-connections", "1.5"}, "--max-connections: \"1.5\" is not a whole number"},
      {{"serve", "--max-request-bytes", "1.5"}, "--max-request-bytes: \"1.5\" is not a whole number of bytes"},
      {{"serve", "--max-request-bytes", "0"}, "--max-request-bytes: must be more than 0"},
      {{"serve", "--max-request-bytes", "5Gi"}, "--max-request-bytes: \"5Gi\" is too large"},
      {{"serve", "--idle-timeout", "10"}, "--idle-timeout: \"10\" is not a duration (e.g. 10s, 500ms, 1m30s)"},
      {{"serve", "--idle-timeout", "0s"}, "--idle-timeout: must be more than 0"},
      {{"serve", "--log-format", "xml"}, "--log-format: \"xml\" is not json or text"},
      {{"serve", "--log-level", "loud"}, "--log-level: \"loud\" is not trace, debug, info, warn, error, critical or off"},
      {{"serve", "--dry-run=maybe"}, "--dry-run: takes no value (or =true, =false)"},
      {{"review", "--recommendation-field", "median"},
       "--recommendation-field: \"median\" is not target, lowerBound, upperBound or uncappedTarget"},
      {{"review", "--min-cpu", "-1"}, "--min-cpu: \"-1\" is negative"},
      {{"review", "--allowed-update-modes", "Off,Sometimes"},
       "--allowed-update-modes: \"Sometimes\" is not an update mode (Off, Initial, Recreate, Auto, InPlaceOrRecreate)"},
      {{"review", "--dag-id-label", "not a key"}, "--dag-id-label: \"not a key\" is not a valid label key"},
      {{"review", "--recommendations", "r", "--min-cpu", "2", "--max-cpu", "1"}, "--min-cpu 2 is above --max-cpu 1"},
      {{"review", "--recommendations", "r", "--task-id-label", "dag_id"}, "--dag-id-label and --task-id-label must differ"},
      {{"serve", "--tls-cert", "c", "--tls-key", "k", "--recommendations", "r", "--kubeconfig", "kc"},
       "serve: --recommendations and --kubeconfig are exclusive"},
      {{"serve", "--tls-cert", "c", "--tls-key", "k", "--recommendations", "r", "--vpa-recommender", "batch"},
       "serve: --vpa-recommender names the recommender of provisioned VPAs; it needs provisioning (the Kubernetes "
       "API source, without --recommendations or --disable-provisioning)"},
      {{"serve", "--tls-cert", "c", "--tls-key", "k", "--disable-provisioning", "--vpa-recommender", "batch"},
       "serve: --vpa-recommender names the recommender of provisioned VPAs; it needs provisioning (the Kubernetes "
       "API source, without --recommendations or --disable-provisioning)"},
      {{"serve", "--missing-recommendation-after", "0s"}, "--missing-recommendation-after: must be more than 0"},
      {{"review", "--vpa-recommender", "batch"}, "review: --vpa-recommender is a flag of serve"},
      {{"review", "--output", "json"}, "review: --output is a flag of report"},
      {{"report", "--dry-run"}, "report: --dry-run is a flag of serve and review"},
      {{"report", "--review", "r.json"}, "report: --review is a flag of review"},
      {{"review", "--kubeconfig", "kc"}, "review: --kubeconfig is a flag of serve and report"},
      {{"report", "--recommendations", "r", "--kubeconfig", "kc"},
       "report: --recommendations and --kubeconfig are exclusive"},
      {{"report", "--output", "yaml"}, "--output: \"yaml\" is not table, json or csv"},
      {{"report", "--sort", "savings"},
       "--sort: \"savings\" is not name, cpu-savings, memory-savings, last-seen or runs"},
      {{"report", "--limit", "ten"}, "--limit: \"ten\" is not a whole number"},
  }));
  CAPTURE(row.args);
  const std::string error = error_of(row.args);
  CHECK(error == row.error);
  CHECK(error.find('\n') == std::string::npos);
}

TEST_CASE("report takes its own flags and the decision's, and needs no source flag", "[cli][report]") {
  const Config defaults = parse({"report"});
  CHECK(defaults.command == Command::Report);
  CHECK(defaults.report_format == avw::cli::ReportFormat::Table);
  CHECK(defaults.report_query.sort == avw::core::FleetSort::Name);
  CHECK(defaults.report_query.limit == 0);
  CHECK(defaults.recommendations.empty());  // in-cluster, as serve
  CHECK(defaults.kubeconfig.empty());

  const Config c = parse({"report", "--kubeconfig", "kc", "--output=csv", "--namespace", "airflow", "--dag", "etl",
                          "--sort", "memory-savings", "--limit", "10", "--min-history", "24h", "--dag-id-label", "dag"});
  CHECK(c.kubeconfig == "kc");
  CHECK(c.report_format == avw::cli::ReportFormat::Csv);
  CHECK(c.report_query.namespace_ == "airflow");
  CHECK(c.report_query.dag_id == "etl");
  CHECK(c.report_query.sort == avw::core::FleetSort::MemorySavings);
  CHECK(c.report_query.limit == 10);
  CHECK(c.decision().gates.min_history_seconds == 24 * 3600);
  CHECK(c.decision().keys.dag_id == "dag");
  CHECK(c.store.index_key_a == "dag");
  CHECK(parse({"report", "--output", "json"}).report_format == avw::cli::ReportFormat::Json);
  CHECK(parse({"report", "--help"}).help_topic == "report");
  CHECK(parse({"help", "report"}).help_topic == "report");
}

TEST_CASE("a quantity flag reports why it is not a quantity", "[cli]") {
  const std::string error = error_of({"review", "--max-memory", "1.5.3Gi"});
  CHECK(error.starts_with("--max-memory: "));
  CHECK(error.size() > std::string("--max-memory: ").size());
}

TEST_CASE("the dry-run flag also takes =true and =false", "[cli]") {
  CHECK(parse({"review", "--recommendations", "r", "--dry-run=true"}).dry_run);
  CHECK_FALSE(parse({"review", "--recommendations", "r", "--dry-run", "--dry-run=false"}).dry_run);
}

TEST_CASE("durations combine units like Go's", "[cli]") {
  using avw::cli::parse_duration;
  auto [text, expected] = GENERATE(table<std::string, std::chrono::milliseconds>({
      {"10s", 10s},
      {"250ms", 250ms},
      {"2m", 2min},
      {"1h", 1h},
      {"1m30s", 90s},
      {"1h2m3s4ms", 1h + 2min + 3s + 4ms},
      {"0s", 0s},
  }));
  CAPTURE(text);
  CHECK(parse_duration(text) == expected);
}

TEST_CASE("malformed durations are refused", "[cli]") {
  const auto text = GENERATE(as<std::string>{}, "", "10", "s", "1.5s", "-1s", "10x", "1s ", "9999999h");
  CAPTURE(text);
  CHECK_FALSE(avw::cli::parse_duration(text));
}
