// The provisioner against the fake API server over TLS: AirflowTask and VPA creation, lastSeen
// upkeep, races between replicas, retries, garbage collection, the recommender the VPAs name,
// and the report of VPAs that no recommender answers. Time as the provisioner sees it comes
// from a fake clock; tests wait for conditions with a deadline, never for a fixed time.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>
#include <rapidjson/document.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "avw/core/task.hpp"
#include "avw/kube/client.hpp"
#include "avw/metrics/metrics.hpp"
#include "avw/provision/objects.hpp"
#include "avw/provision/provisioner.hpp"
#include "support/net/fake_api_server.hpp"

namespace net = boost::asio;
namespace provision = avw::provision;
using avw::core::Launcher;
using avw::core::TaskKey;
using avw::test::FakeApiServer;
using namespace std::chrono_literals;

namespace {

class FakeClock {
 public:
  explicit FakeClock(provision::TimePoint start) : ticks_(start.time_since_epoch().count()) {}
  provision::TimePoint now() const {
    return provision::TimePoint(provision::TimePoint::duration(ticks_.load()));
  }
  void advance(std::chrono::seconds d) {
    ticks_ += std::chrono::duration_cast<provision::TimePoint::duration>(d).count();
  }

 private:
  std::atomic<provision::TimePoint::rep> ticks_;
};

const provision::TimePoint kStart = provision::TimePoint(std::chrono::sys_days{std::chrono::year{2026} / 11 / 23}) + 17h;

FakeApiServer::Options empty_cluster() {
  FakeApiServer::Options o;
  o.seed_fixtures = false;
  return o;
}

/// Waits until `condition` holds, polling every 5 ms, for at most `timeout`.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 10'000ms) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

/// One webhook replica's provisioning: a control context thread, a kube::Client and the
/// provisioner, with a fake clock.
class Replica {
 public:
  Replica(const FakeApiServer& api, std::shared_ptr<FakeClock> clock,
          std::function<void(provision::ProvisionerOptions&)> tune = {})
      : work_(context_.get_executor()), client_(std::make_shared<avw::kube::Client>(context_, config_for(api), client_options())) {
    provision::ProvisionerOptions options;
    options.backoff = {10ms, 50ms};
    options.clock = [clock] { return clock->now(); };
    if (tune) tune(options);
    provisioner_ = provision::make_provisioner(context_, client_, std::move(options), registry_);
    thread_ = std::thread([this] { context_.run(); });
    provisioner_->start();
  }

  ~Replica() {
    provisioner_->stop();
    net::post(context_, [this] { client_->close(); });
    work_.reset();
    thread_.join();
  }
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  provision::Provisioner& provisioner() { return *provisioner_; }

  std::uint64_t count(const std::string& result) {
    return registry_.counter("avw_provision_total", "", {{"result", result}}).value();
  }
  std::uint64_t gc_count(const std::string& result) {
    return registry_.counter("avw_provision_gc_total", "", {{"result", result}}).value();
  }
  std::uint64_t recommender_updates() {
    return registry_.counter("avw_provision_vpa_recommender_updates_total", "").value();
  }
  double gauge(const std::string& name, const std::string& recommender) {
    return registry_.gauge(name, "", {{"recommender", recommender}}).value();
  }
  /// Every upkeep finished with success (created, exists or refreshed) `n` times.
  bool settled(std::uint64_t n) { return count("created") + count("exists") + count("refreshed") == n; }

  /// Returns once the control context has handled everything posted before the call
  /// (observe() posts, so the observations made so far have been looked at).
  void drain() {
    std::promise<void> done;
    net::post(context_, [&done] { done.set_value(); });
    done.get_future().wait();
  }

 private:
  static avw::kube::ClusterConfig config_for(const FakeApiServer& api) {
    avw::kube::ClusterConfig c;
    c.server = api.url();
    c.ca_data = api.ca_pem();
    c.token = api.token();
    return c;
  }
  static avw::kube::ClientOptions client_options() {
    avw::kube::ClientOptions o;
    o.connect_timeout = 2s;
    o.request_timeout = 5s;
    return o;
  }

  net::io_context context_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  avw::metrics::Registry registry_;
  std::shared_ptr<avw::kube::Client> client_;
  std::unique_ptr<provision::Provisioner> provisioner_;
  std::thread thread_;
};

rapidjson::Document parse(const std::optional<std::string>& json) {
  REQUIRE(json);
  rapidjson::Document doc;
  doc.Parse(json->data(), json->size());
  REQUIRE_FALSE(doc.HasParseError());
  return doc;
}

std::string str(const rapidjson::Value& v) {
  REQUIRE(v.IsString());
  return {v.GetString(), v.GetStringLength()};
}

std::string task_with_last_seen(const std::string& ns, const std::string& name, const std::string& uid,
                                const std::string& last_seen, bool managed) {
  return R"({"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask","metadata":{"name":")" + name +
         R"(","namespace":")" + ns + R"(","uid":")" + uid +
         R"(","creationTimestamp":"2026-01-01T00:00:00Z","labels":{)" +
         (managed ? R"("app.kubernetes.io/managed-by":"airflow-vpa-webhook")" : "") +
         R"(}},"spec":{"dagId":"d","taskId":"t","replicas":0},"status":{"replicas":0,"selector":"dag_id=d,task_id=t",)" +
         R"("lastSeen":")" + last_seen + R"("}})";
}

/// A VPA as the provisioner makes it (managed-by label, targeting the task's AirflowTask),
/// created at `created`, naming `recommenders` (a JSON array, or "" for no field), with a
/// recommendation for `base` or none.
std::string provisioned_vpa(const std::string& ns, const std::string& name, const std::string& recommenders,
                            const std::string& created, bool recommended, bool managed = true) {
  std::string json = R"({"apiVersion":"autoscaling.k8s.io/v1","kind":"VerticalPodAutoscaler","metadata":{"name":")" +
                     name + R"(","namespace":")" + ns + R"(","uid":"uid-)" + name + R"(","creationTimestamp":")" +
                     created + R"(","labels":{)" +
                     (managed ? R"("app.kubernetes.io/managed-by":"airflow-vpa-webhook")" : "") +
                     R"(}},"spec":{"targetRef":{"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask",)"
                     R"("name":")" + name + R"("},"updatePolicy":{"updateMode":"Off"})";
  if (!recommenders.empty()) json += R"(,"recommenders":)" + recommenders;
  json += "}";
  if (recommended) {
    json += R"(,"status":{"recommendation":{"containerRecommendations":[{"containerName":"base",)"
            R"("target":{"cpu":"100m","memory":"64Mi"}}]}})";
  }
  return json + "}";
}

/// The names in a stored VPA's spec.recommenders, in order (none when the field is absent).
std::vector<std::string> recommenders_of(const std::optional<std::string>& json) {
  const auto vpa = parse(json);
  std::vector<std::string> names;
  if (!vpa["spec"].HasMember("recommenders")) return names;
  for (const auto& r : vpa["spec"]["recommenders"].GetArray()) names.push_back(str(r["name"]));
  return names;
}

/// Collects what is logged while it lives: the warnings an operator would read.
class LogCapture {
 public:
  LogCapture()
      : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000)), previous_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>("capture", sink_);
    logger->set_level(spdlog::level::debug);
    logger->set_pattern("%l %v");
    spdlog::set_default_logger(std::move(logger));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  /// The last line that contains `needle`, or "".
  std::string last_line_with(const std::string& needle) const {
    const auto lines = sink_->last_formatted();
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
      if (it->find(needle) != std::string::npos) return it->substr(0, it->find_last_not_of('\n') + 1);
    }
    return {};
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

}  // namespace

TEST_CASE("the first pod of a task creates its AirflowTask and its VPA", "[provision][integration]") {
  FakeApiServer api(empty_cluster());
  auto clock = std::make_shared<FakeClock>(kStart);
  Replica replica(api, clock);
  const TaskKey key{"airflow", "etl", "load", Launcher::PodOperator};
  const std::string name = avw::core::task_object_name(key);

  replica.provisioner().observe(key);
  REQUIRE(wait_until([&] { return replica.settled(1); }));
  CHECK(replica.count("created") == 1);
  CHECK(replica.count("error") == 0);
  REQUIRE(api.object_count("airflowtasks") == 1);
  REQUIRE(api.object_count("verticalpodautoscalers") == 1);

  const auto task = parse(api.get("airflowtasks", "airflow", name));
  CHECK(str(task["metadata"]["labels"]["app.kubernetes.io/managed-by"]) == "airflow-vpa-webhook");
  CHECK(str(task["spec"]["dagId"]) == "etl");
  CHECK(str(task["spec"]["taskId"]) == "load");
  CHECK(str(task["spec"]["launcher"]) == "PodOperator");
  CHECK(task["spec"]["replicas"].GetInt() == 0);
  const std::string selector = "dag_id=etl,kubernetes_pod_operator=True,task_id=load";
  CHECK(str(task["spec"]["selector"]) == selector);
  CHECK(str(task["status"]["selector"]) == selector);
  CHECK(task["status"]["replicas"].GetInt() == 0);
  CHECK(str(task["status"]["lastSeen"]) == "2026-11-23T17:00:00Z");

  const auto vpa = parse(api.get("verticalpodautoscalers", "airflow", name));
  CHECK(str(vpa["spec"]["targetRef"]["kind"]) == "AirflowTask");
  CHECK(str(vpa["spec"]["targetRef"]["apiVersion"]) == "airflow-vpa-webhook.io/v1alpha1");
  CHECK(str(vpa["spec"]["targetRef"]["name"]) == name);
  CHECK(str(vpa["spec"]["updatePolicy"]["updateMode"]) == "Off");
  const auto& owner = vpa["metadata"]["ownerReferences"][0];
  CHECK(str(owner["uid"]) == str(task["metadata"]["uid"]));
  CHECK(str(owner["name"]) == name);
  CHECK_FALSE(owner.HasMember("controller"));
  // No recommender configured: the cluster's default recommender serves it.
  CHECK_FALSE(vpa["spec"].HasMember("recommenders"));
}

TEST_CASE("later pods of a known task write nothing until the refresh interval has passed",
          "[provision][integration]") {
  FakeApiServer api(empty_cluster());
  auto clock = std::make_shared<FakeClock>(kStart);
  Replica replica(api, clock, [](provision::ProvisionerOptions& o) { o.refresh = 3600s; });
  const TaskKey load{"airflow", "etl", "load", Launcher::PodOperator};
  const TaskKey extract{"airflow", "etl", "extract", Launcher::PodOperator};
  const std::string name = avw::core::task_object_name(load);

  replica.provisioner().observe(load);
  REQUIRE(wait_until([&] { return replica.settled(1); }));
  const std::size_t writes = api.requests(name);

  // Another pod of the same task within the hour, then a new task whose creation we wait
  // for: an upkeep of the first one would have been started before it.
  clock->advance(3599s);
  replica.provisioner().observe(load);
  replica.provisioner().observe(extract);
  REQUIRE(wait_until([&] { return replica.settled(2); }));
  CHECK(replica.count("created") == 2);
  CHECK(replica.count("exists") == 0);
  CHECK(replica.count("refreshed") == 0);
  CHECK(api.requests(name) == writes);
  CHECK(api.object_count("airflowtasks") == 2);
  CHECK(api.object_count("verticalpodautoscalers") == 2);

  SECTION("once the interval has passed, the next pod refreshes lastSeen") {
    clock->advance(1s);
    replica.provisioner().observe(load);
    REQUIRE(wait_until([&] { return replica.settled(3); }));
    CHECK(replica.count("refreshed") == 1);
    CHECK(replica.count("created") == 2);
    const auto task = parse(api.get("airflowtasks", "airflow", name));
    CHECK(str(task["status"]["lastSeen"]) == "2026-11-23T18:00:00Z");
    CHECK(api.object_count("airflowtasks") == 2);
    CHECK(api.object_count("verticalpodautoscalers") == 2);
  }

  SECTION("an AirflowTask deleted meanwhile is created again at the refresh, with a VPA owned by it") {
    REQUIRE(api.remove("airflowtasks", "airflow", name));
    REQUIRE(api.remove("verticalpodautoscalers", "airflow", name));
    clock->advance(1s);
    replica.provisioner().observe(load);
    REQUIRE(wait_until([&] { return replica.settled(3); }));
    CHECK(replica.count("created") == 3);
    const auto task = parse(api.get("airflowtasks", "airflow", name));
    const auto vpa = parse(api.get("verticalpodautoscalers", "airflow", name));
    CHECK(str(vpa["metadata"]["ownerReferences"][0]["uid"]) == str(task["metadata"]["uid"]));
  }
}

TEST_CASE("two replicas seeing the same task both succeed and make one object of each", "[provision][integration]") {
  FakeApiServer api(empty_cluster());
  auto clock = std::make_shared<FakeClock>(kStart);
  Replica first(api, clock);
  Replica second(api, clock);
  const TaskKey key{"airflow", "etl", "load", Launcher::Executor};

  first.provisioner().observe(key);
  second.provisioner().observe(key);
  REQUIRE(wait_until([&] { return first.settled(1) && second.settled(1); }));
  CHECK(first.count("error") + second.count("error") == 0);
  CHECK(first.count("created") + second.count("created") == 1);
  CHECK(first.count("exists") + second.count("exists") == 1);
  CHECK(api.object_count("airflowtasks") == 1);
  CHECK(api.object_count("verticalpodautoscalers") == 1);
  const std::string name = avw::core::task_object_name(key);
  const auto task = parse(api.get("airflowtasks", "airflow", name));
  const auto vpa = parse(api.get("verticalpodautoscalers", "airflow", name));
  CHECK(str(vpa["metadata"]["ownerReferences"][0]["uid"]) == str(task["metadata"]["uid"]));
}

TEST_CASE("server errors are retried until the task is provisioned", "[provision][integration]") {
  FakeApiServer api(empty_cluster());
  auto clock = std::make_shared<FakeClock>(kStart);
  Replica replica(api, clock);
  const TaskKey key{"airflow", "etl", "load", Launcher::Other};

  api.fail_next(500, 3);
  replica.provisioner().observe(key);
  REQUIRE(wait_until([&] { return replica.settled(1); }));
  CHECK(replica.count("error") == 3);
  CHECK(replica.count("created") == 1);
  CHECK(api.object_count("airflowtasks") == 1);
  CHECK(api.object_count("verticalpodautoscalers") == 1);
  const auto task = parse(api.get("airflowtasks", "airflow", avw::core::task_object_name(key)));
  CHECK(str(task["status"]["selector"]) == avw::core::task_selector(key, {}).to_string());
  CHECK_THAT(str(task["status"]["selector"]), Catch::Matchers::Contains("!kubernetes_executor"));
}

TEST_CASE("a refused request is counted and tried again when the task is seen after the backoff cap",
          "[provision][integration]") {
  FakeApiServer api(empty_cluster());
  auto clock = std::make_shared<FakeClock>(kStart);
  Replica replica(api, clock);
  const TaskKey key{"airflow", "etl", "load", Launcher::PodOperator};

  api.fail_next(403, 1);
  replica.provisioner().observe(key);
  REQUIRE(wait_until([&] { return replica.count("error") == 1; }));
  CHECK(api.object_count("airflowtasks") == 0);

  clock->advance(1s);  // the backoff cap is 50 ms: the next sight tries again
  replica.provisioner().observe(key);
  REQUIRE(wait_until([&] { return replica.settled(1); }));
  CHECK(replica.count("created") == 1);
  CHECK(replica.count("error") == 1);
  CHECK(api.object_count("verticalpodautoscalers") == 1);
}

TEST_CASE("executor and operator pods of one task get two AirflowTasks", "[provision][integration]") {
  FakeApiServer api(empty_cluster());
  auto clock = std::make_shared<FakeClock>(kStart);
  Replica replica(api, clock);
  const TaskKey executor{"airflow", "etl", "load", Launcher::Executor};
  const TaskKey operator_pod{"airflow", "etl", "load", Launcher::PodOperator};
  REQUIRE(avw::core::task_object_name(executor) != avw::core::task_object_name(operator_pod));

  replica.provisioner().observe(executor);
  replica.provisioner().observe(operator_pod);
  REQUIRE(wait_until([&] { return replica.settled(2); }));
  CHECK(api.object_count("airflowtasks") == 2);
  CHECK(api.object_count("verticalpodautoscalers") == 2);
  const auto a = parse(api.get("airflowtasks", "airflow", avw::core::task_object_name(executor)));
  const auto b = parse(api.get("airflowtasks", "airflow", avw::core::task_object_name(operator_pod)));
  CHECK(str(a["spec"]["launcher"]) == "Executor");
  CHECK(str(a["status"]["selector"]) == "dag_id=etl,kubernetes_executor=True,task_id=load");
  CHECK(str(b["spec"]["launcher"]) == "PodOperator");
  CHECK(str(b["status"]["selector"]) == "dag_id=etl,kubernetes_pod_operator=True,task_id=load");
}

TEST_CASE("observations over the queue bound are dropped and counted", "[provision][integration]") {
  FakeApiServer api(empty_cluster());
  auto clock = std::make_shared<FakeClock>(kStart);
  Replica replica(api, clock, [](provision::ProvisionerOptions& o) { o.max_pending = 0; });
  const TaskKey key{"airflow", "etl", "load", Launcher::PodOperator};
  for (int i = 0; i < 3; ++i) replica.provisioner().observe(key);
  replica.drain();
  CHECK(replica.count("dropped") == 3);
  CHECK(api.requests() == 0);
}

TEST_CASE("garbage collection deletes managed tasks unseen for forget-after, with their VPAs",
          "[provision][integration]") {
  FakeApiServer api(empty_cluster());
  auto clock = std::make_shared<FakeClock>(kStart);
  const std::string stale_seen = provision::format_rfc3339(kStart - std::chrono::days{31});
  const std::string fresh_seen = provision::format_rfc3339(kStart - std::chrono::days{1});
  api.upsert("airflowtasks", task_with_last_seen("airflow", "stale", "uid-stale", stale_seen, true));
  api.upsert("airflowtasks", task_with_last_seen("airflow", "fresh", "uid-fresh", fresh_seen, true));
  api.upsert("airflowtasks", task_with_last_seen("airflow", "by-hand", "uid-by-hand", stale_seen, false));
  std::string owned = avw::test::make_vpa("airflow", "stale", "stale", "100m", "64Mi");
  owned.replace(owned.find(R"("uid":)"), 0,
                R"("ownerReferences":[{"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask",)"
                R"("name":"stale","uid":"uid-stale"}],)");
  api.upsert("verticalpodautoscalers", owned);
  api.upsert("verticalpodautoscalers", avw::test::make_vpa("airflow", "fresh", "fresh", "100m", "64Mi"));

  Replica replica(api, clock, [](provision::ProvisionerOptions& o) {
    o.gc_interval = 20ms;
    o.forget_after = std::chrono::days{30};
  });
  // The counter moves when the DELETE's answer arrives, after the object is gone.
  REQUIRE(wait_until([&] { return replica.gc_count("deleted") == 1; }));
  CHECK_FALSE(api.get("airflowtasks", "airflow", "stale"));
  CHECK_FALSE(api.get("verticalpodautoscalers", "airflow", "stale"));
  // Another round, to see that nothing else goes.
  REQUIRE(wait_until([&] { return api.requests("/airflowtasks?labelSelector=") >= 3; }));
  CHECK(api.get("airflowtasks", "airflow", "fresh"));
  CHECK(api.get("airflowtasks", "airflow", "by-hand"));
  CHECK(api.get("verticalpodautoscalers", "airflow", "fresh"));
  CHECK(replica.gc_count("deleted") == 1);
  CHECK(replica.gc_count("error") == 0);
}

TEST_CASE("a task this replica has just seen is not collected even if its lastSeen is old",
          "[provision][integration]") {
  FakeApiServer api(empty_cluster());
  auto clock = std::make_shared<FakeClock>(kStart);
  const TaskKey key{"airflow", "etl", "load", Launcher::PodOperator};
  const std::string name = avw::core::task_object_name(key);
  Replica replica(api, clock, [](provision::ProvisionerOptions& o) {
    o.gc_interval = 20ms;
    o.forget_after = 3600s;
  });
  replica.provisioner().observe(key);
  REQUIRE(wait_until([&] { return replica.settled(1); }));
  // As if the lastSeen in the API were old (its refresh failed, say) while this replica saw
  // the task a moment ago: the clock stands still, so the two never disagree otherwise.
  std::string json = *api.get("airflowtasks", "airflow", name);
  const std::string written = R"("lastSeen":"2026-11-23T17:00:00Z")";
  REQUIRE(json.find(written) != std::string::npos);
  json.replace(json.find(written), written.size(), R"("lastSeen":"2026-11-23T15:00:00Z")");
  api.upsert("airflowtasks", json);
  const std::size_t lists = api.requests("/airflowtasks?labelSelector=");
  REQUIRE(wait_until([&] { return api.requests("/airflowtasks?labelSelector=") >= lists + 2; }));
  CHECK(api.get("airflowtasks", "airflow", name));
  CHECK(replica.gc_count("deleted") == 0);

  SECTION("but is once it has not been seen for forget-after") {
    clock->advance(3600s);
    REQUIRE(wait_until([&] { return replica.gc_count("deleted") == 1; }));
    CHECK_FALSE(api.get("airflowtasks", "airflow", name));
    CHECK_FALSE(api.get("verticalpodautoscalers", "airflow", name));
  }
}

TEST_CASE("a provisioned VPA names the configured recommender", "[provision][integration][recommender]") {
  FakeApiServer api(empty_cluster());
  auto clock = std::make_shared<FakeClock>(kStart);
  Replica replica(api, clock, [](provision::ProvisionerOptions& o) { o.recommender = "airflow-vpa-webhook"; });
  const TaskKey key{"airflow", "etl", "load", Launcher::PodOperator};

  replica.provisioner().observe(key);
  REQUIRE(wait_until([&] { return replica.settled(1); }));
  CHECK(replica.count("created") == 1);
  const auto vpa = api.get("verticalpodautoscalers", "airflow", avw::core::task_object_name(key));
  CHECK(recommenders_of(vpa) == std::vector<std::string>{"airflow-vpa-webhook"});
  // Created with it: nothing had to be changed afterwards.
  CHECK(replica.recommender_updates() == 0);
}

TEST_CASE("a VPA provisioned under another setting is brought to the configured recommender",
          "[provision][integration][recommender]") {
  struct Change {
    std::string before;  // the setting the VPA was made with ("" for none)
    std::string after;   // the setting of the replica that sees the task next
  };
  const Change change = GENERATE(values<Change>({
      {"", "airflow-vpa-webhook"},
      {"airflow-vpa-webhook", ""},
      {"batch", "airflow-vpa-webhook"},
  }));
  CAPTURE(change.before, change.after);
  FakeApiServer api(empty_cluster());
  auto clock = std::make_shared<FakeClock>(kStart);
  const TaskKey key{"airflow", "etl", "load", Launcher::PodOperator};
  const std::string name = avw::core::task_object_name(key);
  {
    // The replica of the earlier rollout.
    Replica earlier(api, clock, [&](provision::ProvisionerOptions& o) { o.recommender = change.before; });
    earlier.provisioner().observe(key);
    REQUIRE(wait_until([&] { return earlier.settled(1); }));
  }
  const auto as_list = [](const std::string& r) { return r.empty() ? std::vector<std::string>{} : std::vector{r}; };
  REQUIRE(recommenders_of(api.get("verticalpodautoscalers", "airflow", name)) == as_list(change.before));
  const std::string uid = str(parse(api.get("verticalpodautoscalers", "airflow", name))["metadata"]["uid"]);

  Replica later(api, clock, [&](provision::ProvisionerOptions& o) { o.recommender = change.after; });
  later.provisioner().observe(key);
  REQUIRE(wait_until([&] { return later.settled(1); }));
  CHECK(later.count("error") == 0);
  CHECK(later.recommender_updates() == 1);
  const auto vpa = api.get("verticalpodautoscalers", "airflow", name);
  CHECK(recommenders_of(vpa) == as_list(change.after));
  // Changed in place: the same VPA, so its checkpoints (named after it) stay.
  CHECK(str(parse(vpa)["metadata"]["uid"]) == uid);
  CHECK(api.object_count("verticalpodautoscalers") == 1);
}

TEST_CASE("a replica puts a changed recommender back at the task's next refresh, not before",
          "[provision][integration][recommender]") {
  FakeApiServer api(empty_cluster());
  auto clock = std::make_shared<FakeClock>(kStart);
  Replica replica(api, clock, [](provision::ProvisionerOptions& o) {
    o.recommender = "airflow-vpa-webhook";
    o.refresh = 3600s;
  });
  const TaskKey key{"airflow", "etl", "load", Launcher::PodOperator};
  const std::string name = avw::core::task_object_name(key);
  replica.provisioner().observe(key);
  REQUIRE(wait_until([&] { return replica.settled(1); }));

  // Someone points the VPA elsewhere.
  std::string json = *api.get("verticalpodautoscalers", "airflow", name);
  const std::string ours = R"("recommenders":[{"name":"airflow-vpa-webhook"}])";
  REQUIRE(json.find(ours) != std::string::npos);
  json.replace(json.find(ours), ours.size(), R"("recommenders":[{"name":"elsewhere"}])");
  api.upsert("verticalpodautoscalers", json);

  // Within the refresh interval the task's pods cause no request at all (a new task's
  // creation, waited for, shows that the observation was handled).
  const std::size_t requests = api.requests(name);
  clock->advance(3599s);
  replica.provisioner().observe(key);
  replica.provisioner().observe(TaskKey{"airflow", "etl", "extract", Launcher::PodOperator});
  REQUIRE(wait_until([&] { return replica.settled(2); }));
  CHECK(api.requests(name) == requests);
  CHECK(recommenders_of(api.get("verticalpodautoscalers", "airflow", name)) == std::vector<std::string>{"elsewhere"});

  clock->advance(1s);
  replica.provisioner().observe(key);
  REQUIRE(wait_until([&] { return replica.settled(3); }));
  CHECK(replica.count("refreshed") == 1);
  CHECK(replica.recommender_updates() == 1);
  CHECK(recommenders_of(api.get("verticalpodautoscalers", "airflow", name)) ==
        std::vector<std::string>{"airflow-vpa-webhook"});
}

TEST_CASE("a VPA of the task's name that the provisioner did not make keeps its recommender",
          "[provision][integration][recommender]") {
  FakeApiServer api(empty_cluster());
  auto clock = std::make_shared<FakeClock>(kStart);
  const TaskKey key{"airflow", "etl", "load", Launcher::PodOperator};
  const std::string name = avw::core::task_object_name(key);
  api.upsert("verticalpodautoscalers",
             provisioned_vpa("airflow", name, R"([{"name":"theirs"}])", "2026-11-01T00:00:00Z", true,
                             /*managed=*/false));
  Replica replica(api, clock, [](provision::ProvisionerOptions& o) { o.recommender = "airflow-vpa-webhook"; });

  replica.provisioner().observe(key);
  REQUIRE(wait_until([&] { return replica.settled(1); }));
  CHECK(replica.count("error") == 0);
  CHECK(replica.recommender_updates() == 0);
  CHECK(recommenders_of(api.get("verticalpodautoscalers", "airflow", name)) == std::vector<std::string>{"theirs"});
}

TEST_CASE("provisioned VPAs that a recommender never answers are counted and reported until it answers",
          "[provision][integration][recommender]") {
  LogCapture log;
  FakeApiServer api(empty_cluster());
  auto clock = std::make_shared<FakeClock>(kStart);  // 2026-11-23T17:00:00Z
  const std::string long_ago = "2026-11-23T08:00:00Z";  // 9h before: past the 6h grace
  // Two VPAs that name a recommender nobody runs, made long ago and still empty; one as young
  // as an hour; one of the default recommender, answered; one made by hand, not ours to judge.
  api.upsert("verticalpodautoscalers", provisioned_vpa("airflow", "load", R"([{"name":"typo"}])", long_ago, false));
  api.upsert("verticalpodautoscalers", provisioned_vpa("airflow", "extract", R"([{"name":"typo"}])", long_ago, false));
  api.upsert("verticalpodautoscalers",
             provisioned_vpa("airflow", "fresh", R"([{"name":"typo"}])", "2026-11-23T16:00:00Z", false));
  api.upsert("verticalpodautoscalers", provisioned_vpa("airflow", "report", "", long_ago, true));
  api.upsert("verticalpodautoscalers",
             provisioned_vpa("airflow", "hand-made", R"([{"name":"typo"}])", long_ago, false, /*managed=*/false));

  Replica replica(api, clock, [](provision::ProvisionerOptions& o) {
    o.gc_interval = 20ms;
    o.recommendation_grace = 6h;
    o.vpa_page_size = 2;  // the count spans list pages
  });
  const std::string without = "avw_provision_vpas_without_recommendation";
  const std::string with = "avw_provision_vpas_with_recommendation";
  REQUIRE(wait_until([&] { return replica.gauge(without, "typo") == 2; }));
  CHECK(replica.gauge(with, "typo") == 0);
  CHECK(replica.gauge(without, "default") == 0);
  CHECK(replica.gauge(with, "default") == 1);
  const std::string warning = log.last_line_with("recommender \"typo\"");
  CHECK(warning ==
        "warning provision: 2 provisioned VPAs name recommender \"typo\" and have no recommendation 6h or more after "
        "they were created, and none of its VPAs has one: is a VPA recommender running with "
        "--recommender-name=typo?");

  SECTION("the young VPA joins the count once it has waited as long") {
    clock->advance(5h);
    REQUIRE(wait_until([&] { return replica.gauge(without, "typo") == 3; }));
  }
  SECTION("the count drops as recommendations arrive, and the warning stops") {
    api.upsert("verticalpodautoscalers", provisioned_vpa("airflow", "load", R"([{"name":"typo"}])", long_ago, true));
    REQUIRE(wait_until([&] { return replica.gauge(without, "typo") == 1; }));
    CHECK(replica.gauge(with, "typo") == 1);
    // The recommender answers for some tasks now: what waits is reported, without the alarm.
    REQUIRE(wait_until([&] { return !log.last_line_with("(1 of its VPAs have one)").empty(); }));
    CHECK(log.last_line_with("(1 of its VPAs have one)").rfind("info ", 0) == 0);

    api.upsert("verticalpodautoscalers",
               provisioned_vpa("airflow", "extract", R"([{"name":"typo"}])", long_ago, true));
    REQUIRE(wait_until([&] { return replica.gauge(without, "typo") == 0; }));
    CHECK(replica.gauge(with, "typo") == 2);
  }
  SECTION("a recommender whose VPAs are all gone is reported as having none") {
    for (const char* name : {"load", "extract", "fresh"}) REQUIRE(api.remove("verticalpodautoscalers", "airflow", name));
    REQUIRE(wait_until([&] { return replica.gauge(without, "typo") == 0; }));
    CHECK(replica.gauge(with, "typo") == 0);
  }
}
