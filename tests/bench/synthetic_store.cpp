#include "synthetic_store.hpp"

#include "support/fixtures.hpp"

namespace avw::bench {

std::string synthetic_store_json(std::size_t tasks, std::size_t namespaces, bool task_status) {
  std::string out = R"({"apiVersion":"v1","kind":"List","items":[)";
  out.reserve(tasks * 900);
  auto add_task = [&out, task_status](const std::string& ns, const std::string& name, const std::string& dag,
                                      const std::string& task) {
    const std::string spec = task_status ? R"({"dagId":")" + dag + R"(","taskId":")" + task +
                                               R"(","launcher":"PodOperator","replicas":0})"
                                         : std::string(R"({"replicas":0})");
    const std::string status =
        task_status ? std::string(R"("lastSeen":"2026-12-06T08:00:00Z","runs":{"observed":42,"seconds":151200,)"
                                  R"("since":"2026-11-01T08:00:00Z","lastFinishedAt":"2026-12-06T08:41:00Z",)"
                                  R"("containers":[{"name":"base","cpu":"1","memory":"2Gi"},)"
                                  R"({"name":"airflow-xcom-sidecar","cpu":"1m","memory":"10Mi"}]},)")
                    : std::string();
    out += R"({"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask","metadata":{"name":")" + name +
           R"(","namespace":")" + ns + R"(","creationTimestamp":"2026-11-01T00:00:00Z"},"spec":)" + spec + "," +
           R"("status":{)" + status + R"("replicas":0,"selector":"dag_id=)" + dag + ",task_id=" + task +
           R"(,kubernetes_pod_operator=True"}},)";
    out += R"({"apiVersion":"autoscaling.k8s.io/v1","kind":"VerticalPodAutoscaler","metadata":{"name":")" + name +
           R"(","namespace":")" + ns + R"(","creationTimestamp":"2026-11-01T00:00:00Z"},"spec":{"targetRef":)"
           R"({"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask","name":")" + name +
           R"("},"updatePolicy":{"updateMode":"Off"},"resourcePolicy":{"containerPolicies":[{"containerName":"*",)"
           R"("controlledResources":["cpu","memory"],"maxAllowed":{"cpu":"8","memory":"32Gi"}}]}},)"
           R"("status":{"recommendation":{"containerRecommendations":[)"
           R"({"containerName":"base","target":{"cpu":"511m","memory":"671629701"},"lowerBound":{"cpu":"63m","memory":"262144k"},)"
           R"("upperBound":{"cpu":"2","memory":"4Gi"},"uncappedTarget":{"cpu":"511m","memory":"671629701"}},)"
           R"({"containerName":"airflow-xcom-sidecar","target":{"cpu":"25m","memory":"262144k"}}]}}},)";
  };
  for (std::size_t i = 0; i < tasks; ++i) {
    const std::string n = std::to_string(i);
    add_task("team-" + std::to_string(i % namespaces), "dag-" + n + "-task-" + n, "dag_" + n, "task_" + n);
  }
  add_task("airflow", "etl-daily-load", "etl_daily", "load");
  out.back() = ']';
  out += "}";
  return out;
}

std::string large_review_json(std::size_t bytes) {
  std::string review = test::read_fixture("admission/kpo-pod.json");
  // Pad the first container with environment variables, as templated KPO tasks often carry.
  std::string env = R"("env":[)";
  for (std::size_t i = 0; env.size() < bytes; ++i) {
    if (i != 0) env += ",";
    env += R"({"name":"AIRFLOW_CTX_VARIABLE_)" + std::to_string(i) +
           R"(","value":"some-rather-long-configuration-value-that-a-dag-passes-to-its-task-)" + std::to_string(i) + R"("})";
  }
  env += "],";
  const auto at = review.find(R"("name": "base",)");
  review.insert(at, env);
  return review;
}

}  // namespace avw::bench
