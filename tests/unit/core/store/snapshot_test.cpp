// File: snapshot_test.cpp
//
// What a snapshot holds besides the index: checkpoints, LimitRanges, counts, and snapshots
// built in batches or at scale (avw/core/store/snapshot.hpp, snapshot_builder.hpp).
#include "avw/core/store.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "store_objects.hpp"

using namespace avw::test::store;

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
  CHECK(snapshot->target_for_test("airflow", vpa("airflow", "v", "v").target_ref) == nullptr);
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
  CHECK(in_other->target()->selector().to_string() == "dag_id=etl,task_id=new");
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
