#include "avw/core/task.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace {

using avw::core::LabelSet;
using avw::core::Launcher;
using avw::core::TaskKey;
using avw::core::TaskLabelKeys;

const TaskLabelKeys kKeys;

// Labels copied from tests/fixtures/admission/kpo-pod.json and executor-pod.json.
const LabelSet kKpoLabels{
    {"airflow_kpo_in_cluster", "True"},
    {"airflow_version", "2.10.3"},
    {"dag_id", "etl_daily"},
    {"kubernetes_pod_operator", "True"},
    {"run_id", "scheduled__2026-11-20T0000000000-8f3a1b2c4"},
    {"task_id", "load"},
    {"try_number", "1"},
};
const LabelSet kExecutorLabels{
    {"airflow-worker", "12"},
    {"airflow_version", "2.10.3"},
    {"dag_id", "etl_daily"},
    {"kubernetes_executor", "True"},
    {"run_id", "manual__2026-11-21T1012000000-77aa"},
    {"task_id", "load"},
    {"try_number", "2"},
};
// tests/fixtures/admission/long-names.json: both ids are 63 characters.
constexpr std::string_view kLongDag = "team-data-platform.nightly_etl.v2-customer_orders.aggregate-01x";
constexpr std::string_view kLongTask = "transform_orders.partition-by-region_and_day.compute-v3-stage9z";

// A DNS-1123 label: lowercase alphanumerics and '-', starting and ending alphanumeric, <= 63.
bool is_dns_label(std::string_view s) {
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (s.empty() || s.size() > 63 || !alnum(s.front()) || !alnum(s.back())) return false;
  for (const char c : s) {
    if (!alnum(c) && c != '-') return false;
  }
  return true;
}

}  // namespace

TEST_CASE("the captured operator and executor pods are tasks with different launchers", "[task]") {
  const auto kpo = avw::core::task_key_of(kKpoLabels, "airflow", kKeys);
  const auto exec = avw::core::task_key_of(kExecutorLabels, "airflow", kKeys);
  REQUIRE(kpo);
  REQUIRE(exec);
  CHECK(*kpo == TaskKey{"airflow", "etl_daily", "load", Launcher::PodOperator});
  CHECK(*exec == TaskKey{"airflow", "etl_daily", "load", Launcher::Executor});
  CHECK_FALSE(*kpo == *exec);
}

TEST_CASE("pods without a clean task identity are not task pods", "[task]") {
  auto labels = GENERATE(
      LabelSet{{"task_id", "load"}},
      LabelSet{{"dag_id", "etl"}},
      LabelSet{{"dag_id", ""}, {"task_id", "load"}},
      LabelSet{{"dag_id", "etl"}, {"task_id", ""}},
      LabelSet{{"dag_id", "etl,x"}, {"task_id", "load"}},  // would inject into the selector text
      LabelSet{{"dag_id", "etl"}, {"task_id", "load"}, {"kubernetes_pod_operator", "False"}},
      LabelSet{{"dag_id", "etl"}, {"task_id", "load"}, {"kubernetes_executor", "true"}},
      LabelSet{{"dag_id", "etl"}, {"task_id", "load"}, {"kubernetes_executor", ""}},
      LabelSet{{"dag_id", "etl"}, {"task_id", "load"}, {"kubernetes_pod_operator", "True"},
               {"kubernetes_executor", "True"}});
  CHECK_FALSE(avw::core::task_key_of(labels, "airflow", kKeys));
}

TEST_CASE("a pod with the ids and no launcher label is an Other task", "[task]") {
  const auto key = avw::core::task_key_of(LabelSet{{"dag_id", "etl"}, {"task_id", "load"}}, "ns", kKeys);
  REQUIRE(key);
  CHECK(*key == TaskKey{"ns", "etl", "load", Launcher::Other});
}

TEST_CASE("configured label keys replace the Airflow ones", "[task]") {
  TaskLabelKeys keys;
  keys.dag_id = "example.com/job";
  keys.task_id = "example.com/step";
  keys.pod_operator = "example.com/operator";
  const LabelSet labels{
      {"example.com/job", "nightly"}, {"example.com/step", "sum"}, {"example.com/operator", "True"}};
  const auto key = avw::core::task_key_of(labels, "batch", keys);
  REQUIRE(key);
  CHECK(*key == TaskKey{"batch", "nightly", "sum", Launcher::PodOperator});
  CHECK(avw::core::task_selector(*key, keys).to_string() ==
        "example.com/job=nightly,example.com/operator=True,example.com/step=sum");
  CHECK_FALSE(avw::core::task_key_of(kKpoLabels, "airflow", keys));
}

TEST_CASE("a task's selector spells out its key and selects only its own pods", "[task]") {
  const LabelSet other_labels{{"dag_id", "etl_daily"}, {"task_id", "load"}, {"run_id", "r1"}};
  const LabelSet other_task{
      {"dag_id", "etl_daily"}, {"task_id", "extract"}, {"kubernetes_pod_operator", "True"}};
  const auto selector_of = [](const LabelSet& labels) {
    return avw::core::task_selector(*avw::core::task_key_of(labels, "airflow", kKeys), kKeys);
  };
  const auto kpo = selector_of(kKpoLabels);
  const auto exec = selector_of(kExecutorLabels);
  const auto other = selector_of(other_labels);

  CHECK(kpo.to_string() == "dag_id=etl_daily,kubernetes_pod_operator=True,task_id=load");
  CHECK(exec.to_string() == "dag_id=etl_daily,kubernetes_executor=True,task_id=load");
  CHECK(other.to_string() == "dag_id=etl_daily,!kubernetes_executor,!kubernetes_pod_operator,task_id=load");
  CHECK(kpo.equality_value("dag_id") == "etl_daily");
  CHECK(kpo.equality_value("task_id") == "load");

  CHECK(kpo.matches(kKpoLabels));
  CHECK(exec.matches(kExecutorLabels));
  CHECK(other.matches(other_labels));
  CHECK_FALSE(kpo.matches(kExecutorLabels));
  CHECK_FALSE(kpo.matches(other_labels));
  CHECK_FALSE(kpo.matches(other_task));
  CHECK_FALSE(exec.matches(kKpoLabels));
  CHECK_FALSE(exec.matches(other_labels));
  CHECK_FALSE(other.matches(kKpoLabels));
  CHECK_FALSE(other.matches(kExecutorLabels));

  // The text is what goes into status.selector: it must parse back to the same selector.
  for (const auto* s : {&kpo, &exec, &other}) CHECK(avw::core::Selector::parse(s->to_string()) == *s);
}

TEST_CASE("object names are readable, stable DNS labels ending in a hash", "[task]") {
  // Pinned: these names exist in clusters, so the hash must never change.
  CHECK(avw::core::task_object_name({"airflow", "etl", "load", Launcher::PodOperator}) ==
        "etl-load-kpo-0a72e120");
  CHECK(avw::core::task_object_name({"airflow", "etl_daily", "load", Launcher::PodOperator}) ==
        "etl-daily-load-kpo-b7bba60e");
  CHECK(avw::core::task_object_name({"airflow", "etl_daily", "load", Launcher::Executor}) ==
        "etl-daily-load-exec-75eea043");
  const auto other = avw::core::task_object_name({"airflow", "ETL__Daily..", "-Load", Launcher::Other});
  CHECK_THAT(other, Catch::StartsWith("etl-daily-load-pod-"));
  CHECK(is_dns_label(other));
}

TEST_CASE("object names depend on the exact ids and launcher, not the namespace", "[task]") {
  using avw::core::task_object_name;
  const TaskKey underscore{"a", "etl_daily", "load", Launcher::PodOperator};
  const TaskKey dot{"a", "etl.daily", "load", Launcher::PodOperator};
  CHECK(task_object_name(underscore) != task_object_name(dot));
  CHECK(task_object_name(underscore) != task_object_name({"a", "etl_daily", "load", Launcher::Executor}));
  CHECK(task_object_name(underscore) != task_object_name({"a", "etl_daily", "load", Launcher::Other}));
  // The separator keeps the split between dag and task in the hash.
  CHECK(task_object_name({"a", "a", "b_c", Launcher::Other}) !=
        task_object_name({"a", "a_b", "c", Launcher::Other}));
  CHECK(task_object_name(underscore) == task_object_name({"b", "etl_daily", "load", Launcher::PodOperator}));
}

TEST_CASE("long ids are truncated to fit the length limit and still differ", "[task]") {
  using avw::core::task_object_name;
  REQUIRE(kLongDag.size() == 63);
  REQUIRE(kLongTask.size() == 63);
  const std::size_t max_length = GENERATE(10u, 11u, 20u, 40u, 63u);
  const TaskKey kpo{"airflow", kLongDag, kLongTask, Launcher::PodOperator};
  const TaskKey exec{"airflow", kLongDag, kLongTask, Launcher::Executor};
  // Same 63 characters up to the last one, so both truncate to the same readable part.
  const std::string other_task = std::string(kLongTask.substr(0, 62)) + "y";
  const TaskKey sibling{"airflow", kLongDag, other_task, Launcher::PodOperator};

  const std::string name = task_object_name(kpo, max_length);
  INFO(name);
  CHECK(name.size() <= max_length);
  CHECK(is_dns_label(name));
  CHECK_THAT(name, Catch::StartsWith("t"));
  CHECK(name.substr(0, name.size() - 8) == task_object_name(exec, max_length).substr(0, name.size() - 8));
  CHECK(name != task_object_name(exec, max_length));
  CHECK(name != task_object_name(sibling, max_length));
}

TEST_CASE("the length limit is kept between 10 and 63 characters", "[task]") {
  using avw::core::task_object_name;
  const TaskKey key{"airflow", kLongDag, kLongTask, Launcher::PodOperator};
  CHECK(task_object_name(key).size() == 63);
  CHECK(task_object_name(key, 1000).size() == 63);
  CHECK(task_object_name(key, 0).size() == 10);
  CHECK(is_dns_label(task_object_name(key, 0)));
  CHECK(task_object_name(key, 63).substr(0, 54) == "team-data-platform-nightly-etl-v2-customer-orders-aggr");
}

TEST_CASE("try_number is a non-negative decimal that fits 64 bits", "[task]") {
  auto [text, expected] = GENERATE(table<std::string, std::int64_t>({
      {"1", 1},
      {"0", 0},
      {"007", 7},
      {"9223372036854775807", 9223372036854775807},
      {"9223372036854775808", -1},
      {"99999999999999999999999", -1},
      {"-1", -1},
      {"+1", -1},
      {"", -1},
      {"1a", -1},
      {" 1", -1},
      {"1.0", -1},
  }));
  INFO("try_number: " << text);
  const LabelSet labels{{"try_number", text}};
  CHECK(avw::core::try_number_of(labels, kKeys).value_or(-1) == expected);
  CHECK_FALSE(avw::core::try_number_of(LabelSet{}, kKeys));
  CHECK(avw::core::try_number_of(kExecutorLabels, kKeys) == 2);
}
