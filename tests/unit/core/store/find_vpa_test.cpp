// File: find_vpa_test.cpp
//
// Which VPA governs a pod: the index, the fallback scan, age, namespaces, update modes and
// targets (Snapshot::find_vpa, avw/core/store/snapshot.hpp).
#include "avw/core/store.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "store_objects.hpp"

using namespace avw::test::store;

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
  const TargetView target = governing->target();
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
    CHECK(snapshot->target_for_test("airflow", vpa("airflow", "v", "v").target_ref) != nullptr);
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
  CHECK((snapshot->target_for_test("airflow", vpa("airflow", "v", "etl-load").target_ref) != nullptr) == resolves);
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
