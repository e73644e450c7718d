// File: packing_test.cpp
//
// Packed records give back what was packed, exactly, and stay small; objects packed on their
// own build the same snapshot (avw/core/store/views.hpp, packed_object.hpp).
#include "avw/core/store.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "store_objects.hpp"

using namespace avw::test::store;

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
  const std::size_t per_task = snapshot->packed_bytes_for_test() / kTasks;
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
  CHECK(a->target()->selector() == b->target()->selector());
  const auto ca = from_packed->checkpoint("airflow", "etl-load", "base");
  const auto cb = from_decoded->checkpoint("airflow", "etl-load", "base");
  REQUIRE(ca);
  REQUIRE(cb);
  CHECK(ca->total_samples_count == cb->total_samples_count);
  CHECK(ca->first_sample_start == cb->first_sample_start);
  CHECK(ca->last_sample_start == cb->last_sample_start);
  CHECK(ca->has_memory_samples == cb->has_memory_samples);
}
