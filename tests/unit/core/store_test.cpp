#include "avw/core/store.hpp"
#include "avw/core/object_list.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "support/fixtures.hpp"

namespace {

using avw::core::Checkpoint;
using avw::core::DecodedObjects;
using avw::core::LabelSet;
using avw::core::LimitRange;
using avw::core::Requirement;
using avw::core::ScaleTarget;
using avw::core::Selector;
using avw::core::Snapshot;
using avw::core::StoreOptions;
using avw::core::UpdateMode;
using avw::core::Vpa;
using avw::core::VpaView;
using avw::core::TargetView;
using avw::test::read_fixture;

constexpr const char* kTaskApiVersion = "airflow-vpa-webhook.io/v1alpha1";

Selector sel(std::string_view text) {
  std::string error;
  auto parsed = Selector::parse(text, &error);
  INFO("selector: " << text << "  error: " << error);
  REQUIRE(parsed);
  return *parsed;
}

ScaleTarget task(std::string_view namespace_, std::string_view name, Selector selector,
                 std::string_view api_version = kTaskApiVersion,
                 std::string_view kind = "AirflowTask") {
  ScaleTarget t;
  t.meta.namespace_ = namespace_;
  t.meta.name = name;
  t.api_version = api_version;
  t.kind = kind;
  t.selector = std::move(selector);
  return t;
}

ScaleTarget task(std::string_view namespace_, std::string_view name, std::string_view selector) {
  return task(namespace_, name, sel(selector));
}

Vpa vpa(std::string_view namespace_, std::string_view name, std::string_view target,
        std::string_view created = "2026-11-23T17:00:00Z", UpdateMode mode = UpdateMode::Off,
        std::string_view api_version = kTaskApiVersion, std::string_view kind = "AirflowTask") {
  Vpa v;
  v.meta.namespace_ = namespace_;
  v.meta.name = name;
  v.meta.created = avw::core::parse_rfc3339(created).value_or(avw::core::ObjectMeta::kUnknownCreated);
  v.target_ref = {std::string(api_version), std::string(kind), std::string(target)};
  v.update_mode = mode;
  return v;
}

// A VPA and its AirflowTask, both named `name`.
void add_task_vpa(DecodedObjects& objects, std::string_view namespace_, std::string_view name,
                  std::string_view selector, std::string_view created = "2026-11-23T17:00:00Z",
                  UpdateMode mode = UpdateMode::Off) {
  objects.targets.push_back(task(namespace_, name, selector));
  objects.vpas.push_back(vpa(namespace_, name, name, created, mode));
}

void append(DecodedObjects& into, DecodedObjects from) {
  INFO("decode errors: " << from.errors.size());
  REQUIRE(from.errors.empty());
  for (auto& v : from.vpas) into.vpas.push_back(std::move(v));
  for (auto& t : from.targets) into.targets.push_back(std::move(t));
  for (auto& l : from.limit_ranges) into.limit_ranges.push_back(std::move(l));
  for (auto& c : from.checkpoints) into.checkpoints.push_back(std::move(c));
}

std::string name_of(VpaView v) { return v == nullptr ? "<none>" : std::string(v->name()); }

// Labels of admission/kpo-pod.json and admission/executor-pod.json.
const LabelSet kKpoPod{{"airflow_kpo_in_cluster", "True"}, {"airflow_version", "2.10.3"},
                       {"dag_id", "etl_daily"},           {"kubernetes_pod_operator", "True"},
                       {"run_id", "scheduled__2026-11-20T0000000000-8f3a1b2c4"},
                       {"task_id", "load"},               {"try_number", "1"}};
const LabelSet kExecutorPod{{"airflow-worker", "12"},
                            {"airflow_version", "2.10.3"},
                            {"dag_id", "etl_daily"},
                            {"kubernetes_executor", "True"},
                            {"run_id", "manual__2026-11-21T1012000000-77aa"},
                            {"task_id", "load"},
                            {"try_number", "2"}};

}  // namespace

TEST_CASE("the captured VPAs and AirflowTasks govern the kpo pod", "[store]") {
  DecodedObjects objects;
  append(objects, avw::core::decode_objects(read_fixture("api/list-vpas-page1.json")));
  append(objects, avw::core::decode_objects(read_fixture("api/list-vpas-page2.json")));
  append(objects, avw::core::decode_objects(read_fixture("api/list-airflowtasks.json")));
  append(objects, avw::core::decode_objects(read_fixture("api/list-limitranges.json")));
  auto snapshot = Snapshot::build(std::move(objects), StoreOptions{});

  CHECK(snapshot->vpa_count() == 3);
  CHECK(snapshot->target_count() == 3);
  CHECK(snapshot->limit_range_count() == 1);
  CHECK(snapshot->checkpoint_count() == 0);
  CHECK_FALSE(snapshot->has_checkpoints());

  const VpaView governing = snapshot->find_vpa("airflow", kKpoPod);
  REQUIRE(governing != nullptr);
  CHECK(governing->name() == "etl-daily-load");
  CHECK(governing->namespace_() == "airflow");
  REQUIRE(governing->recommendation_for("base"));
  const TargetView target = snapshot->target_of(governing);
  REQUIRE(target != nullptr);
  CHECK(target->name() == "etl-daily-load");
  CHECK(target->kind() == "AirflowTask");
  CHECK(target->group() == "airflow-vpa-webhook.io");

  // The executor's pod of the same task is a different task: these VPAs do not govern it.
  CHECK(snapshot->find_vpa("airflow", kExecutorPod) == nullptr);
  CHECK(snapshot->find_vpa("default", kKpoPod) == nullptr);

  REQUIRE(snapshot->limit_ranges("airflow").size() == 1);
  CHECK(snapshot->limit_ranges("airflow")[0]->meta.name == "airflow-container-limits");
  CHECK(snapshot->limit_ranges("default").empty());
}

TEST_CASE("executor, operator and other pods of one task have their own VPAs", "[store]") {
  DecodedObjects objects;
  add_task_vpa(objects, "airflow", "etl-load-kpo", "dag_id=etl,task_id=load,kubernetes_pod_operator=True");
  add_task_vpa(objects, "airflow", "etl-load-exec", "dag_id=etl,task_id=load,kubernetes_executor=True");
  add_task_vpa(objects, "airflow", "etl-load-pod",
               "dag_id=etl,task_id=load,!kubernetes_pod_operator,!kubernetes_executor");
  auto snapshot = Snapshot::build(std::move(objects), StoreOptions{});

  const LabelSet kpo{{"dag_id", "etl"}, {"task_id", "load"}, {"kubernetes_pod_operator", "True"}, {"try_number", "3"}};
  const LabelSet executor{{"task_id", "load"}, {"kubernetes_executor", "True"}, {"dag_id", "etl"}};
  const LabelSet other{{"dag_id", "etl"}, {"task_id", "load"}, {"run_id", "r"}};
  const LabelSet both{{"dag_id", "etl"}, {"task_id", "load"}, {"kubernetes_executor", "True"},
                      {"kubernetes_pod_operator", "True"}};
  const LabelSet other_task{{"dag_id", "etl"}, {"task_id", "extract"}, {"kubernetes_pod_operator", "True"}};
  CHECK(name_of(snapshot->find_vpa("airflow", kpo)) == "etl-load-kpo");
  CHECK(name_of(snapshot->find_vpa("airflow", executor)) == "etl-load-exec");
  CHECK(name_of(snapshot->find_vpa("airflow", other)) == "etl-load-pod");
  // Both launcher labels: the operator and executor selectors both match; the oldest wins
  // (equal timestamps: by name).
  CHECK(name_of(snapshot->find_vpa("airflow", both)) == "etl-load-exec");
  CHECK(snapshot->find_vpa("airflow", other_task) == nullptr);
  CHECK(snapshot->find_vpa("airflow", LabelSet{}) == nullptr);
}

TEST_CASE("the oldest matching VPA wins, then the first name", "[store]") {
  const std::string selector = "dag_id=etl,task_id=load";
  auto reversed = GENERATE(false, true);
  std::vector<std::pair<std::string, std::string>> vpas = {
      {"newer", "2026-11-23T18:00:00Z"},
      {"b-old", "2026-11-23T17:00:00Z"},
      {"a-old", "2026-11-23T17:00:00+00:00"},
      {"undated", "not a time"},
      {"c-old", "2026-11-23T19:00:00+02:00"},  // 17:00Z as well
  };
  if (reversed) std::reverse(vpas.begin(), vpas.end());
  DecodedObjects objects;
  for (const auto& [name, created] : vpas) add_task_vpa(objects, "airflow", name, selector, created);
  auto snapshot = Snapshot::build(std::move(objects), StoreOptions{});
  const LabelSet pod{{"dag_id", "etl"}, {"task_id", "load"}};
  CHECK(name_of(snapshot->find_vpa("airflow", pod)) == "a-old");
}

TEST_CASE("an undated VPA still governs when it is the only match", "[store]") {
  DecodedObjects objects;
  add_task_vpa(objects, "airflow", "undated", "dag_id=etl,task_id=load", "");
  auto snapshot = Snapshot::build(std::move(objects), StoreOptions{});
  CHECK(name_of(snapshot->find_vpa("airflow", LabelSet{{"dag_id", "etl"}, {"task_id", "load"}})) == "undated");
}

TEST_CASE("indexed and fallback selectors compete on age", "[store]") {
  auto [indexed_created, fallback_created, winner] = GENERATE(table<std::string, std::string, std::string>({
      {"2026-11-23T17:00:00Z", "2026-11-23T18:00:00Z", "indexed"},
      {"2026-11-23T18:00:00Z", "2026-11-23T17:00:00Z", "fallback"},
      {"2026-11-23T17:00:00Z", "2026-11-23T17:00:00Z", "fallback"},  // same age: by name
  }));
  DecodedObjects objects;
  add_task_vpa(objects, "airflow", "indexed", "dag_id=etl,task_id=load", indexed_created);
  add_task_vpa(objects, "airflow", "fallback", "dag_id in (etl,other),task_id=load", fallback_created);
  auto snapshot = Snapshot::build(std::move(objects), StoreOptions{});
  CHECK(name_of(snapshot->find_vpa("airflow", LabelSet{{"dag_id", "etl"}, {"task_id", "load"}})) == winner);
  // Only the fallback selector matches dag_id=other.
  CHECK(name_of(snapshot->find_vpa("airflow", LabelSet{{"dag_id", "other"}, {"task_id", "load"}})) ==
        "fallback");
}

TEST_CASE("selectors the index cannot key are found by scanning the namespace", "[store]") {
  DecodedObjects objects;
  add_task_vpa(objects, "airflow", "set", "dag_id in (a,b),task_id=load");
  add_task_vpa(objects, "airflow", "dag-only", "dag_id=c", "2026-11-23T17:00:01Z");
  add_task_vpa(objects, "airflow", "not-c", "dag_id=d,task_id!=load", "2026-11-23T17:00:02Z");
  objects.targets.push_back(task("airflow", "web", sel(""), "apps/v1", "Deployment"));
  objects.targets.back().selector = [] {
    std::string error;
    auto s = Selector::from_structured({{"app", "web"}}, {{"tier", "In", {"front"}}}, &error);
    INFO(error);
    REQUIRE(s);
    return *s;
  }();
  objects.vpas.push_back(vpa("airflow", "web", "web", "2026-11-23T17:00:03Z", UpdateMode::Initial,
                             "apps/v1", "Deployment"));
  auto snapshot = Snapshot::build(std::move(objects), StoreOptions{});

  auto [labels, expected] = GENERATE(table<std::vector<std::pair<std::string, std::string>>, std::string>({
      {{{"dag_id", "a"}, {"task_id", "load"}}, "set"},
      {{{"dag_id", "b"}, {"task_id", "load"}, {"x", "y"}}, "set"},
      {{{"dag_id", "c"}, {"task_id", "load"}}, "dag-only"},
      {{{"dag_id", "c"}}, "dag-only"},
      {{{"dag_id", "d"}, {"task_id", "other"}}, "not-c"},
      {{{"dag_id", "d"}}, "not-c"},
      {{{"dag_id", "d"}, {"task_id", "load"}}, "<none>"},
      {{{"dag_id", "e"}, {"task_id", "load"}}, "<none>"},
      {{{"app", "web"}, {"tier", "front"}}, "web"},
      {{{"app", "web"}, {"tier", "back"}}, "<none>"},
  }));
  LabelSet pod;
  for (const auto& [key, value] : labels) pod.set(key, value);
  CHECK(name_of(snapshot->find_vpa("airflow", pod)) == expected);
}

TEST_CASE("VPAs in another namespace never match", "[store]") {
  DecodedObjects objects;
  add_task_vpa(objects, "team-a", "indexed", "dag_id=etl,task_id=load");
  add_task_vpa(objects, "team-a", "fallback", "dag_id in (etl,x)", "2026-11-23T18:00:00Z");
  // A target of the same name in the pod's namespace does not make the VPA resolve there.
  objects.targets.push_back(task("team-b", "indexed", "dag_id=etl,task_id=load"));
  auto snapshot = Snapshot::build(std::move(objects), StoreOptions{});
  const LabelSet pod{{"dag_id", "etl"}, {"task_id", "load"}};
  CHECK(name_of(snapshot->find_vpa("team-a", pod)) == "indexed");
  CHECK(name_of(snapshot->find_vpa("team-a", LabelSet{{"dag_id", "x"}})) == "fallback");
  CHECK(snapshot->find_vpa("team-b", LabelSet{{"dag_id", "x"}}) == nullptr);
  CHECK(snapshot->find_vpa("team-b", pod) == nullptr);
  CHECK(snapshot->find_vpa("", pod) == nullptr);
  CHECK(snapshot->find_vpa("team-", pod) == nullptr);
}

TEST_CASE("VPAs in an update mode that is not allowed are ignored", "[store]") {
  const std::string selector = "dag_id=etl,task_id=load";
  const LabelSet pod{{"dag_id", "etl"}, {"task_id", "load"}};

  SECTION("an older Auto VPA does not hide an allowed one") {
    DecodedObjects objects;
    add_task_vpa(objects, "airflow", "auto", selector, "2026-11-23T16:00:00Z", UpdateMode::Auto);
    add_task_vpa(objects, "airflow", "initial", selector, "2026-11-23T17:00:00Z", UpdateMode::Initial);
    auto snapshot = Snapshot::build(std::move(objects), StoreOptions{});
    CHECK(name_of(snapshot->find_vpa("airflow", pod)) == "initial");
  }
  SECTION("each disallowed mode governs nothing by default") {
    auto mode = GENERATE(UpdateMode::Auto, UpdateMode::Recreate, UpdateMode::InPlaceOrRecreate);
    DecodedObjects objects;
    add_task_vpa(objects, "airflow", "v", selector, "2026-11-23T16:00:00Z", mode);
    auto snapshot = Snapshot::build(std::move(objects), StoreOptions{});
    CHECK(snapshot->find_vpa("airflow", pod) == nullptr);
    // It is still in the snapshot, and its target still resolves.
    CHECK(snapshot->vpa_count() == 1);
    CHECK(snapshot->target_of("airflow", vpa("airflow", "v", "v").target_ref) != nullptr);
  }
  SECTION("the allowed set is an option") {
    DecodedObjects objects;
    add_task_vpa(objects, "airflow", "auto", selector, "2026-11-23T16:00:00Z", UpdateMode::Auto);
    add_task_vpa(objects, "airflow", "off", selector, "2026-11-23T17:00:00Z", UpdateMode::Off);
    StoreOptions options;
    options.allowed_update_modes = {UpdateMode::Auto};
    auto snapshot = Snapshot::build(std::move(objects), options);
    CHECK(name_of(snapshot->find_vpa("airflow", pod)) == "auto");
  }
}

TEST_CASE("a VPA whose target is missing or does not match its reference governs nothing", "[store]") {
  const LabelSet pod{{"dag_id", "etl"}, {"task_id", "load"}};
  auto [target_api_version, target_kind, target_name, resolves] =
      GENERATE(table<std::string, std::string, std::string, bool>({
          {kTaskApiVersion, "AirflowTask", "etl-load", true},
          // the version does not matter, only the group
          {"airflow-vpa-webhook.io/v1", "AirflowTask", "etl-load", true},
          {"other.io/v1alpha1", "AirflowTask", "etl-load", false},
          {"v1", "AirflowTask", "etl-load", false},
          {kTaskApiVersion, "OtherTask", "etl-load", false},
          {kTaskApiVersion, "AirflowTask", "etl-load-2", false},
      }));
  DecodedObjects objects;
  objects.targets.push_back(task("airflow", target_name, sel("dag_id=etl,task_id=load"),
                                 target_api_version, target_kind));
  objects.vpas.push_back(vpa("airflow", "v", "etl-load"));
  auto snapshot = Snapshot::build(std::move(objects), StoreOptions{});
  CHECK(snapshot->target_count() == 1);
  const VpaView found = snapshot->find_vpa("airflow", pod);
  CHECK((found != nullptr) == resolves);
  CHECK((snapshot->target_of("airflow", vpa("airflow", "v", "etl-load").target_ref) != nullptr) == resolves);
}

TEST_CASE("a target whose selector is empty or matches nothing governs no pod", "[store]") {
  auto selector = GENERATE(Selector{}, Selector::nothing());
  DecodedObjects objects;
  objects.targets.push_back(task("airflow", "t", selector));
  objects.vpas.push_back(vpa("airflow", "t", "t"));
  auto snapshot = Snapshot::build(std::move(objects), StoreOptions{});
  CHECK(snapshot->find_vpa("airflow", LabelSet{{"dag_id", "etl"}, {"task_id", "load"}}) == nullptr);
  CHECK(snapshot->find_vpa("airflow", LabelSet{}) == nullptr);
}

TEST_CASE("objects with the same namespace and name: the last one wins", "[store]") {
  DecodedObjects objects;
  objects.targets.push_back(task("airflow", "t1", "dag_id=etl,task_id=old"));
  objects.targets.push_back(task("airflow", "t2", "dag_id=etl,task_id=load"));
  objects.targets.push_back(task("airflow", "t1", "dag_id=etl,task_id=new"));
  objects.vpas.push_back(vpa("airflow", "v", "t2"));
  objects.vpas.push_back(vpa("airflow", "w", "t2", "2026-11-23T18:00:00Z"));
  objects.vpas.push_back(vpa("airflow", "v", "t1"));
  auto snapshot = Snapshot::build(std::move(objects), StoreOptions{});
  CHECK(snapshot->vpa_count() == 2);
  CHECK(snapshot->target_count() == 2);
  CHECK(name_of(snapshot->find_vpa("airflow", LabelSet{{"dag_id", "etl"}, {"task_id", "new"}})) == "v");
  CHECK(snapshot->find_vpa("airflow", LabelSet{{"dag_id", "etl"}, {"task_id", "old"}}) == nullptr);
  // `v` no longer targets t2, so the younger `w` governs its pods.
  CHECK(name_of(snapshot->find_vpa("airflow", LabelSet{{"dag_id", "etl"}, {"task_id", "load"}})) == "w");
}

TEST_CASE("checkpoints are found by namespace, VPA and container", "[store]") {
  DecodedObjects objects = avw::core::decode_objects(read_fixture("recommender/checkpoints-nopods.json"));
  REQUIRE(objects.errors.empty());
  auto snapshot = Snapshot::build(std::move(objects), StoreOptions{});
  CHECK(snapshot->has_checkpoints());
  CHECK(snapshot->checkpoint_count() == 2);

  const auto kpo = snapshot->checkpoint("airflow", "etl-load", "base");
  REQUIRE(kpo);
  CHECK(kpo->total_samples_count == 35);
  const auto executor = snapshot->checkpoint("airflow", "etl-load-executor", "base");
  REQUIRE(executor);
  CHECK(executor->total_samples_count == 7);

  CHECK_FALSE(snapshot->checkpoint("airflow", "etl-load", "airflow-xcom-sidecar"));
  CHECK_FALSE(snapshot->checkpoint("default", "etl-load", "base"));
  CHECK_FALSE(snapshot->checkpoint("airflow", "etl-load-base", ""));
  CHECK_FALSE(snapshot->checkpoint("airflow", "etl", "load-base"));
}

TEST_CASE("a snapshot without checkpoint objects says so", "[store]") {
  DecodedObjects objects;
  add_task_vpa(objects, "airflow", "v", "dag_id=etl,task_id=load");
  auto snapshot = Snapshot::build(std::move(objects), StoreOptions{});
  CHECK_FALSE(snapshot->has_checkpoints());
  CHECK_FALSE(snapshot->checkpoint("airflow", "v", "base"));
}

TEST_CASE("the empty snapshot holds nothing", "[store]") {
  auto snapshot = Snapshot::empty();
  CHECK(snapshot->vpa_count() == 0);
  CHECK(snapshot->target_count() == 0);
  CHECK(snapshot->limit_range_count() == 0);
  CHECK(snapshot->checkpoint_count() == 0);
  CHECK_FALSE(snapshot->has_checkpoints());
  CHECK(snapshot->find_vpa("airflow", kKpoPod) == nullptr);
  CHECK(snapshot->limit_ranges("airflow").empty());
  CHECK_FALSE(snapshot->checkpoint("airflow", "v", "base"));
  CHECK(snapshot->target_of("airflow", vpa("airflow", "v", "v").target_ref) == nullptr);
}

TEST_CASE("limit ranges are grouped by namespace in input order", "[store]") {
  DecodedObjects objects;
  for (const char* name : {"b", "a", "c"}) {
    LimitRange range;
    range.meta.namespace_ = std::string(name) == "c" ? "other" : "airflow";
    range.meta.name = name;
    objects.limit_ranges.push_back(range);
  }
  auto snapshot = Snapshot::build(std::move(objects), StoreOptions{});
  const auto& airflow = snapshot->limit_ranges("airflow");
  REQUIRE(airflow.size() == 2);
  CHECK(airflow[0]->meta.name == "b");
  CHECK(airflow[1]->meta.name == "a");
  CHECK(snapshot->limit_ranges("other").size() == 1);
  CHECK(&snapshot->limit_ranges("none") == &snapshot->limit_ranges("missing"));
}

TEST_CASE("label values longer than the lookup buffer are still looked up", "[store]") {
  // Valid label values have at most 63 characters, but neither the pod's labels nor a
  // selector built in code are bound by that.
  const std::string dag(700, 'd');
  const std::string task_id(300, 't');
  const std::string namespace_(300, 'n');
  DecodedObjects objects;
  objects.targets.push_back(task(namespace_, "t",
                                 Selector({Requirement{"dag_id", Requirement::Operator::Equals, {dag}},
                                           Requirement{"task_id", Requirement::Operator::Equals, {task_id}}})));
  objects.vpas.push_back(vpa(namespace_, "v", "t"));
  auto snapshot = Snapshot::build(std::move(objects), StoreOptions{});
  CHECK(name_of(snapshot->find_vpa(namespace_, LabelSet{{"dag_id", dag}, {"task_id", task_id}})) == "v");
  CHECK(snapshot->find_vpa(namespace_, LabelSet{{"dag_id", dag}, {"task_id", "t"}}) == nullptr);
  CHECK(snapshot->find_vpa("airflow", LabelSet{{"dag_id", dag}, {"task_id", task_id}}) == nullptr);
}

TEST_CASE("the index label keys are options", "[store]") {
  DecodedObjects objects;
  add_task_vpa(objects, "batch", "job", "app=report,step=render");
  StoreOptions options;
  options.index_key_a = "app";
  options.index_key_b = "step";
  auto snapshot = Snapshot::build(std::move(objects), options);
  CHECK(name_of(snapshot->find_vpa("batch", LabelSet{{"step", "render"}, {"app", "report"}})) == "job");
  CHECK(snapshot->find_vpa("batch", LabelSet{{"step", "render"}, {"app", "other"}}) == nullptr);
}

TEST_CASE("a snapshot of 100k VPAs builds and answers", "[store][scale]") {
  constexpr int kTasks = 100'000;
  DecodedObjects objects;
  objects.targets.reserve(kTasks + 1);
  objects.vpas.reserve(kTasks + 1);
  for (int i = 0; i < kTasks; ++i) {
    const std::string n = std::to_string(i);
    const std::string name = "dag-" + n + "-task";
    objects.targets.push_back(task("airflow", name,
                                   Selector({Requirement{"dag_id", Requirement::Operator::Equals, {"dag_" + n}},
                                             Requirement{"kubernetes_pod_operator", Requirement::Operator::Equals, {"True"}},
                                             Requirement{"task_id", Requirement::Operator::Equals, {"task"}}})));
    objects.vpas.push_back(vpa("airflow", name, name));
  }
  // One selector the index cannot key, in the same namespace.
  add_task_vpa(objects, "airflow", "zz-fallback", "dag_id in (dag_7,dag_8),task_id=task", "2026-11-23T16:00:00Z");
  auto snapshot = Snapshot::build(std::move(objects), StoreOptions{});
  CHECK(snapshot->vpa_count() == kTasks + 1);
  CHECK(snapshot->target_count() == kTasks + 1);

  CHECK(name_of(snapshot->find_vpa("airflow", LabelSet{{"dag_id", "dag_99999"}, {"task_id", "task"},
                                                        {"kubernetes_pod_operator", "True"}})) ==
        "dag-99999-task");
  CHECK(name_of(snapshot->find_vpa("airflow", LabelSet{{"dag_id", "dag_0"}, {"task_id", "task"},
                                                        {"kubernetes_pod_operator", "True"}})) ==
        "dag-0-task");
  // The older fallback VPA wins over the indexed one for dag_7.
  CHECK(name_of(snapshot->find_vpa("airflow", LabelSet{{"dag_id", "dag_7"}, {"task_id", "task"},
                                                        {"kubernetes_pod_operator", "True"}})) ==
        "zz-fallback");
  CHECK(snapshot->find_vpa("airflow", LabelSet{{"dag_id", "dag_5"}, {"task_id", "task"}}) == nullptr);
  CHECK(snapshot->find_vpa("airflow", LabelSet{{"dag_id", "dag_100000"}, {"task_id", "task"},
                                               {"kubernetes_pod_operator", "True"}}) == nullptr);
}

namespace {

avw::core::Quantity q(std::string_view text) {
  auto parsed = avw::core::Quantity::parse(text);
  INFO("quantity: " << text);
  REQUIRE(parsed);
  return *parsed;
}

bool same_values(const avw::core::ResourceValues& a, const avw::core::ResourceValues& b) {
  for (std::size_t r = 0; r < 2; ++r) {
    if (a.values[r].has_value() != b.values[r].has_value()) return false;
    if (a.values[r] && (*a.values[r] != *b.values[r] || a.values[r]->format() != b.values[r]->format())) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("a packed VPA gives back every value exactly, whatever its magnitude or format", "[store]") {
  using avw::core::ContainerPolicy;
  using avw::core::ContainerRecommendation;
  using avw::core::Resource;
  const std::string text = GENERATE("0", "1n", "-1n", "250m", "511m", "671629701", "262144k", "1.5Gi", "32Gi", "1e3",
                                    "123456789012345678901234567n", "-98765432109876543210987654321",
                                    "170141183460469231731687303715n", "999999999999999999999999999999m");
  DecodedObjects objects;
  add_task_vpa(objects, "airflow", "v", "dag_id=etl,task_id=load");
  ContainerRecommendation rec;
  rec.container_name = "a-container-name-longer-than-sso";
  rec.target[Resource::Cpu] = q(text);
  rec.target[Resource::Memory] = q("1Gi");
  rec.lower_bound[Resource::Memory] = q(text);
  rec.upper_bound[Resource::Cpu] = q("2");
  rec.uncapped_target[Resource::Cpu] = q(text);
  rec.uncapped_target[Resource::Memory] = q(text);
  ContainerRecommendation sidecar;
  sidecar.container_name = "sidecar";
  sidecar.target[Resource::Memory] = q(text);
  objects.vpas.back().recommendations = {rec, sidecar};
  ContainerPolicy wildcard;
  wildcard.container_name = "*";
  wildcard.max_allowed[Resource::Cpu] = q(text);
  wildcard.controlled_values = avw::core::ControlledValues::RequestsOnly;
  ContainerPolicy exact;
  exact.container_name = "sidecar";
  exact.mode = avw::core::ContainerScalingMode::Off;
  exact.controlled_resources = std::vector<Resource>{Resource::Memory};
  exact.min_allowed[Resource::Memory] = q(text);
  ContainerPolicy none;
  none.container_name = "nothing-controlled";
  none.controlled_resources = std::vector<Resource>{};
  objects.vpas.back().container_policies = {wildcard, exact, none};
  const std::int64_t created = objects.vpas.back().meta.created;

  auto snapshot = Snapshot::build(std::move(objects), StoreOptions{});
  const VpaView v = snapshot->find_vpa("airflow", LabelSet{{"dag_id", "etl"}, {"task_id", "load"}});
  REQUIRE(v != nullptr);
  CHECK(v->created() == created);
  CHECK(v->update_mode() == UpdateMode::Off);
  CHECK(v->has_recommendations());

  const auto got = v->recommendation_for("a-container-name-longer-than-sso");
  REQUIRE(got);
  CHECK(same_values(got->target, rec.target));
  CHECK(same_values(got->lower_bound, rec.lower_bound));
  CHECK(same_values(got->upper_bound, rec.upper_bound));
  CHECK(same_values(got->uncapped_target, rec.uncapped_target));
  const auto got_sidecar = v->recommendation_for("sidecar");
  REQUIRE(got_sidecar);
  CHECK(same_values(got_sidecar->target, sidecar.target));
  CHECK(got_sidecar->lower_bound.empty());
  CHECK_FALSE(v->recommendation_for("base"));
  CHECK_FALSE(v->recommendation_for(""));

  const auto by_wildcard = v->policy_for("base");
  REQUIRE(by_wildcard);
  CHECK(by_wildcard->mode == avw::core::ContainerScalingMode::Auto);
  CHECK(by_wildcard->controls(Resource::Cpu));
  CHECK(by_wildcard->controls(Resource::Memory));
  CHECK(by_wildcard->controlled_values == avw::core::ControlledValues::RequestsOnly);
  CHECK(same_values(by_wildcard->max_allowed, wildcard.max_allowed));
  CHECK(by_wildcard->min_allowed.empty());
  const auto by_name = v->policy_for("sidecar");
  REQUIRE(by_name);
  CHECK(by_name->mode == avw::core::ContainerScalingMode::Off);
  CHECK_FALSE(by_name->controls(Resource::Cpu));
  CHECK(by_name->controls(Resource::Memory));
  CHECK(same_values(by_name->min_allowed, exact.min_allowed));
  const auto controls_nothing = v->policy_for("nothing-controlled");
  REQUIRE(controls_nothing);
  CHECK_FALSE(controls_nothing->controls(Resource::Cpu));
  CHECK_FALSE(controls_nothing->controls(Resource::Memory));
}

TEST_CASE("a VPA without policies or recommendations packs as such", "[store]") {
  DecodedObjects objects;
  add_task_vpa(objects, "airflow", "v", "dag_id=etl,task_id=load");
  auto snapshot = Snapshot::build(std::move(objects), StoreOptions{});
  const VpaView v = snapshot->find_vpa("airflow", LabelSet{{"dag_id", "etl"}, {"task_id", "load"}});
  REQUIRE(v != nullptr);
  CHECK_FALSE(v->has_recommendations());
  CHECK_FALSE(v->recommendation_for("base"));
  CHECK_FALSE(v->policy_for("base"));
}

TEST_CASE("objects added in batches build one snapshot, the last of a name winning across batches", "[store]") {
  avw::core::SnapshotBuilder builder(StoreOptions{});
  DecodedObjects first;
  first.vpas.push_back(vpa("airflow", "v", "t1", "2026-11-23T17:00:00Z"));
  first.targets.push_back(task("airflow", "t1", "dag_id=etl,task_id=old"));
  builder.add(first);
  CHECK(first.vpas.empty());
  CHECK(first.targets.empty());
  DecodedObjects second;
  second.targets.push_back(task("airflow", "t1", "dag_id=etl,task_id=new"));
  second.vpas.push_back(vpa("airflow", "w", "t1", "2026-11-23T18:00:00Z"));
  builder.add(second);
  builder.add(vpa("other", "v", "t1"));  // another namespace: another VPA
  builder.add(task("other", "t1", "dag_id=etl,task_id=new"));
  auto snapshot = builder.finish();
  CHECK(snapshot->vpa_count() == 3);
  CHECK(snapshot->target_count() == 2);
  CHECK(snapshot->find_vpa("airflow", LabelSet{{"dag_id", "etl"}, {"task_id", "old"}}) == nullptr);
  CHECK(name_of(snapshot->find_vpa("airflow", LabelSet{{"dag_id", "etl"}, {"task_id", "new"}})) == "v");
  const VpaView in_other = snapshot->find_vpa("other", LabelSet{{"dag_id", "etl"}, {"task_id", "new"}});
  REQUIRE(in_other != nullptr);
  CHECK(in_other->namespace_() == "other");
  CHECK(snapshot->target_of(in_other)->selector().to_string() == "dag_id=etl,task_id=new");
}

TEST_CASE("a task packs into a few hundred bytes", "[store][scale]") {
  // Shaped like the benchmark's tasks (tests/bench/synthetic_store.cpp): two containers with
  // recommendations, one wildcard policy, a three-label selector.
  using avw::core::Resource;
  constexpr int kTasks = 20'000;
  avw::core::SnapshotBuilder builder(StoreOptions{});
  for (int i = 0; i < kTasks; ++i) {
    const std::string n = std::to_string(i);
    const std::string name = "dag-" + n + "-task-" + n;
    const std::string ns = "team-" + std::to_string(i % 20);
    builder.add(task(ns, name, "dag_id=dag_" + n + ",task_id=task_" + n + ",kubernetes_pod_operator=True"));
    Vpa v = vpa(ns, name, name);
    avw::core::ContainerRecommendation base;
    base.container_name = "base";
    for (auto* values : {&base.target, &base.uncapped_target}) {
      (*values)[Resource::Cpu] = q("511m");
      (*values)[Resource::Memory] = q("671629701");
    }
    base.lower_bound[Resource::Cpu] = q("63m");
    base.lower_bound[Resource::Memory] = q("262144k");
    base.upper_bound[Resource::Cpu] = q("2");
    base.upper_bound[Resource::Memory] = q("4Gi");
    avw::core::ContainerRecommendation sidecar;
    sidecar.container_name = "airflow-xcom-sidecar";
    sidecar.target[Resource::Cpu] = q("25m");
    sidecar.target[Resource::Memory] = q("262144k");
    v.recommendations = {base, sidecar};
    avw::core::ContainerPolicy policy;
    policy.container_name = "*";
    policy.controlled_resources = std::vector<Resource>{Resource::Cpu, Resource::Memory};
    policy.max_allowed[Resource::Cpu] = q("8");
    policy.max_allowed[Resource::Memory] = q("32Gi");
    v.container_policies = {policy};
    builder.add(v);
  }
  auto snapshot = builder.finish();
  REQUIRE(snapshot->vpa_count() == kTasks);
  const std::size_t per_task = snapshot->packed_bytes() / kTasks;
  INFO("packed bytes per task: " << per_task);
  // Decoded, the same task took about 2,200 bytes in the snapshot.
  CHECK(per_task < 400);
  const VpaView v = snapshot->find_vpa("team-7", LabelSet{{"dag_id", "dag_7"}, {"task_id", "task_7"},
                                                          {"kubernetes_pod_operator", "True"}});
  REQUIRE(v != nullptr);
  CHECK(v->recommendation_for("base")->upper_bound[Resource::Memory]->to_string() == "4Gi");
}

TEST_CASE("objects packed on their own build the same snapshot as decoded ones", "[store]") {
  using avw::core::PackedObject;
  DecodedObjects objects = avw::core::decode_objects(read_fixture("recommender/checkpoints-nopods.json"));
  REQUIRE(objects.errors.empty());
  append(objects, avw::core::decode_objects(read_fixture("api/list-vpas-page1.json")));
  append(objects, avw::core::decode_objects(read_fixture("api/list-vpas-page2.json")));
  append(objects, avw::core::decode_objects(read_fixture("api/list-airflowtasks.json")));

  avw::core::SnapshotBuilder builder(StoreOptions{});
  for (const Vpa& v : objects.vpas) {
    const PackedObject packed = PackedObject::pack(v);
    CHECK(packed.kind() == PackedObject::Kind::Vpa);
    CHECK(packed.namespace_() == v.meta.namespace_);
    CHECK(packed.name() == v.meta.name);
    REQUIRE(packed.target_ref());
    CHECK(packed.target_ref()->api_version == v.target_ref.api_version);
    CHECK(packed.target_ref()->kind == v.target_ref.kind);
    CHECK(packed.target_ref()->name == v.target_ref.name);
    builder.add(packed);
  }
  for (const ScaleTarget& t : objects.targets) {
    const PackedObject packed = PackedObject::pack(t);
    CHECK(packed.kind() == PackedObject::Kind::Target);
    CHECK(packed.name() == t.meta.name);
    CHECK_FALSE(packed.target_ref());
    builder.add(packed);
  }
  for (const Checkpoint& c : objects.checkpoints) {
    const PackedObject packed = PackedObject::pack(c);
    CHECK(packed.kind() == PackedObject::Kind::Checkpoint);
    CHECK(packed.name() == c.meta.name);
    builder.add(packed);
  }
  auto from_packed = builder.finish();
  auto from_decoded = Snapshot::build(std::move(objects), StoreOptions{});

  CHECK(from_packed->vpa_count() == from_decoded->vpa_count());
  CHECK(from_packed->target_count() == from_decoded->target_count());
  CHECK(from_packed->checkpoint_count() == from_decoded->checkpoint_count());
  const VpaView a = from_packed->find_vpa("airflow", kKpoPod);
  const VpaView b = from_decoded->find_vpa("airflow", kKpoPod);
  REQUIRE(a != nullptr);
  REQUIRE(b != nullptr);
  CHECK(a->name() == b->name());
  CHECK(a->created() == b->created());
  const auto ra = a->recommendation_for("base");
  const auto rb = b->recommendation_for("base");
  REQUIRE(ra);
  REQUIRE(rb);
  CHECK(same_values(ra->target, rb->target));
  CHECK(same_values(ra->upper_bound, rb->upper_bound));
  CHECK(from_packed->target_of(a)->selector() == from_decoded->target_of(b)->selector());
  const auto ca = from_packed->checkpoint("airflow", "etl-load", "base");
  const auto cb = from_decoded->checkpoint("airflow", "etl-load", "base");
  REQUIRE(ca);
  REQUIRE(cb);
  CHECK(ca->total_samples_count == cb->total_samples_count);
  CHECK(ca->first_sample_start == cb->first_sample_start);
  CHECK(ca->last_sample_start == cb->last_sample_start);
  CHECK(ca->has_memory_samples == cb->has_memory_samples);
}
