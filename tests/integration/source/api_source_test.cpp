// source::ApiSource against the fake API server: list, watch, relist, backoff, recovery.
#include <string>

#include <catch2/catch.hpp>

#include "avw/core/objects.hpp"
#include "avw/core/store.hpp"
#include "harness.hpp"

using namespace std::chrono_literals;
using avw::core::LabelSet;
using avw::core::Resource;
using avw::core::Snapshot;
using avw::test::FakeApiServer;
using avw::test::SourceHarness;

namespace {

// One watch each for VPAs, AirflowTasks, LimitRanges, checkpoints and namespaces.
constexpr std::size_t kWatches = 5;

// The labels of the captured KubernetesPodOperator pod (tests/fixtures/admission/kpo-pod.json).
LabelSet kpo_pod_labels() {
  return {{"airflow_kpo_in_cluster", "True"}, {"airflow_version", "2.10.3"}, {"dag_id", "etl_daily"},
          {"kubernetes_pod_operator", "True"}, {"run_id", "scheduled__2026-11-20T0000000000-8f3a1b2c4"},
          {"task_id", "load"}, {"try_number", "1"}};
}

LabelSet task_labels(std::string_view dag, std::string_view task) {
  return {{"dag_id", dag}, {"task_id", task}, {"kubernetes_pod_operator", "True"}};
}

std::string vpa_name_for(const Snapshot& s, const LabelSet& labels, std::string_view ns = "airflow") {
  const auto vpa = s.find_vpa(ns, labels);
  return vpa == nullptr ? std::string() : std::string(vpa->name());
}

std::string base_cpu_target(const Snapshot& s, const LabelSet& labels) {
  const auto vpa = s.find_vpa("airflow", labels);
  if (vpa == nullptr) return {};
  const auto rec = vpa->recommendation_for("base");
  if (!rec || !rec->target[Resource::Cpu]) return {};
  return rec->target[Resource::Cpu]->to_string();
}

bool converged_on_fixtures(const Snapshot& s) {
  return vpa_name_for(s, kpo_pod_labels()) == "etl-daily-load" && s.vpa_count() == 3 && s.target_count() == 3 &&
         s.limit_range_count() == 1 && s.checkpoint_count() == 2;
}

void add_task(FakeApiServer& api, const std::string& name, const std::string& dag, const std::string& task,
              const std::string& cpu) {
  api.upsert("airflowtasks", avw::test::make_airflow_task(
                                 "airflow", name, "dag_id=" + dag + ",task_id=" + task + ",kubernetes_pod_operator=True"));
  api.upsert("verticalpodautoscalers", avw::test::make_vpa("airflow", name, name, cpu, "256Mi"));
}

}  // namespace

TEST_CASE("the paginated initial list converges to the fixtures' objects", "[kube][list]") {
  FakeApiServer api;
  auto options = avw::test::fast_options();
  options.page_size = 2;
  SourceHarness h(avw::test::config_for(api), options);

  REQUIRE(h.wait_for_snapshot(converged_on_fixtures));
  CHECK(h.source().synced());
  CHECK(h.source().last_sync().has_value());
  CHECK(api.requests("/verticalpodautoscalers?limit=2&continue=") >= 1);
  CHECK(h.counter("avw_kube_relists_total", {{"resource", "verticalpodautoscalers"}, {"reason", "initial"}}) == 1);
  // The executor pod of the same task has no VPA: the launcher is part of the identity.
  CHECK(vpa_name_for(*h.snapshot(), {{"dag_id", "etl_daily"}, {"task_id", "load"}, {"kubernetes_executor", "True"}})
            .empty());
}

TEST_CASE("an expired continue token restarts the list from the first page", "[kube][list]") {
  FakeApiServer api;
  api.expire_next_continue();
  auto options = avw::test::fast_options();
  options.page_size = 1;
  SourceHarness h(avw::test::config_for(api), options);

  REQUIRE(h.wait_for_snapshot(converged_on_fixtures));
  CHECK(h.counter("avw_kube_relists_total", {{"resource", "verticalpodautoscalers"}, {"reason", "expired"}}) +
            h.counter("avw_kube_relists_total", {{"resource", "airflowtasks"}, {"reason", "expired"}}) +
            h.counter("avw_kube_relists_total", {{"resource", "verticalpodautoscalercheckpoints"}, {"reason", "expired"}}) ==
        1);
}

TEST_CASE("watch events are reflected in the published snapshot", "[kube][watch]") {
  FakeApiServer api;
  SourceHarness h(avw::test::config_for(api), avw::test::fast_options());
  REQUIRE(h.wait_for_snapshot(converged_on_fixtures));
  REQUIRE(h.wait_until([&] { return api.open_watches() == kWatches; }));

  SECTION("ADDED") {
    add_task(api, "etl-daily-report", "etl_daily", "report", "300m");
    CHECK(h.wait_for_snapshot([](const Snapshot& s) {
      return vpa_name_for(s, task_labels("etl_daily", "report")) == "etl-daily-report";
    }));
  }
  SECTION("MODIFIED") {
    api.upsert("verticalpodautoscalers", avw::test::make_vpa("airflow", "etl-daily-load", "etl-daily-load", "1234m", "1Gi"));
    CHECK(h.wait_for_snapshot([](const Snapshot& s) { return base_cpu_target(s, kpo_pod_labels()) == "1234m"; }));
  }
  SECTION("DELETED") {
    REQUIRE(api.remove("verticalpodautoscalers", "airflow", "etl-daily-load"));
    CHECK(h.wait_for_snapshot([](const Snapshot& s) { return s.vpa_count() == 2 && vpa_name_for(s, kpo_pod_labels()).empty(); }));
  }
  SECTION("LimitRange and checkpoint events") {
    REQUIRE(api.remove("limitranges", "airflow", "airflow-container-limits"));
    REQUIRE(api.remove("verticalpodautoscalercheckpoints", "airflow", "etl-load-base"));
    CHECK(h.wait_for_snapshot([](const Snapshot& s) { return s.limit_range_count() == 0 && s.checkpoint_count() == 1; }));
  }
  SECTION("BOOKMARK moves the resourceVersion a watch resumes from") {
    // Changes to other resources advance the global resourceVersion; only the bookmark tells
    // the VPA watch about it.
    api.upsert("airflowtasks", avw::test::make_airflow_task("airflow", "other", "dag_id=o,task_id=o"));
    const std::string rv = api.resource_version();
    api.bookmark();
    REQUIRE(h.wait_until([&] {
      return h.counter("avw_kube_watch_events_total", {{"resource", "verticalpodautoscalers"}, {"type", "BOOKMARK"}}) == 1;
    }));
    api.drop_watches();
    CHECK(h.wait_until([&] { return api.requests("verticalpodautoscalers?watch=1&allowWatchBookmarks=true&resourceVersion=" + rv + "&") == 1; }));
  }
  CHECK(h.counter("avw_kube_relists_total", {{"resource", "verticalpodautoscalers"}, {"reason", "expired"}}) == 0);
}

TEST_CASE("an expired resourceVersion makes the source list again and converge", "[kube][watch]") {
  FakeApiServer api;
  SourceHarness h(avw::test::config_for(api), avw::test::fast_options());
  REQUIRE(h.wait_for_snapshot(converged_on_fixtures));
  REQUIRE(h.wait_until([&] { return api.open_watches() == kWatches; }));

  // The change reaches no watch: only a new list can show it.
  api.upsert_silently("airflowtasks", avw::test::make_airflow_task("airflow", "late", "dag_id=late,task_id=t,kubernetes_pod_operator=True"));
  api.upsert_silently("verticalpodautoscalers", avw::test::make_vpa("airflow", "late", "late", "50m", "64Mi"));

  SECTION("as an ERROR event inside an open watch") { api.compact(false); }
  SECTION("as the answer to a watch resumed after a dropped connection") { api.compact(true); }

  CHECK(h.wait_for_snapshot([](const Snapshot& s) { return vpa_name_for(s, task_labels("late", "t")) == "late"; }));
  CHECK(h.counter("avw_kube_relists_total", {{"resource", "verticalpodautoscalers"}, {"reason", "expired"}}) >= 1);
  CHECK(h.source().synced());
}

TEST_CASE("a connection dropped in the middle of an event resumes and converges", "[kube][watch]") {
  FakeApiServer api;
  SourceHarness h(avw::test::config_for(api), avw::test::fast_options());
  REQUIRE(h.wait_for_snapshot(converged_on_fixtures));
  REQUIRE(h.wait_until([&] { return api.open_watches() == kWatches; }));

  api.drop_next_event_mid_chunk();
  api.upsert("verticalpodautoscalers", avw::test::make_vpa("airflow", "etl-daily-load", "etl-daily-load", "777m", "1Gi"));

  CHECK(h.wait_for_snapshot([](const Snapshot& s) { return base_cpu_target(s, kpo_pod_labels()) == "777m"; }));
  CHECK(h.counter("avw_kube_watch_restarts_total", {{"resource", "verticalpodautoscalers"}, {"reason", "dropped"}}) == 1);
  // Resumed from the last resourceVersion, not by listing again.
  CHECK(h.counter("avw_kube_relists_total", {{"resource", "verticalpodautoscalers"}, {"reason", "expired"}}) == 0);
}

TEST_CASE("API errors back off, then the source recovers and converges", "[kube][errors]") {
  FakeApiServer api;
  const int status = GENERATE(401, 403, 500);
  CAPTURE(status);
  api.fail_next(status, 6);
  SourceHarness h(avw::test::config_for(api), avw::test::fast_options());

  REQUIRE(h.wait_for_snapshot(converged_on_fixtures));
  std::uint64_t errors = 0;
  for (const char* r :
       {"verticalpodautoscalers", "airflowtasks", "limitranges", "verticalpodautoscalercheckpoints", "namespaces"}) {
    errors += h.counter("avw_kube_api_errors_total", {{"resource", r}, {"code", std::to_string(status)}});
  }
  CHECK(errors == 6);

  // The same during a watch: errors on resume, then recovery.
  REQUIRE(h.wait_until([&] { return api.open_watches() == kWatches; }));
  api.fail_next(status, 4);
  api.drop_watches();
  api.upsert("verticalpodautoscalers", avw::test::make_vpa("airflow", "etl-daily-load", "etl-daily-load", "321m", "1Gi"));
  CHECK(h.wait_for_snapshot([](const Snapshot& s) { return base_cpu_target(s, kpo_pod_labels()) == "321m"; }));
}

TEST_CASE("a rotated token is read again from the token file", "[kube][auth]") {
  FakeApiServer api;
  avw::test::ScratchDir dir;
  auto config = avw::test::config_for(api);
  config.token.clear();
  config.token_file = dir.write("token", api.token() + "\n").string();
  SourceHarness h(config, avw::test::fast_options());
  REQUIRE(h.wait_for_snapshot(converged_on_fixtures));
  REQUIRE(h.wait_until([&] { return api.open_watches() == kWatches; }));

  api.set_token("rotated-token");
  dir.write("token", "rotated-token\n");
  api.drop_watches();
  api.upsert("verticalpodautoscalers", avw::test::make_vpa("airflow", "etl-daily-load", "etl-daily-load", "555m", "1Gi"));
  CHECK(h.wait_for_snapshot([](const Snapshot& s) { return base_cpu_target(s, kpo_pod_labels()) == "555m"; }));
}

TEST_CASE("while the API server is down the last snapshot is kept", "[kube][errors]") {
  FakeApiServer api;
  SourceHarness h(avw::test::config_for(api), avw::test::fast_options());
  REQUIRE(h.wait_for_snapshot(converged_on_fixtures));
  const auto before = h.snapshot();

  api.pause();
  const auto network_errors = [&] {
    return h.counter("avw_kube_api_errors_total", {{"resource", "verticalpodautoscalers"}, {"code", "network"}});
  };
  REQUIRE(h.wait_until([&] { return network_errors() >= 3; }));
  CHECK(h.snapshot() == before);
  CHECK(h.source().synced());

  // Back again: the watch resumes (or relists) and new changes arrive.
  api.upsert("verticalpodautoscalers", avw::test::make_vpa("airflow", "etl-daily-load", "etl-daily-load", "999m", "1Gi"));
  api.resume();
  CHECK(h.wait_for_snapshot([](const Snapshot& s) { return base_cpu_target(s, kpo_pod_labels()) == "999m"; }));
}

TEST_CASE("a missing CRD counts as empty and is picked up once installed", "[kube][list]") {
  FakeApiServer api;
  api.set_missing("airflowtasks", true);
  api.set_missing("verticalpodautoscalercheckpoints", true);
  SourceHarness h(avw::test::config_for(api), avw::test::fast_options());

  REQUIRE(h.wait_until([&] { return h.source().synced(); }));
  auto s = h.snapshot();
  REQUIRE(s);
  CHECK(s->vpa_count() == 3);
  CHECK(s->target_count() == 0);
  CHECK(s->checkpoint_count() == 0);
  CHECK(vpa_name_for(*s, kpo_pod_labels()).empty());

  api.set_missing("airflowtasks", false);
  api.set_missing("verticalpodautoscalercheckpoints", false);
  CHECK(h.wait_for_snapshot(converged_on_fixtures));
}

TEST_CASE("VPAs targeting other kinds get their selector from /scale", "[kube][scale]") {
  FakeApiServer api;
  api.set_scale("apps/v1", "deployments", "airflow", "web", "app=web");
  api.upsert("verticalpodautoscalers",
             avw::test::make_vpa_for("airflow", "web", "apps/v1", "Deployment", "web", "200m", "128Mi"));
  api.upsert("verticalpodautoscalers",
             avw::test::make_vpa_for("airflow", "widget", "example.com/v1", "Widget", "w1", "200m", "128Mi"));
  api.set_scale("example.com/v1", "widgets", "airflow", "w1", "widget=w1");
  SourceHarness h(avw::test::config_for(api), avw::test::fast_options());

  CHECK(h.wait_for_snapshot([](const Snapshot& s) {
    return vpa_name_for(s, {{"app", "web"}}) == "web" && vpa_name_for(s, {{"widget", "w1"}}) == "widget";
  }));
  CHECK(api.requests("/apis/apps/v1/namespaces/airflow/deployments/web/scale") == 1);
  CHECK(api.requests("/apis/example.com/v1/namespaces/airflow/widgets/w1/scale") == 1);

  // A VPA added later is looked up at once, not at the next refresh.
  api.set_scale("apps/v1", "statefulsets", "airflow", "db", "app=db");
  api.upsert("verticalpodautoscalers",
             avw::test::make_vpa_for("airflow", "db", "apps/v1", "StatefulSet", "db", "200m", "128Mi"));
  CHECK(h.wait_for_snapshot([](const Snapshot& s) { return vpa_name_for(s, {{"app", "db"}}) == "db"; }));
}

TEST_CASE("a source limited to namespaces reads only those", "[kube][list]") {
  FakeApiServer api;
  api.upsert("airflowtasks", avw::test::make_airflow_task("other", "t", "dag_id=d,task_id=t,kubernetes_pod_operator=True"));
  api.upsert("verticalpodautoscalers", avw::test::make_vpa("other", "t", "t", "10m", "10Mi"));
  auto options = avw::test::fast_options();
  options.namespaces = {"airflow"};
  SourceHarness h(avw::test::config_for(api), options);

  REQUIRE(h.wait_for_snapshot(converged_on_fixtures));
  CHECK(api.requests("/apis/autoscaling.k8s.io/v1/namespaces/airflow/verticalpodautoscalers?limit=") >= 1);
  CHECK(vpa_name_for(*h.snapshot(), task_labels("d", "t"), "other").empty());
}

TEST_CASE("namespaces are read cluster-wide for their gate annotations, even by a scoped source", "[kube][watch]") {
  FakeApiServer api;
  auto ns = [](std::string_view name, std::string_view min_history) {
    return R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")" + std::string(name) +
           R"(","annotations":{"airflow-vpa-webhook.io/min-history":")" + std::string(min_history) + R"("}}})";
  };
  api.upsert("namespaces", ns("airflow", "1h"));
  auto options = avw::test::fast_options();
  options.namespaces = {"airflow"};
  SourceHarness h(avw::test::config_for(api), options);
  auto min_history = [&h]() -> std::string {
    const auto* annotations = h.snapshot()->namespace_annotations("airflow");
    if (annotations == nullptr) return "unknown";
    return std::string(annotations->get("airflow-vpa-webhook.io/min-history").value_or("unset"));
  };

  REQUIRE(h.wait_for_snapshot(converged_on_fixtures));
  CHECK(min_history() == "1h");
  CHECK(api.requests("/api/v1/namespaces?limit=") >= 1);
  CHECK(api.requests("/api/v1/namespaces/airflow/namespaces") == 0);

  api.upsert("namespaces", ns("airflow", "0"));
  CHECK(h.wait_until([&] { return min_history() == "0"; }));
  REQUIRE(api.remove("namespaces", "", "airflow"));
  CHECK(h.wait_until([&] { return min_history() == "unknown"; }));
}

TEST_CASE("stop ends every operation of the source", "[kube]") {
  FakeApiServer api;
  SourceHarness h(avw::test::config_for(api), avw::test::fast_options());
  REQUIRE(h.wait_for_snapshot(converged_on_fixtures));
  REQUIRE(h.wait_until([&] { return api.open_watches() == kWatches; }));
  const int publishes = h.publishes();
  // shutdown() joins the control thread, whose run() returns only when no operation is left:
  // a watch, timer or rebuild that stop() missed would hang here (and fail the CTest timeout).
  h.shutdown();
  CHECK(h.publishes() == publishes);
  CHECK(h.source().synced());
}

TEST_CASE("a periodic resync lists every resource again", "[kube][list]") {
  FakeApiServer api;
  auto options = avw::test::fast_options();
  options.resync = 1s;
  SourceHarness h(avw::test::config_for(api), options);
  REQUIRE(h.wait_for_snapshot(converged_on_fixtures));
  REQUIRE(h.wait_until([&] { return api.open_watches() == kWatches; }));

  // A change no open watch is told about shows up through the resync alone.
  api.upsert_silently("verticalpodautoscalers", avw::test::make_vpa("airflow", "etl-daily-load", "etl-daily-load", "42m", "1Gi"));
  CHECK(h.wait_for_snapshot([](const Snapshot& s) { return base_cpu_target(s, kpo_pod_labels()) == "42m"; }));
  CHECK(h.counter("avw_kube_relists_total", {{"resource", "verticalpodautoscalers"}, {"reason", "resync"}}) >= 1);
}
