// File: store_objects.hpp
//
// Objects for the store's tests: targets, VPAs and pods' labels built in a line, and the
// comparisons the tests share (tests/unit/core/store/*_test.cpp).
#pragma once

#include <catch2/catch.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "avw/core/object_list.hpp"
#include "avw/core/objects.hpp"
#include "avw/core/quantity.hpp"
#include "avw/core/selector.hpp"
#include "avw/core/store.hpp"
#include "support/fixtures.hpp"

namespace avw::test::store {

using core::Checkpoint;
using core::DecodedObjects;
using core::LabelSet;
using core::LimitRange;
using core::Requirement;
using core::ScaleTarget;
using core::Selector;
using core::Snapshot;
using core::StoreOptions;
using core::TargetView;
using core::UpdateMode;
using core::Vpa;
using core::VpaView;
using test::read_fixture;

inline constexpr const char* kTaskApiVersion = "airflow-vpa-webhook.io/v1alpha1";

inline Selector sel(std::string_view text) {
  std::string error;
  auto parsed = Selector::parse(text, &error);
  INFO("selector: " << text << "  error: " << error);
  REQUIRE(parsed);
  return *parsed;
}

inline ScaleTarget task(std::string_view namespace_, std::string_view name, Selector selector,
                        std::string_view api_version = kTaskApiVersion, std::string_view kind = "AirflowTask") {
  ScaleTarget t;
  t.meta.namespace_ = namespace_;
  t.meta.name = name;
  t.api_version = api_version;
  t.kind = kind;
  t.selector = std::move(selector);
  return t;
}

inline ScaleTarget task(std::string_view namespace_, std::string_view name, std::string_view selector) {
  return task(namespace_, name, sel(selector));
}

inline Vpa vpa(std::string_view namespace_, std::string_view name, std::string_view target,
               std::string_view created = "2026-11-23T17:00:00Z", UpdateMode mode = UpdateMode::Off,
               std::string_view api_version = kTaskApiVersion, std::string_view kind = "AirflowTask") {
  Vpa v;
  v.meta.namespace_ = namespace_;
  v.meta.name = name;
  v.meta.created = core::parse_rfc3339(created).value_or(core::ObjectMeta::kUnknownCreated);
  v.target_ref = {std::string(api_version), std::string(kind), std::string(target)};
  v.update_mode = mode;
  return v;
}

/// A VPA and its AirflowTask, both named `name`.
inline void add_task_vpa(DecodedObjects& objects, std::string_view namespace_, std::string_view name,
                         std::string_view selector, std::string_view created = "2026-11-23T17:00:00Z",
                         UpdateMode mode = UpdateMode::Off) {
  objects.targets.push_back(task(namespace_, name, selector));
  objects.vpas.push_back(vpa(namespace_, name, name, created, mode));
}

inline void append(DecodedObjects& into, DecodedObjects from) {
  INFO("decode errors: " << from.errors.size());
  REQUIRE(from.errors.empty());
  for (auto& v : from.vpas) into.vpas.push_back(std::move(v));
  for (auto& t : from.targets) into.targets.push_back(std::move(t));
  for (auto& l : from.limit_ranges) into.limit_ranges.push_back(std::move(l));
  for (auto& c : from.checkpoints) into.checkpoints.push_back(std::move(c));
}

inline std::string name_of(VpaView v) { return v == nullptr ? "<none>" : std::string(v->name()); }

inline core::Quantity q(std::string_view text) {
  auto parsed = core::Quantity::parse(text);
  INFO("quantity: " << text);
  REQUIRE(parsed);
  return *parsed;
}

/// Equal values in the same format: what packing must give back.
inline bool same_values(const core::ResourceValues& a, const core::ResourceValues& b) {
  for (std::size_t r = 0; r < 2; ++r) {
    if (a.values[r].has_value() != b.values[r].has_value()) return false;
    if (a.values[r] && (*a.values[r] != *b.values[r] || a.values[r]->format() != b.values[r]->format())) return false;
  }
  return true;
}

/// Labels of admission/kpo-pod.json.
inline const LabelSet kKpoPod{{"airflow_kpo_in_cluster", "True"}, {"airflow_version", "2.10.3"},
                              {"dag_id", "etl_daily"},           {"kubernetes_pod_operator", "True"},
                              {"run_id", "scheduled__2026-11-20T0000000000-8f3a1b2c4"},
                              {"task_id", "load"},               {"try_number", "1"}};
/// Labels of admission/executor-pod.json.
inline const LabelSet kExecutorPod{{"airflow-worker", "12"},
                                   {"airflow_version", "2.10.3"},
                                   {"dag_id", "etl_daily"},
                                   {"kubernetes_executor", "True"},
                                   {"run_id", "manual__2026-11-21T1012000000-77aa"},
                                   {"task_id", "load"},
                                   {"try_number", "2"}};

}  // namespace avw::test::store
