// The fake API server against the captured shapes of the closed loop's requests
// (tests/fixtures/README.md, "Task pods ending, and Events"): label-selected pod lists and
// watches, Event creation in both API groups, and status merge patches with a
// resourceVersion precondition. Requests go through the project's own kube::Client.
#include <chrono>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "avw/kube/client.hpp"
#include "avw/kube/url.hpp"
#include "harness.hpp"
#include "support/fixtures.hpp"
#include "support/net/fake_api_server.hpp"
#include "support/net/tls_certs.hpp"

using avw::core::Launcher;
using avw::kube::Response;
using avw::test::CapturedPodEvent;
using avw::test::ContainerEnd;
using avw::test::FakeApiServer;
using avw::test::TaskPod;
using avw::test::TaskPodContainer;
using avw::test::with_container_ended;
using avw::test::with_containers_running;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

constexpr std::string_view kTaskPods = "/api/v1/pods?labelSelector=dag_id%2Ctask_id";
constexpr std::string_view kMergePatch = "application/merge-patch+json";

FakeApiServer::Options without_fixtures() {
  FakeApiServer::Options options;
  options.seed_fixtures = false;
  return options;
}

Response call(const FakeApiServer& api, const std::string& method, const std::string& target,
              const std::string& body = {}, std::string_view type = "application/json") {
  boost::asio::io_context context;
  avw::kube::Client client(context, avw::test::config_for(api));
  auto result = boost::asio::co_spawn(
      context, client.request(avw::kube::Request(method, target, body, std::string(type))), boost::asio::use_future);
  context.run();
  return result.get();
}

rapidjson::Document parse(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  REQUIRE_FALSE(doc.HasParseError());
  return doc;
}

std::string to_json(const rapidjson::Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

std::string edited(std::string_view json, const std::function<void(rapidjson::Document&)>& change) {
  rapidjson::Document doc = parse(json);
  change(doc);
  return to_json(doc);
}

// The object without the metadata members the server sets for itself; order is kept, so
// equal strings mean equal shapes.
std::string without_server_fields(std::string_view json,
                                  std::initializer_list<const char*> fields = {"resourceVersion"}) {
  return edited(json, [&](rapidjson::Document& doc) {
    for (const char* field : fields) doc["metadata"].EraseMember(field);
  });
}

int integer(const rapidjson::Value& v) {
  REQUIRE(v.IsInt());
  return v.GetInt();
}

std::string message_of(const Response& status) {
  const rapidjson::Document doc = parse(status.body);
  REQUIRE((doc.IsObject() && doc.HasMember("message") && doc["message"].IsString()));
  return doc["message"].GetString();
}

std::vector<std::string> member_names(const rapidjson::Value& object) {
  std::vector<std::string> names;
  for (const auto& m : object.GetObject()) names.emplace_back(m.name.GetString(), m.name.GetStringLength());
  return names;
}

std::vector<std::string> item_names(const rapidjson::Value& list) {
  std::vector<std::string> names;
  for (const auto& item : list["items"].GetArray()) names.emplace_back(item["metadata"]["name"].GetString());
  return names;
}

// A 200 list whose members, and its metadata's, are the captured list's, in the same order.
rapidjson::Document list_like_capture(const Response& r, std::string_view fixture) {
  REQUIRE(r.status == 200);
  rapidjson::Document list = parse(r.body);
  const rapidjson::Document captured = parse(avw::test::read_fixture(fixture));
  CHECK(member_names(list) == member_names(captured));
  CHECK(member_names(list["metadata"]) == member_names(captured["metadata"]));
  return list;
}

std::string str(const rapidjson::Value& v) {
  REQUIRE(v.IsString());
  return {v.GetString(), v.GetStringLength()};
}

std::string web_pod(std::string_view version = "nginx:1.25") {
  return R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-1","namespace":"airflow","labels":{"app":"web"}},)"
         R"("spec":{"containers":[{"name":"web","image":")" +
         std::string(version) + R"("}]},"status":{"phase":"Running"}})";
}

std::string pod_with_dag(std::string_view pod, std::string_view dag) {
  return edited(pod, [&](rapidjson::Document& doc) {
    doc["metadata"]["labels"]["dag_id"].SetString(dag.data(), static_cast<rapidjson::SizeType>(dag.size()),
                                                  doc.GetAllocator());
  });
}

// A watch read by kube::Client on a thread of its own, its event lines collected. It is
// constructed once the server holds it open.
class WatchStream {
 public:
  WatchStream(const FakeApiServer& api, std::string target)
      : client_(context_, avw::test::config_for(api)), open_before_(api.open_watches()) {
    boost::asio::co_spawn(context_,
                          client_.watch(
                              std::move(target),
                              [this](std::string_view line) {
                                std::lock_guard lock(mutex_);
                                lines_.emplace_back(line);
                                return true;
                              },
                              std::chrono::minutes(2)),
                          [](std::exception_ptr, avw::kube::WatchResult) {});
    thread_ = std::thread([this] { context_.run(); });
    // The test's changes must come after the server holds the watch, or a watch from "now"
    // would miss them.
    const bool open = avw::test::eventually([&] { return api.open_watches() > open_before_; });
    if (!open) stop();  // a constructor that throws gets no destructor
    REQUIRE(open);
  }
  ~WatchStream() { stop(); }
  WatchStream(const WatchStream&) = delete;
  WatchStream& operator=(const WatchStream&) = delete;

  std::vector<std::string> lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
  }
  /// Waits until at least `n` event lines have arrived.
  bool wait_for(std::size_t n) const {
    return avw::test::eventually([&] { return lines().size() >= n; });
  }

 private:
  void stop() {
    if (!thread_.joinable()) return;
    boost::asio::post(context_, [this] { client_.close(); });
    thread_.join();
  }

  boost::asio::io_context context_;
  avw::kube::Client client_;
  std::thread thread_;
  std::size_t open_before_;
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

// A watch of the task pods from the resourceVersion of a list, as an informer starts one.
std::string watch_target(const FakeApiServer& api, std::string_view selector) {
  const Response list = call(api, "GET", "/api/v1/pods?labelSelector=" + std::string(selector) + "&limit=500");
  REQUIRE(list.status == 200);
  return "/api/v1/pods?watch=1&allowWatchBookmarks=true&timeoutSeconds=100&labelSelector=" + std::string(selector) +
         "&resourceVersion=" + str(parse(list.body)["metadata"]["resourceVersion"]);
}

std::string pod_json(const TaskPod& pod) { return avw::test::make_task_pod(pod); }

std::string events_v1_body(std::string_view generate_name) {
  // Members in another order than the API's, and eventTime in seconds: the answer must be
  // written back in struct order with microseconds, as the captured one is.
  return R"({"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"generateName":")" +
         std::string(generate_name) +
         R"("},"type":"Warning","reason":"OOMKilled","action":"RaiseMemoryFloor",)"
         R"("note":"example note written by capture-pods","eventTime":"2026-12-06T18:26:38Z",)"
         R"("reportingController":"airflow-vpa-webhook.io/webhook",)"
         R"("reportingInstance":"airflow-vpa-webhook-7d9f8-x2x",)"
         R"("regarding":{"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask","namespace":"airflow",)"
         R"("name":"etl-load-kpo-0a72e120","uid":"37b6f8cf-8cc4-4f41-80a2-7a6ad6f61e70","resourceVersion":"220"}})";
}

std::string core_v1_body(std::string_view generate_name) {
  return R"({"apiVersion":"v1","kind":"Event","metadata":{"generateName":")" + std::string(generate_name) +
         R"("},"type":"Warning","count":1,"firstTimestamp":"2026-12-06T18:26:38Z",)"
         R"("lastTimestamp":"2026-12-06T18:26:38Z",)"
         R"("source":{"component":"airflow-vpa-webhook"},"reason":"OOMKilled",)"
         R"("message":"example message written by capture-pods",)"
         R"("involvedObject":{"apiVersion":"airflow-vpa-webhook.io/v1alpha1","kind":"AirflowTask",)"
         R"("namespace":"airflow",)"
         R"("name":"etl-load-kpo-0a72e120","uid":"37b6f8cf-8cc4-4f41-80a2-7a6ad6f61e70","resourceVersion":"220"}})";
}

std::string without_member(std::string_view json, const char* member) {
  return edited(json, [member](rapidjson::Document& doc) { doc.EraseMember(member); });
}

// The created Event is the captured answer but for what the server makes up per request.
void check_created_like_capture(const Response& created, std::string_view fixture, std::string_view generate_name) {
  REQUIRE(created.status == 201);
  const std::initializer_list<const char*> made_up = {"name", "uid", "resourceVersion", "creationTimestamp",
                                                      "managedFields"};
  CHECK(without_server_fields(created.body, made_up) ==
        without_server_fields(avw::test::read_fixture(fixture), made_up));
  const rapidjson::Document event = parse(created.body);
  const std::string name = str(event["metadata"]["name"]);
  CHECK_THAT(name, StartsWith(std::string(generate_name)));
  REQUIRE(name.size() == generate_name.size() + 5);
  CHECK(name.substr(generate_name.size()).find_first_not_of("bcdfghjklmnpqrstvwxz2456789") == std::string::npos);
  CHECK(member_names(event["metadata"]) ==
        std::vector<std::string>{"name", "generateName", "namespace", "uid", "resourceVersion", "creationTimestamp"});
}

}  // namespace

// ---- lists ------------------------------------------------------------------------------

TEST_CASE("a label-selected pod list holds only the task pods, in the captured PodList shape", "[kube][fake][pods]") {
  FakeApiServer api(without_fixtures());
  api.upsert("pods", web_pod());

  const rapidjson::Document list =
      list_like_capture(call(api, "GET", std::string(kTaskPods) + "&limit=500"), "api/list-task-pods-empty.json");
  CHECK(str(list["kind"]) == "PodList");
  CHECK(list["items"].Empty());

  api.upsert("pods", pod_json(TaskPod("etl-load-oom", "etl", "load")));
  api.upsert("pods", pod_json(TaskPod("etl-load-exec", "etl", "load", Launcher::Executor)));
  const rapidjson::Document two = parse(call(api, "GET", std::string(kTaskPods) + "&limit=500").body);
  CHECK(item_names(two) == std::vector<std::string>{"etl-load-exec", "etl-load-oom"});
  // A typed list names apiVersion and kind once; its items carry neither.
  CHECK(member_names(two["items"][0]) == std::vector<std::string>{"metadata", "spec", "status"});
}

TEST_CASE("label selectors have Kubernetes semantics and arrive URL-encoded", "[kube][fake][pods]") {
  FakeApiServer api(without_fixtures());
  api.upsert("pods", web_pod());
  api.upsert("pods", pod_json(TaskPod("etl-load-oom", "etl", "load")));
  api.upsert("pods", pod_json(TaskPod("etl-load-exec", "etl", "load", Launcher::Executor)));
  api.upsert("pods", pod_json(TaskPod("ml-fit", "ml", "fit")));

  const auto [selector, expected] = GENERATE(table<std::string, std::vector<std::string>>({
      {"dag_id%2Ctask_id", {"etl-load-exec", "etl-load-oom", "ml-fit"}},
      {"dag_id,task_id", {"etl-load-exec", "etl-load-oom", "ml-fit"}},
      {"dag_id%3Detl", {"etl-load-exec", "etl-load-oom"}},
      {"dag_id%3D%3Detl", {"etl-load-exec", "etl-load-oom"}},
      {"dag_id%21%3Detl", {"ml-fit", "web-1"}},  // != also matches a pod without the label
      {"%21dag_id", {"web-1"}},
      {"kubernetes_executor", {"etl-load-exec"}},
      {"dag_id%20in%20%28etl%2Cml%29", {"etl-load-exec", "etl-load-oom", "ml-fit"}},
      {"dag_id+notin+%28etl%29", {"ml-fit", "web-1"}},
      {"dag_id=etl,!kubernetes_executor", {"etl-load-oom"}},
  }));
  CAPTURE(selector);
  const Response r = call(api, "GET", "/api/v1/namespaces/airflow/pods?labelSelector=" + selector);
  REQUIRE(r.status == 200);
  CHECK(item_names(parse(r.body)) == expected);
}

TEST_CASE("a label selector that does not parse answers 400", "[kube][fake][pods]") {
  FakeApiServer api(without_fixtures());
  const Response r = call(api, "GET", "/api/v1/pods?labelSelector=dag_id%20in%20%28etl");
  CHECK(r.status == 400);
  CHECK_THAT(r.body, Contains(R"("reason":"BadRequest")"));
}

TEST_CASE("the task pod list comes in pages of two, continued as the captured one", "[kube][fake][pods]") {
  FakeApiServer api(without_fixtures());
  api.upsert("pods", web_pod());
  const std::vector<CapturedPodEvent> captured = avw::test::captured_task_pod_events();
  // Up to the moment list-task-pods.json was taken: every pod ended, none deleted.
  for (std::size_t i = 0; i < 12; ++i) replay(api, captured[i]);

  // A selector hides how many remain (etcd counts keys, not matches): no remainingItemCount.
  const rapidjson::Document page =
      list_like_capture(call(api, "GET", std::string(kTaskPods) + "&limit=2"), "api/list-task-pods.json");
  const rapidjson::Document fixture = parse(avw::test::read_fixture("api/list-task-pods.json"));
  CHECK(item_names(page) == item_names(fixture));
  for (rapidjson::SizeType i = 0; i < fixture["items"].Size(); ++i) {
    CHECK(without_server_fields(to_json(page["items"][i])) == without_server_fields(to_json(fixture["items"][i])));
  }

  const Response second =
      call(api, "GET",
           std::string(kTaskPods) + "&limit=2&continue=" + avw::kube::url_encode(str(page["metadata"]["continue"])));
  REQUIRE(second.status == 200);
  const rapidjson::Document last = parse(second.body);
  CHECK(item_names(last) == std::vector<std::string>{"etl-load-retry", "etl-load-sidecar"});
  CHECK_FALSE(last["metadata"].HasMember("continue"));
  CHECK(str(last["metadata"]["resourceVersion"]) == str(page["metadata"]["resourceVersion"]));
}

// ---- watches ----------------------------------------------------------------------------

TEST_CASE("a label-selected pod watch receives the captured stream in order, with the same objects",
          "[kube][fake][pods][watch]") {
  FakeApiServer api(without_fixtures());
  api.upsert("pods", web_pod());
  WatchStream watch(api, watch_target(api, "dag_id%2Ctask_id"));

  const std::vector<CapturedPodEvent> captured = avw::test::captured_task_pod_events();
  REQUIRE(captured.size() == 16);
  for (std::size_t i = 0; i < captured.size(); ++i) {
    replay(api, captured[i]);
    if (i == 5) api.upsert("pods", web_pod("nginx:1.26"));  // not a task pod: never sent
  }
  api.bookmark();
  REQUIRE(watch.wait_for(captured.size() + 1));

  const std::vector<std::string> lines = watch.lines();
  REQUIRE(lines.size() == captured.size() + 1);
  std::uint64_t last_version = 0;
  for (std::size_t i = 0; i < captured.size(); ++i) {
    CAPTURE(i);
    const rapidjson::Document event = parse(lines[i]);
    CHECK(str(event["type"]) == captured[i].type);
    CHECK(without_server_fields(to_json(event["object"])) == without_server_fields(captured[i].object));
    const std::uint64_t version = std::stoull(str(event["object"]["metadata"]["resourceVersion"]));
    CHECK(version > last_version);
    last_version = version;
  }
  // The BOOKMARK of a built-in kind carries the struct's zero values, as captured.
  const std::string stream = avw::test::read_fixture("api/watch-task-pods.ndjson");
  const std::string captured_bookmark = stream.substr(stream.rfind("{\"type\":\"BOOKMARK\""));
  const std::string version = api.resource_version();
  CHECK(lines.back() == edited(captured_bookmark, [&](rapidjson::Document& doc) {
          doc["object"]["metadata"]["resourceVersion"].SetString(
              version.data(), static_cast<rapidjson::SizeType>(version.size()), doc.GetAllocator());
        }));
}

TEST_CASE("a pod that stops matching a selector watch is sent as DELETED, and ADDED when it matches again",
          "[kube][fake][pods][watch]") {
  FakeApiServer api(without_fixtures());
  WatchStream watch(api, watch_target(api, "dag_id%3Detl"));
  const std::string pod = pod_json(TaskPod("etl-load-oom", "etl", "load"));

  api.upsert("pods", pod);
  const std::string moved_version = api.upsert("pods", pod_with_dag(pod, "ml"));
  api.upsert("pods", with_containers_running(pod_with_dag(pod, "ml")));  // matches neither before nor after: unseen
  api.upsert("pods", pod);
  api.bookmark();
  REQUIRE(watch.wait_for(4));

  const std::vector<std::string> lines = watch.lines();
  REQUIRE(lines.size() == 4);
  const rapidjson::Document added = parse(lines[0]);
  const rapidjson::Document gone = parse(lines[1]);
  const rapidjson::Document back = parse(lines[2]);
  CHECK(str(added["type"]) == "ADDED");
  // The watch cache sends the last state that matched, with the resourceVersion of the change.
  CHECK(str(gone["type"]) == "DELETED");
  CHECK(str(gone["object"]["metadata"]["labels"]["dag_id"]) == "etl");
  CHECK(str(gone["object"]["metadata"]["resourceVersion"]) == moved_version);
  CHECK(without_server_fields(to_json(gone["object"])) == without_server_fields(to_json(added["object"])));
  CHECK(str(back["type"]) == "ADDED");
  CHECK(str(back["object"]["metadata"]["labels"]["dag_id"]) == "etl");
  CHECK_THAT(lines[3], StartsWith(R"({"type":"BOOKMARK")"));
}

TEST_CASE("a forced pod delete is a MODIFIED with its deletionTimestamp, then the DELETED",
          "[kube][fake][pods][watch]") {
  FakeApiServer api(without_fixtures());
  WatchStream watch(api, watch_target(api, "dag_id%2Ctask_id"));
  const std::string pod = with_container_ended(pod_json(TaskPod("etl-load-oom", "etl", "load")), {});
  api.upsert("pods", pod);
  api.upsert("pods", pod_json(TaskPod("etl-load-retry", "etl", "load")));

  SECTION("by the test") { REQUIRE(api.force_delete_pod("airflow", "etl-load-oom")); }
  SECTION("by a DELETE request") {
    CHECK(call(api, "DELETE", "/api/v1/namespaces/airflow/pods/etl-load-oom").status == 200);
  }
  REQUIRE(watch.wait_for(4));
  const std::vector<std::string> lines = watch.lines();
  REQUIRE(lines.size() == 4);
  const rapidjson::Document marked = parse(lines[2]);
  const rapidjson::Document deleted = parse(lines[3]);
  CHECK(str(marked["type"]) == "MODIFIED");
  CHECK(str(deleted["type"]) == "DELETED");
  // In the captured place: after creationTimestamp, before labels.
  std::vector<std::string> captured_order =
      member_names(parse(avw::test::captured_task_pod_events()[12].object)["metadata"]);
  REQUIRE(captured_order.back() == "managedFields");  // which built pods leave out
  captured_order.pop_back();
  CHECK(member_names(marked["object"]["metadata"]) == captured_order);
  CHECK(integer(marked["object"]["metadata"]["deletionGracePeriodSeconds"]) == 0);
  CHECK(without_server_fields(to_json(deleted["object"])) == without_server_fields(to_json(marked["object"])));
  CHECK(std::stoull(str(deleted["object"]["metadata"]["resourceVersion"])) ==
        std::stoull(str(marked["object"]["metadata"]["resourceVersion"])) + 1);
  CHECK_FALSE(api.get("pods", "airflow", "etl-load-oom"));
}

// ---- the task pod builders -----------------------------------------------------------

TEST_CASE("the task pod builders make the captured pods at every step", "[kube][fake][pods]") {
  const std::vector<CapturedPodEvent> captured = avw::test::captured_task_pod_events();
  const auto same = [](const std::string& built, const CapturedPodEvent& e) {
    const std::initializer_list<const char*> server_side = {"uid", "resourceVersion", "managedFields"};
    return without_server_fields(built, server_side) == without_server_fields(e.object, server_side);
  };

  SECTION("an operator pod killed for memory") {
    TaskPod p("etl-load-oom", "etl", "load");
    const std::string created = pod_json(p);
    const std::string running = with_containers_running(created, "2026-12-06T18:26:24Z");
    CHECK(same(created, captured[0]));
    CHECK(same(running, captured[1]));
    CHECK(same(with_container_ended(running, ContainerEnd{}), captured[2]));
  }
  SECTION("its retry with more memory, completed") {
    TaskPod p("etl-load-retry", "etl", "load");
    p.try_number = 2;
    p.containers = {TaskPodContainer("base", "1Gi", "2Gi")};
    p.creation_timestamp = "2026-12-06T18:26:27Z";
    const std::string running = with_containers_running(pod_json(p), "2026-12-06T18:26:27Z");
    CHECK(same(pod_json(p), captured[3]));
    CHECK(same(running, captured[4]));
    CHECK(same(with_container_ended(running, {"base", "Completed", 0, "2026-12-06T18:26:28Z", "2026-12-06T18:26:31Z"}),
               captured[5]));
  }
  SECTION("an operator pod whose sidecar is stopped after its base was killed") {
    TaskPod p("etl-load-sidecar", "etl", "load");
    p.run_id = "manual__2026-12-06T1200000000-aa11";
    TaskPodContainer sidecar("airflow-xcom-sidecar", "10Mi", "");
    sidecar.cpu_request = "1m";
    p.containers = {TaskPodContainer("base", "300Mi", ""), sidecar};
    p.creation_timestamp = "2026-12-06T18:26:31Z";
    const std::string running = with_containers_running(pod_json(p), "2026-12-06T18:26:31Z");
    const std::string base_killed =
        with_container_ended(running, {"base", "OOMKilled", 137, "2026-12-06T18:26:32Z", "2026-12-06T18:26:34Z"});
    CHECK(str(parse(base_killed)["status"]["phase"]) == "Running");  // the sidecar still runs
    CHECK(same(pod_json(p), captured[6]));
    CHECK(same(running, captured[7]));
    CHECK(same(with_container_ended(
                   base_killed, {"airflow-xcom-sidecar", "Error", 143, "2026-12-06T18:26:32Z", "2026-12-06T18:26:34Z"}),
               captured[8]));
  }
  SECTION("an executor pod, completed") {
    TaskPod p("etl-load-exec", "etl", "load", Launcher::Executor);
    p.run_id = "manual__2026-12-06T1200000000-aa11";
    TaskPodContainer base("base", "1Gi", "");
    base.cpu_request = "500m";
    p.containers = {base};
    p.creation_timestamp = "2026-12-06T18:26:35Z";
    const std::string running = with_containers_running(pod_json(p), "2026-12-06T18:26:35Z");
    CHECK(same(pod_json(p), captured[9]));
    CHECK(same(running, captured[10]));
    CHECK(same(with_container_ended(running, {"base", "Completed", 0, "2026-12-06T18:26:35Z", "2026-12-06T18:26:37Z"}),
               captured[11]));
  }
}

// ---- Events -----------------------------------------------------------------------------

TEST_CASE("an events.k8s.io Event is created with a generated name, in the captured shape", "[kube][fake][events]") {
  FakeApiServer api(without_fixtures());
  const Response created =
      call(api, "POST", "/apis/events.k8s.io/v1/namespaces/airflow/events", events_v1_body("etl-load-kpo-0a72e120-"));
  check_created_like_capture(created, "api/create-event-events-v1-response.json", "etl-load-kpo-0a72e120-");
  CHECK(api.events() == std::vector<std::string>{created.body});
  CHECK(str(parse(created.body)["metadata"]["resourceVersion"]) == api.resource_version());

  const Response listed = call(api, "GET", "/apis/events.k8s.io/v1/namespaces/airflow/events");
  REQUIRE(listed.status == 200);
  CHECK(str(parse(listed.body)["kind"]) == "EventList");
  CHECK(item_names(parse(listed.body)) == std::vector<std::string>{str(parse(created.body)["metadata"]["name"])});
}

TEST_CASE("a core v1 Event is created in the captured shape, a generateName ending in a dot included",
          "[kube][fake][events]") {
  FakeApiServer api(without_fixtures());
  const Response created =
      call(api, "POST", "/api/v1/namespaces/airflow/events", core_v1_body("etl-load-kpo-0a72e120."));
  check_created_like_capture(created, "api/create-event-core-v1-response.json", "etl-load-kpo-0a72e120.");
  CHECK(api.events().size() == 1);
}

TEST_CASE("events.k8s.io/v1 refuses a generateName ending in a dot", "[kube][fake][events]") {
  FakeApiServer api(without_fixtures());
  const Response refused =
      call(api, "POST", "/apis/events.k8s.io/v1/namespaces/airflow/events", events_v1_body("etl-load-kpo-0a72e120."));
  CHECK(refused.status == 422);
  const rapidjson::Document status = parse(refused.body);
  CHECK(str(status["reason"]) == "Invalid");
  CHECK(integer(status["code"]) == 422);
  CHECK_THAT(str(status["message"]), StartsWith(R"(Event.events.k8s.io "etl-load-kpo-0a72e120.)"));
  CHECK_THAT(str(status["message"]),
             Contains(R"(is invalid: metadata.generateName: Invalid value: "etl-load-kpo-0a72e120.": a lowercase )"
                      R"(RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and )"
                      R"(must start and end with an alphanumeric character)"));
  CHECK(str(status["details"]["group"]) == "events.k8s.io");
  CHECK(str(status["details"]["kind"]) == "Event");
  CHECK(str(status["details"]["causes"][0]["field"]) == "metadata.generateName");
  CHECK(api.events().empty());
}

TEST_CASE("an Event without the object it is about, or without a reason, is invalid", "[kube][fake][events]") {
  FakeApiServer api(without_fixtures());
  const std::string events_v1 = "/apis/events.k8s.io/v1/namespaces/airflow/events";
  const std::string core_v1 = "/api/v1/namespaces/airflow/events";
  // The internal type's field path, whichever API was used.
  const std::string mismatch =
      R"(is invalid: involvedObject.namespace: Invalid value: "": does not match event.namespace)";

  const Response no_regarding = call(api, "POST", events_v1, without_member(events_v1_body("a-"), "regarding"));
  CHECK(no_regarding.status == 422);
  CHECK_THAT(message_of(no_regarding), Contains(mismatch));

  const Response no_reason = call(api, "POST", events_v1, without_member(events_v1_body("a-"), "reason"));
  CHECK(no_reason.status == 422);
  CHECK_THAT(message_of(no_reason), Contains("is invalid: reason: Required value"));

  const Response no_involved = call(api, "POST", core_v1, without_member(core_v1_body("a."), "involvedObject"));
  CHECK(no_involved.status == 422);
  CHECK_THAT(message_of(no_involved), StartsWith(R"(Event "a.)"));
  CHECK_THAT(message_of(no_involved), Contains(mismatch));
  CHECK(api.events().empty());

  // Core v1 checks the reason only of an Event with an eventTime (the "new" kind of Event);
  // an old-style one without a reason is accepted, as the real server's legacy validation does.
  const Response old_style = call(api, "POST", core_v1, without_member(core_v1_body("a."), "reason"));
  CHECK(old_style.status == 201);
  const std::string new_style = edited(without_member(core_v1_body("a."), "reason"), [](rapidjson::Document& doc) {
    doc.AddMember("eventTime", "2026-12-06T18:26:38.000000Z", doc.GetAllocator());
    doc.AddMember("reportingComponent", "airflow-vpa-webhook.io/webhook", doc.GetAllocator());
    doc.AddMember("reportingInstance", "airflow-vpa-webhook-7d9f8-x2x", doc.GetAllocator());
    doc.AddMember("action", "RaiseMemoryFloor", doc.GetAllocator());
  });
  const Response refused = call(api, "POST", core_v1, new_style);
  CHECK(refused.status == 422);
  CHECK_THAT(message_of(refused), Contains("is invalid: reason: Required value"));
}

// ---- status merge patches ---------------------------------------------------------------

TEST_CASE("a status merge patch with a stale resourceVersion answers 409 Conflict", "[kube][fake][patch]") {
  FakeApiServer api;
  const std::string task = "/apis/airflow-vpa-webhook.io/v1alpha1/namespaces/airflow/airflowtasks/etl-daily-load";
  const std::string version =
      str(parse(*api.get("airflowtasks", "airflow", "etl-daily-load"))["metadata"]["resourceVersion"]);
  const auto patch = [](std::string_view rv) {
    return R"({"metadata":{"resourceVersion":")" + std::string(rv) +
           R"("},"status":{"lastOOMKill":"2026-12-06T18:26:27Z"}})";
  };

  const Response stale = call(api, "PATCH", task + "/status", patch("1"), kMergePatch);
  CHECK(stale.status == 409);
  CHECK(stale.body ==
        R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be )"
        R"(fulfilled on airflowtasks.airflow-vpa-webhook.io \"etl-daily-load\": the object has been modified; please )"
        R"(apply your changes to the latest version and try again","reason":"Conflict","details":{"name":)"
        R"("etl-daily-load","group":"airflow-vpa-webhook.io","kind":"airflowtasks"},"code":409})");
  CHECK(str(parse(*api.get("airflowtasks", "airflow", "etl-daily-load"))["metadata"]["resourceVersion"]) == version);

  const Response current = call(api, "PATCH", task + "/status", patch(version), kMergePatch);
  REQUIRE(current.status == 200);
  const rapidjson::Document written = parse(current.body);
  CHECK(str(written["status"]["lastOOMKill"]) == "2026-12-06T18:26:27Z");
  CHECK(str(written["metadata"]["resourceVersion"]) != version);

  // The version that just succeeded is stale now.
  CHECK(call(api, "PATCH", task + "/status", patch(version), kMergePatch).status == 409);
}

TEST_CASE("a status patch changes only status, and an object patch never status", "[kube][fake][patch]") {
  FakeApiServer api;
  const std::string task = "/apis/airflow-vpa-webhook.io/v1alpha1/namespaces/airflow/airflowtasks/etl-daily-load";
  const rapidjson::Document before = parse(*api.get("airflowtasks", "airflow", "etl-daily-load"));

  const Response status =
      call(api, "PATCH", task + "/status",
           R"({"metadata":{"labels":{"x":"y"}},"spec":{"replicas":5},"status":{"replicas":3}})", kMergePatch);
  REQUIRE(status.status == 200);
  const rapidjson::Document after_status = parse(status.body);
  CHECK(integer(after_status["status"]["replicas"]) == 3);
  CHECK(after_status["spec"] == before["spec"]);
  CHECK_FALSE(after_status["metadata"].HasMember("labels"));
  CHECK_FALSE(before["metadata"].HasMember("labels"));

  const Response object = call(api, "PATCH", task, R"({"spec":{"replicas":5},"status":{"replicas":9}})", kMergePatch);
  REQUIRE(object.status == 200);
  const rapidjson::Document after_object = parse(object.body);
  CHECK(integer(after_object["spec"]["replicas"]) == 5);
  CHECK(integer(after_object["status"]["replicas"]) == 3);
}

TEST_CASE("a merge patch that changes nothing writes nothing", "[kube][fake][patch]") {
  FakeApiServer api;
  const std::string task = "/apis/airflow-vpa-webhook.io/v1alpha1/namespaces/airflow/airflowtasks/etl-daily-load";
  const std::string stored = *api.get("airflowtasks", "airflow", "etl-daily-load");
  const std::string before = api.resource_version();

  const Response same = call(api, "PATCH", task + "/status", R"({"status":{"replicas":0}})", kMergePatch);
  REQUIRE(same.status == 200);
  CHECK(same.body == stored);
  CHECK(api.resource_version() == before);
}
