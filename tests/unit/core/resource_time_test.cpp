// Resource-time of finished task pods: requests weighed by run time, as asked and as sized.
#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
#include <string>

#include "avw/core/admission.hpp"
#include "avw/core/object_list.hpp"
#include "avw/core/decision.hpp"
#include "avw/core/resource_time.hpp"
#include "avw/core/store.hpp"
#include "support/fixtures.hpp"

using namespace avw::core;
using avw::test::read_fixture;

namespace {

Quantity q(std::string_view text) { return *Quantity::parse(text); }

TaskPodContainer container(std::string name, std::optional<std::string_view> cpu, std::optional<std::string_view> memory) {
  TaskPodContainer c;
  c.name = std::move(name);
  if (cpu) c.requests[Resource::Cpu] = q(*cpu);
  if (memory) c.requests[Resource::Memory] = q(*memory);
  return c;
}

}  // namespace

TEST_CASE("a patched pod's updates annotation gives back what it asked for", "[resource_time]") {
  TaskPod pod;
  pod.containers = {container("base", "250m", "600Mi"), container("airflow-xcom-sidecar", "25m", "250Mi")};
  const PodRequests asked = requests_before_patch(
      pod,
      "base: cpu request 500m -> 250m, memory request 1Gi -> 600Mi (capped to maxAllowed, raised to the OOM floor "
      "600Mi (OOMKilled with 500Mi request on try 1 at 2026-12-06T18:26:27Z)); airflow-xcom-sidecar: cpu request "
      "unset -> 25m, memory limit 1Gi -> 2Gi");
  REQUIRE(asked.size() == 2);
  CHECK(asked[0].second[Resource::Cpu] == q("500m"));
  CHECK(asked[0].second[Resource::Memory] == q("1Gi"));
  CHECK_FALSE(asked[1].second[Resource::Cpu]);                  // it had none
  CHECK(asked[1].second[Resource::Memory] == q("250Mi"));        // a limit's change is not a request's
}

TEST_CASE("the summary decide() writes turns back into the requests the pod asked", "[resource_time]") {
  // The captured KPO pod sized by the example recommendations.
  const ParsedReview review(read_fixture("admission/kpo-pod.json"));
  std::ifstream file(std::string(AVW_SOURCE_DIR) + "/tests/fixtures/recommendations-first-day.json");
  const std::string recommendations((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const auto store = Snapshot::build(decode_objects(recommendations), StoreOptions{});
  const Decision d = decide(review.request(), *store, Config{}, Mode::Enforce);
  REQUIRE(d.outcome == Outcome::Patched);
  TaskPod patched;
  for (const PodContainer& c : review.request().pod.containers) {
    TaskPodContainer t;
    t.name = std::string(c.name);
    t.requests = c.requests;
    patched.containers.push_back(t);
  }
  const PodRequests asked = requests_of(patched);
  // The pod as the API server stores it: the decision's requests.
  TaskPod stored = patched;
  const PodRequests sized = requests_after(patched, d);
  for (std::size_t i = 0; i < stored.containers.size(); ++i) stored.containers[i].requests = sized[i].second;
  CHECK(requests_before_patch(stored, d.summary) == asked);
  CHECK(requests_of(stored) != asked);
}

TEST_CASE("resource-time is each request times the run time", "[resource_time]") {
  PodRequests requests = {{"base", {}}, {"sidecar", {}}};
  requests[0].second[Resource::Cpu] = q("500m");
  requests[0].second[Resource::Memory] = q("1Gi");
  requests[1].second[Resource::Cpu] = q("25m");
  const ResourceSeconds s = resource_seconds(requests, 300);
  CHECK(s.cpu_core_seconds == Approx(0.525 * 300));
  CHECK(s.memory_byte_seconds == Approx(1073741824.0 * 300));
  CHECK(resource_seconds(requests, 0).cpu_core_seconds == 0.0);
}

TEST_CASE("a run lasts from its first container's start to its last container's end", "[resource_time]") {
  TaskPod pod;
  pod.start_time = 1000;
  pod.containers = {container("base", "1", "1Gi"), container("sidecar", "1", "1Gi")};
  CHECK_FALSE(pod.run_seconds());  // still running
  pod.containers[0].terminated = ContainerEnd{"Completed", 0, 1010, 1310};
  CHECK_FALSE(pod.run_seconds());
  pod.containers[1].terminated = ContainerEnd{"Error", 143, 1012, 1320};
  CHECK(pod.run_seconds() == 310);
}
