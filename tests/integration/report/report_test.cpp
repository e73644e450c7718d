// `airflow-vpa-webhook report`: the real binary on a recommendations file (table, JSON, CSV) and
// against the fake API server, on tests/fixtures/report/fleet.json (its README says what each
// task shows; tests/unit/core/fleet_report_test.cpp works the numbers out).
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <catch2/catch.hpp>

#include <sstream>

#include "support/fixtures.hpp"
#include "support/net/fake_api_server.hpp"
#include "support/net/process.hpp"
#include "support/net/tls_certs.hpp"
#include "support/net/webhook_process.hpp"

using namespace avw::test;

namespace {

const std::string kFleet = std::string(AVW_FIXTURES_DIR) + "/report/fleet.json";

struct Run {
  int exit_code = -1;
  std::string out;
  std::string err;
};

Run report(std::vector<std::string> args) {
  TempDir dir;
  args.insert(args.begin(), {AVW_BINARY, "report"});
  Run r;
  r.exit_code = run_process(args, stdio(dir.file("out"), dir.file("err")));
  r.out = read_file(dir.file("out"));
  r.err = read_file(dir.file("err"));
  return r;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The table row whose first cells are these, split on runs of two spaces or more.
std::vector<std::string> cells(const std::string& line) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < line.size()) {
    const std::size_t gap = line.find("  ", pos);
    out.push_back(line.substr(pos, gap - pos));
    if (gap == std::string::npos) break;
    pos = line.find_first_not_of(' ', gap);
  }
  return out;
}

std::vector<std::string> table_row(const std::string& table, const std::vector<std::string>& first) {
  for (const std::string& line : lines_of(table)) {
    const auto c = cells(line);
    if (c.size() >= first.size() && std::equal(first.begin(), first.end(), c.begin())) return c;
  }
  FAIL("no row starting " << first.front() << " " << first.back() << " in\n" << table);
  return {};
}

// RFC 4180: fields separated by commas, quoted when they hold one, "" for a quote, CRLF ends.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().push_back(std::move(field));
      field.clear();
    } else if (c == '\r') {
      REQUIRE(i + 1 < text.size());
      REQUIRE(text[i + 1] == '\n');
      rows.back().push_back(std::move(field));
      field.clear();
      rows.emplace_back();
      ++i;
    } else {
      REQUIRE(c != '\n');  // a bare LF outside quotes is not RFC 4180
      field += c;
    }
  }
  REQUIRE(field.empty());
  REQUIRE(rows.back().empty());
  rows.pop_back();
  return rows;
}

const rapidjson::Value& task_in(const rapidjson::Document& d, std::string_view name) {
  for (const auto& t : d["tasks"].GetArray()) {
    if (t["airflowTask"].GetString() == name) return t;
  }
  FAIL("no task " << name);
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("report prints one table row per task, then totals by namespace and DAG", "[report]") {
  const Run r = report({"--recommendations", kFleet});
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.empty());
  const auto header = cells(lines_of(r.out).front());
  CHECK(header == std::vector<std::string>{"NAMESPACE", "DAG", "TASK", "LAUNCHER", "LAST-SEEN", "RUNS", "RUNS/DAY",
                                           "MEAN-RUN", "ASKS", "RECOMMENDED", "WOULD-SET", "OOM-KILLS", "CORE-H/DAY",
                                           "GIB-H/DAY", "GATES", "WHY"});
  const auto load = table_row(r.out, {"airflow", "etl", "load"});
  CHECK(std::vector<std::string>(load.begin() + 3, load.end() - 1) ==
        std::vector<std::string>{"PodOperator", "2026-12-06T08:00:00Z", "10", "2.00", "1h00m", "base 1/2Gi",
                                 "base 250m/1Gi", "base 250m/1Gi", "-", "-1.500", "-2.000", "-"});
  const auto extract = table_row(r.out, {"airflow", "etl", "extract"});
  CHECK(extract[10] == "base 500m/1288490189");  // the OOM floor
  CHECK(extract[11] == "2 (floor)");
  CHECK(extract[13] == "0.400");
  CHECK(extract[14] == "oom");
  const auto fit = table_row(r.out, {"airflow", "ml", "fit"});
  CHECK(fit[5] == "0");
  CHECK(fit[8] == "-");
  CHECK(fit[9] == "base 2/4Gi");
  CHECK(fit[10] == "-");
  CHECK(fit.back() == "no runs observed");
  const auto report_row = table_row(r.out, {"batch", "etl", "report"});
  CHECK(report_row[3] == "Executor");
  CHECK(report_row[10] == "base 500m/1Gi");  // memory held back
  CHECK(report_row[12] == "-0.750");
  CHECK(report_row[14] == "history");

  const std::size_t by_namespace = r.out.find("\nTotals by namespace\n");
  const std::size_t by_dag = r.out.find("\nTotals by DAG\n");
  REQUIRE(by_namespace != std::string::npos);
  REQUIRE(by_dag != std::string::npos);
  const std::string namespaces = r.out.substr(by_namespace, by_dag - by_namespace);
  CHECK(table_row(namespaces, {"airflow"}) ==
        std::vector<std::string>{"airflow", "3", "2", "6.00", "2", "-1.500", "-1.600"});
  CHECK(table_row(namespaces, {"(all)"}) ==
        std::vector<std::string>{"(all)", "4", "3", "9.00", "2", "-2.250", "-1.600"});
  const std::string dags = r.out.substr(by_dag);
  CHECK(table_row(dags, {"airflow", "ml"}) == std::vector<std::string>{"airflow", "ml", "1", "0", "0.00", "0", "0.000", "0.000"});
  CHECK(table_row(dags, {"batch", "etl"}) ==
        std::vector<std::string>{"batch", "etl", "1", "1", "3.00", "0", "-0.750", "0.000"});
}

TEST_CASE("report --output json is one document with the rows and the totals", "[report]") {
  const Run r = report({"--recommendations", kFleet, "--output", "json", "--sort", "cpu-savings", "--limit", "3"});
  REQUIRE(r.exit_code == 0);
  rapidjson::Document d;
  d.Parse(r.out.c_str());
  REQUIRE_FALSE(d.HasParseError());
  REQUIRE(d["tasks"].Size() == 3);
  CHECK(d["matched"].GetInt() == 4);
  CHECK(std::string(d["tasks"][0]["airflowTask"].GetString()) == "etl-load");
  CHECK(std::string(d["tasks"][1]["airflowTask"].GetString()) == "etl-report");

  const auto& load = task_in(d, "etl-load");
  CHECK(std::string(load["launcher"].GetString()) == "PodOperator");
  CHECK(std::string(load["vpa"].GetString()) == "etl-load");
  CHECK(load["runs"]["observed"].GetInt() == 10);
  CHECK(load["runs"]["perDay"].GetDouble() == 2);
  CHECK(load["runs"]["meanSeconds"].GetDouble() == 3600);
  const auto& base = load["containers"][0];
  CHECK(std::string(base["asks"]["cpu"].GetString()) == "1");
  CHECK(std::string(base["recommended"]["memory"].GetString()) == "1Gi");
  CHECK(std::string(base["wouldSet"]["cpu"].GetString()) == "250m");
  CHECK(std::string(load["outcome"].GetString()) == "audited");
  CHECK(load["change"]["coreHoursPerDay"].GetDouble() == Approx(-1.5));
  CHECK(load["change"]["gibHoursPerDay"].GetDouble() == Approx(-2));

  const auto& held = task_in(d, "etl-report");
  REQUIRE(held["gates"].Size() == 1);
  CHECK(std::string(held["gates"][0].GetString()) == "history");
  CHECK(std::string(held["why"].GetString()).find("history") != std::string::npos);
  CHECK(std::string(held["containers"][0]["wouldSet"]["memory"].GetString()) == "1Gi");

  const auto& fit = task_in(d, "ml-fit");
  CHECK(std::string(fit["why"].GetString()) == "no runs observed");
  CHECK(fit["lastSeen"].IsNull());
  CHECK(fit["containers"][0]["asks"].ObjectEmpty());
  CHECK(std::string(fit["containers"][0]["recommended"]["cpu"].GetString()) == "2");

  // Totals count every matching task, not only the rows the limit shows.
  CHECK(d["totals"]["all"]["tasks"].GetInt() == 4);
  CHECK(d["totals"]["all"]["coreHoursPerDay"].GetDouble() == Approx(-2.25));
  REQUIRE(d["totals"]["dags"].Size() == 3);
  CHECK(std::string(d["totals"]["namespaces"][1]["namespace"].GetString()) == "batch");

  // Cut by the limit above: the OOM-floored task, whose change notes why memory went up.
  const Run all = report({"--recommendations", kFleet, "--output", "json"});
  REQUIRE(all.exit_code == 0);
  rapidjson::Document every;
  every.Parse(all.out.c_str());
  REQUIRE_FALSE(every.HasParseError());
  const auto& extract = task_in(every, "etl-extract");
  CHECK(extract["oomKills"].GetInt() == 2);
  CHECK(extract["oomFloors"].GetInt() == 1);
  REQUIRE(extract["containers"][0]["notes"].Size() == 1);
  CHECK(std::string(extract["containers"][0]["notes"][0].GetString()).rfind("memory: ", 0) == 0);
  CHECK(extract["change"]["gibHoursPerDay"].GetDouble() == Approx(214748365.0 * 7200 / 3600 / 1073741824));
}

TEST_CASE("report --output csv is RFC 4180 with a header row", "[report]") {
  const Run r = report({"--recommendations", kFleet, "--output", "csv", "--dag", "etl", "--namespace", "airflow"});
  REQUIRE(r.exit_code == 0);
  const auto rows = parse_csv(r.out);
  REQUIRE(rows.size() == 3);
  const std::vector<std::string> header = {
      "namespace",   "dag",       "task",      "launcher",  "airflow_task",       "vpa",
      "last_seen",   "runs_observed", "runs_per_day", "mean_run_seconds", "asks", "recommended",
      "would_set",   "oom_kills", "oom_floors", "core_hours_per_day", "gib_hours_per_day", "outcome",
      "gates",       "why"};
  CHECK(rows[0] == header);
  for (const auto& row : rows) CHECK(row.size() == header.size());
  const auto& extract = rows[1];
  CHECK(extract[2] == "extract");
  CHECK(extract[13] == "2");
  CHECK(extract[14] == "1");
  CHECK(extract[16] == "0.4000");
  const auto& load = rows[2];
  CHECK(load[2] == "load");
  CHECK(load[7] == "10");
  CHECK(load[8] == "2.0000");
  CHECK(load[9] == "3600.0");
  CHECK(load[15] == "-1.5000");
  // The reason holds commas, so it went out quoted and came back whole.
  CHECK(load[19] == "VPA etl-load: base: cpu request 1 -> 250m, memory request 2Gi -> 1Gi");
  CHECK(r.out.find("\"VPA etl-load: base: cpu request 1 -> 250m, memory request 2Gi -> 1Gi\"") != std::string::npos);
}

TEST_CASE("report reads the cluster through --kubeconfig, as it reads the file", "[report][kube]") {
  FakeApiServer::Options options;
  options.seed_fixtures = false;
  FakeApiServer api(options);
  rapidjson::Document fleet;
  fleet.Parse(read_fixture("report/fleet.json").c_str());
  REQUIRE_FALSE(fleet.HasParseError());
  for (const auto& item : fleet["items"].GetArray()) {
    const std::string kind = item["kind"].GetString();
    const std::string plural = kind == "AirflowTask"             ? "airflowtasks"
                               : kind == "VerticalPodAutoscaler" ? "verticalpodautoscalers"
                                                                 : "verticalpodautoscalercheckpoints";
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    item.Accept(writer);
    api.upsert(plural, buffer.GetString());
  }
  TempDir dir;
  write_file_atomic(dir.file("kubeconfig"), kubeconfig_for(api));

  SECTION("the same report, in every format") {
    const std::string output = GENERATE(as<std::string>{}, "table", "json", "csv");
    const Run from_cluster = report({"--kubeconfig", dir.file("kubeconfig"), "--output", output});
    const Run from_file = report({"--recommendations", kFleet, "--output", output});
    REQUIRE(from_cluster.exit_code == 0);
    CHECK(from_cluster.err.empty());
    CHECK(from_cluster.out == from_file.out);
    CHECK(api.requests("/verticalpodautoscalercheckpoints?limit=") >= 1);
  }
  SECTION("every page of a long list") {
    std::vector<std::string> tasks;
    for (int i = 0; i < 1200; ++i) {
      const std::string id = "t" + std::to_string(i);
      tasks.push_back(R"({"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask","metadata":{"name":")" +
                      id + R"(","namespace":"bulk"},"spec":{"dagId":"bulk","taskId":")" + id +
                      R"(","replicas":0},"status":{"selector":"dag_id=bulk,task_id=)" + id + R"("}})");
    }
    api.upsert_many("airflowtasks", tasks);
    const Run r = report({"--kubeconfig", dir.file("kubeconfig"), "--output", "json", "--namespace", "bulk"});
    REQUIRE(r.exit_code == 0);
    rapidjson::Document d;
    d.Parse(r.out.c_str());
    REQUIRE_FALSE(d.HasParseError());
    CHECK(d["matched"].GetInt() == 1200);
    CHECK(api.requests("continue=") >= 2);
  }
  SECTION("a list the API server refuses is one line and exit 2") {
    api.fail_next(403, 1);
    const Run r = report({"--kubeconfig", dir.file("kubeconfig")});
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(r.err.rfind("airflow-vpa-webhook: report: list verticalpodautoscalers: 403", 0) == 0);
    CHECK(lines_of(r.err).size() == 1);
  }
}

TEST_CASE("report fails with one line on stderr and exit 2 on bad flags or input", "[report]") {
  TempDir dir;
  write_file_atomic(dir.file("not-json.json"), "{ nope");
  struct Row {
    std::vector<std::string> args;
    std::string message_start;
  };
  const Row row = GENERATE_COPY(values<Row>({
      {{"--recommendations", kFleet, "--output", "xml"}, "airflow-vpa-webhook: --output: \"xml\" is not table"},
      {{"--recommendations", kFleet, "--sort", "size"}, "airflow-vpa-webhook: --sort: \"size\" is not name"},
      {{"--recommendations", kFleet, "--limit", "-1"}, "airflow-vpa-webhook: --limit: \"-1\" is"},
      {{"--recommendations", kFleet, "--kubeconfig", "x"},
       "airflow-vpa-webhook: report: --recommendations and --kubeconfig are exclusive"},
      {{"--recommendations", kFleet, "--dry-run"}, "airflow-vpa-webhook: report: --dry-run is a flag of serve and review"},
      {{"--recommendations", "{dir}/missing.json"}, "airflow-vpa-webhook: report: cannot open "},
      {{"--recommendations", "{dir}/not-json.json"}, "airflow-vpa-webhook: report: "},
      {{"--kubeconfig", "{dir}/missing-kubeconfig"}, "airflow-vpa-webhook: report: "},
  }));
  std::vector<std::string> args = row.args;
  for (std::string& a : args) {
    if (a.rfind("{dir}", 0) == 0) a = dir.path() + a.substr(5);
  }
  CAPTURE(args);
  const Run r = report(args);
  CHECK(r.exit_code == 2);
  CHECK(r.out.empty());
  CHECK(r.err.rfind(row.message_start, 0) == 0);
  CHECK(lines_of(r.err).size() == 1);
}

TEST_CASE("report --help lists its flags and the decision's", "[report]") {
  const Run r = report({"--help"});
  REQUIRE(r.exit_code == 0);
  for (const char* flag : {"--recommendations", "--kubeconfig", "--output", "--namespace", "--dag", "--sort", "--limit",
                           "--min-history", "--recommendation-field"}) {
    CHECK(r.out.find(flag) != std::string::npos);
  }
  CHECK(r.out.find("--dry-run") == std::string::npos);
}
