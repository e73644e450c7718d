// A measurement, not a test: hidden by its "[.measure]" tag, run on demand with
//   build/tests/integration/integration_source "[.measure]"      (AVW_MEASURE_VPAS=N to change N)
// It prints the time to the first complete snapshot and the process RSS for N VPAs plus their
// AirflowTasks, served by the fake API server in the same process.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include "harness.hpp"
#include "support/fixtures.hpp"

namespace {

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      long kib = 0;
      status >> kib;
      return kib;
    }
    status.ignore(1 << 12, '\n');
  }
  return -1;
}

// The captured VPA etl-daily-load (managedFields, conditions, two container recommendations:
// the size real objects have) renamed to `name`, targeting the AirflowTask `name`.
std::string realistic_vpa(const rapidjson::Value& tmpl, const std::string& name) {
  rapidjson::Document doc;
  doc.CopyFrom(tmpl, doc.GetAllocator());
  auto& meta = doc["metadata"];
  meta["name"].SetString(name.c_str(), doc.GetAllocator());
  meta["uid"].SetString(("uid-" + name).c_str(), doc.GetAllocator());
  doc["spec"]["targetRef"]["name"].SetString(name.c_str(), doc.GetAllocator());
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> writer(out);
  doc.Accept(writer);
  return out.GetString();
}

}  // namespace

TEST_CASE("measure: first sync of many VPAs and AirflowTasks", "[.measure][kube]") {
  using Clock = std::chrono::steady_clock;
  const char* env = std::getenv("AVW_MEASURE_VPAS");
  const int n = env != nullptr ? std::atoi(env) : 10'000;
  REQUIRE(n > 0);

  avw::test::FakeApiServer api;
  {
    rapidjson::Document page;
    const std::string text = avw::test::read_fixture("api/list-vpas-page1.json");
    page.Parse(text.data(), text.size());
    const rapidjson::Value& tmpl = page["items"][1];  // etl-daily-load
    std::vector<std::string> tasks;
    std::vector<std::string> vpas;
    for (int i = 0; i < n; ++i) {
      const std::string name = "task-" + std::to_string(i);
      tasks.push_back(avw::test::make_airflow_task(
          "airflow", name,
          "dag_id=dag_" + std::to_string(i / 10) + ",task_id=t" + std::to_string(i % 10) + ",kubernetes_pod_operator=True"));
      vpas.push_back(realistic_vpa(tmpl, name));
    }
    api.upsert_many("airflowtasks", tasks);
    api.upsert_many("verticalpodautoscalers", vpas);
    api.compact();
  }

  const long rss_before = rss_kib();
  const auto start = Clock::now();
  avw::source::ApiSourceOptions options;  // production defaults: pages of 500, 150 ms coalescing
  avw::test::SourceHarness h(avw::test::config_for(api), options);
  REQUIRE(h.wait_for_snapshot([&](const avw::core::Snapshot& s) { return s.vpa_count() == std::size_t(n) + 3; },
                              std::chrono::milliseconds(300'000)));
  const auto synced = Clock::now();
  const long rss_synced = rss_kib();

  const avw::core::LabelSet labels{{"dag_id", "dag_7"}, {"task_id", "t3"}, {"kubernetes_pod_operator", "True"}};
  const auto vpa = h.snapshot()->find_vpa("airflow", labels);
  REQUIRE(vpa != nullptr);
  CHECK(vpa->name() == "task-73");

  // One event on a store of this size: watch event -> rebuilt snapshot published.
  spdlog::set_level(spdlog::level::debug);  // shows how the rebuild splits its time
  const auto before_event = Clock::now();
  api.remove("verticalpodautoscalers", "airflow", "task-73");
  REQUIRE(h.wait_for_snapshot([&](const avw::core::Snapshot& s) { return s.find_vpa("airflow", labels) == nullptr; },
                              std::chrono::milliseconds(60'000)));
  const auto after_event = Clock::now();

  auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  std::cout << "kube sync measurement: " << n << " VPAs + " << n << " AirflowTasks (+ fixtures)\n"
            << "  first sync:            " << ms(synced - start) << " ms\n"
            << "  event to new snapshot: " << ms(after_event - before_event) << " ms\n"
            << "  RSS before the source: " << rss_before / 1024 << " MiB (fake server and its objects)\n"
            << "  RSS after first sync:  " << rss_synced / 1024 << " MiB (+" << (rss_synced - rss_before) / 1024
            << " MiB)\n";
}
