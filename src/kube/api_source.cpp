#include "avw/kube/api_source.hpp"

#include <array>
#include <atomic>
#include <exception>
#include <map>
#include <random>
#include <set>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "avw/async/async.hpp"
#include "avw/core/object_list.hpp"
#include "avw/core/objects.hpp"
#include "avw/core/watch_event.hpp"
#include "avw/kube/client.hpp"
#include "avw/kube/url.hpp"
#include "avw/metrics/metrics.hpp"

namespace avw::kube {
namespace {

namespace net = boost::asio;  // from <boost/asio.hpp>
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

using avw::async::use_nothrow_awaitable;

constexpr std::string_view kAirflowTaskGroup = "airflow-vpa-webhook.io";

enum class Kind : std::uint8_t { Vpa, AirflowTask, LimitRange, Checkpoint, Namespace };
constexpr std::size_t kKinds = 5;

struct Resource {
  Kind kind;
  std::string_view api_prefix;  // "/apis/<group>/<version>" or "/api/v1"
  std::string_view plural;      // also the metric label
  bool optional;                // a missing CRD (404 on list) counts as an empty list
  bool cluster_scoped = false;  // one stream for the cluster, whatever the namespaces option
};

constexpr Resource kVpas{Kind::Vpa, "/apis/autoscaling.k8s.io/v1", "verticalpodautoscalers", false};
constexpr Resource kAirflowTasks{Kind::AirflowTask, "/apis/airflow-vpa-webhook.io/v1alpha1", "airflowtasks", true};
constexpr Resource kLimitRanges{Kind::LimitRange, "/api/v1", "limitranges", false};
constexpr Resource kCheckpoints{Kind::Checkpoint, "/apis/autoscaling.k8s.io/v1",
                                "verticalpodautoscalercheckpoints", true};
// Namespace annotations override the safety gates per namespace (core/gates.hpp).
constexpr Resource kNamespaces{Kind::Namespace, "/api/v1", "namespaces", false, true};

// VPAs, targets and checkpoints (most of a cluster's objects: one each per task, one per task
// container) are kept packed; the few LimitRanges and Namespaces decoded, on the heap so
// that the map's nodes stay small.
using Object = std::variant<core::PackedObject, std::unique_ptr<const core::LimitRange>,
                            std::unique_ptr<const core::NamespaceInfo>>;
using ObjectMap = std::unordered_map<std::string, Object>;  // "namespace/name" -> object

std::string object_key(const core::ObjectMeta& meta) { return meta.namespace_ + "/" + meta.name; }

// Moves the objects of `kind` from a decoded document into `map`, replacing same-named ones.
// Objects of other kinds are ignored: a stream only owns what it lists.
std::size_t take_objects(Kind kind, core::DecodedObjects& objects, ObjectMap& map) {
  auto move_all = [&map](auto& list) {
    for (auto& o : list) {
      std::string key = object_key(o.meta);
      using T = std::decay_t<decltype(o)>;
      if constexpr (std::is_same_v<T, core::LimitRange> || std::is_same_v<T, core::NamespaceInfo>) {
        map.insert_or_assign(std::move(key), Object(std::make_unique<const T>(std::move(o))));
      } else {
        map.insert_or_assign(std::move(key), Object(core::PackedObject::pack(o)));
      }
    }
    return list.size();
  };
  switch (kind) {
    case Kind::Vpa: return move_all(objects.vpas);
    case Kind::AirflowTask: return move_all(objects.targets);
    case Kind::LimitRange: return move_all(objects.limit_ranges);
    case Kind::Checkpoint: return move_all(objects.checkpoints);
    case Kind::Namespace: return move_all(objects.namespaces);
  }
  return 0;
}

std::size_t erase_objects(Kind kind, const core::DecodedObjects& objects, ObjectMap& map) {
  auto erase_all = [&map](const auto& list) {
    for (const auto& o : list) map.erase(object_key(o.meta));
    return list.size();
  };
  switch (kind) {
    case Kind::Vpa: return erase_all(objects.vpas);
    case Kind::AirflowTask: return erase_all(objects.targets);
    case Kind::LimitRange: return erase_all(objects.limit_ranges);
    case Kind::Checkpoint: return erase_all(objects.checkpoints);
    case Kind::Namespace: return erase_all(objects.namespaces);
  }
  return 0;
}


std::string_view group_of(std::string_view api_version) {
  const auto slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string_view{} : api_version.substr(0, slash);
}

// How the selector of a VPA target that is not an AirflowTask is found. Kinds with a /scale
// subresource report it there; the others (as the VPA's own target fetcher does) are read
// whole and their selector taken from the object.
struct KnownKind {
  std::string_view group;
  std::string_view kind;
  std::string_view plural;
  bool has_scale;
};
constexpr KnownKind kKnownKinds[] = {
    {"apps", "Deployment", "deployments", true},
    {"apps", "StatefulSet", "statefulsets", true},
    {"apps", "ReplicaSet", "replicasets", true},
    {"apps", "DaemonSet", "daemonsets", false},
    {"", "ReplicationController", "replicationcontrollers", true},
    {"batch", "Job", "jobs", false},
    {"batch", "CronJob", "cronjobs", false},
    {"argoproj.io", "Rollout", "rollouts", true},
    {"apps.openshift.io", "DeploymentConfig", "deploymentconfigs", true},
};

struct TargetLookup {
  std::string path;
  bool scale;
};

TargetLookup target_lookup(const std::string& namespace_, const core::TargetRef& ref) {
  const std::string_view group = group_of(ref.api_version);
  std::string plural;
  bool scale = true;
  for (const auto& k : kKnownKinds) {
    if (k.group == group && k.kind == ref.kind) {
      plural = std::string(k.plural);
      scale = k.has_scale;
    }
  }
  if (plural.empty()) {
    // Custom resources are conventionally the lowercase kind plus "s"; a CRD with an irregular
    // plural simply yields a 404, and its VPA governs no pod, as with the recommender.
    for (char c : ref.kind) {
      plural.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    }
    plural.push_back('s');
  }
  const std::string prefix = group.empty() ? "/api/" + ref.api_version : "/apis/" + ref.api_version;
  std::string path = prefix + "/namespaces/" + url_encode(namespace_) + "/" + plural + "/" + url_encode(ref.name);
  if (scale) path += "/scale";
  return {std::move(path), scale};
}

// Watch event types, indexed by core::WatchEvent::Type.
constexpr std::array<const char*, 5> kEventTypes = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};

struct Stream {
  Stream(const Resource& r, std::string ns, BackoffPolicy policy)
      : resource(r), namespace_(std::move(ns)), backoff(policy) {}

  std::string label() const {
    return namespace_.empty() ? std::string(resource.plural)
                              : std::string(resource.plural) + " in " + namespace_;
  }
  std::string collection_path() const {
    std::string path(resource.api_prefix);
    if (!namespace_.empty()) path += "/namespaces/" + url_encode(namespace_);
    path += "/";
    path += resource.plural;
    return path;
  }

  const Resource& resource;
  std::string namespace_;  // empty: all namespaces
  ObjectMap items;
  std::string resource_version;
  bool listed = false;     // a complete list arrived at least once
  bool need_list = true;
  bool missing = false;    // the last list answered 404 (CRD not installed)
  Clock::time_point listed_at{};
  Backoff backoff;
  /// avw_kube_watch_events_total by type, registered once: events are the hot path here.
  std::array<metrics::Counter*, kEventTypes.size()> events{};
};

struct ScaleEntry {
  std::string namespace_;
  core::TargetRef ref;
  std::optional<core::ScaleTarget> target;
  bool fetched = false;
  Clock::time_point fetched_at{};
};

class State : public std::enable_shared_from_this<State> {
 public:
  State(net::io_context& context, ClusterConfig config, ApiSourceOptions options, metrics::Registry& registry)
      : context_(context),
        options_(std::move(options)),
        client_(context, std::move(config), options_.client),
        registry_(registry),
        scale_timer_(context),
        rng_(std::random_device{}()),
        synced_gauge_(registry.gauge("avw_kube_synced", "1 once every resource was listed and a snapshot published.")),
        last_sync_gauge_(registry.gauge("avw_kube_last_sync_timestamp_seconds",
                                        "Unix time of the last successful list, watch event or bookmark.")),
        rebuild_seconds_(registry.histogram("avw_kube_snapshot_rebuild_seconds",
                                            "Time to build a snapshot from the listed and watched objects.",
                                            {0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5})) {
    std::vector<const Resource*> resources{&kVpas, &kAirflowTasks, &kLimitRanges};
    if (options_.watch_checkpoints) resources.push_back(&kCheckpoints);
    if (options_.watch_namespaces) resources.push_back(&kNamespaces);
    std::vector<std::string> scopes = options_.namespaces;
    if (scopes.empty()) scopes.emplace_back();
    const std::vector<std::string> cluster{std::string()};
    for (const Resource* r : resources) {
      for (const auto& ns : r->cluster_scoped ? cluster : scopes) {
        auto stream = std::make_unique<Stream>(*r, ns, options_.backoff);
        for (std::size_t i = 0; i < kEventTypes.size(); ++i) {
          stream->events[i] = &registry.counter(
              "avw_kube_watch_events_total", "Watch events received, by resource and type.",
              {{"resource", std::string(r->plural)}, {"type", kEventTypes[i]}});
        }
        streams_.push_back(std::move(stream));
      }
    }
    for (const char* kind : {"vpas", "targets", "limitranges", "checkpoints", "namespaces"}) {
      store_gauges_.push_back(&registry.gauge("avw_kube_store_objects",
                                              "Objects in the published snapshot, by kind.", {{"kind", kind}}));
    }
  }

  void start(source::Publish publish) {
    publish_ = std::move(publish);
    started_at_ = Clock::now();
    for (auto& s : streams_) {
      net::co_spawn(context_, run_stream(shared_from_this(), s.get()), async::log_exception("kube", "watch of " + s->label()));
    }
    net::co_spawn(context_, run_scale_lookups(shared_from_this()), async::log_exception("kube", "scale lookups"));
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    sleeps_.stop();
    scale_timer_.cancel();
    client_.close();
  }

  bool synced() const { return synced_.load(std::memory_order_acquire); }

  std::optional<std::chrono::system_clock::time_point> last_sync() const {
    const auto ticks = last_sync_.load(std::memory_order_acquire);
    if (ticks == 0) return std::nullopt;
    return std::chrono::system_clock::time_point(std::chrono::system_clock::duration(ticks));
  }

 private:
  // ---- waiting -----------------------------------------------------------------------
  // A sleep that stop() cuts short. Returns false once stopped.
  net::awaitable<bool> sleep(Clock::duration d) { return sleeps_.sleep(context_, d); }

  std::uint64_t random() { return rng_(); }

  // ---- metrics -----------------------------------------------------------------------
  metrics::Counter& counter(std::string_view name, std::string_view help, metrics::Labels labels) {
    return registry_.counter(name, help, labels);
  }
  void count_api_error(const Stream& s, const std::string& code) {
    counter("avw_kube_api_errors_total", "Failed Kubernetes API calls, by resource and HTTP code.",
            {{"resource", std::string(s.resource.plural)}, {"code", code}})
        .inc();
  }
  void count_relist(const Stream& s, const char* reason) {
    counter("avw_kube_relists_total", "Lists of a resource, by reason (initial, expired, resync, retry).",
            {{"resource", std::string(s.resource.plural)}, {"reason", reason}})
        .inc();
  }
  void count_watch_restart(const Stream& s, const char* reason) {
    counter("avw_kube_watch_restarts_total",
            "Watches started again, by reason (timeout, dropped, expired, error).",
            {{"resource", std::string(s.resource.plural)}, {"reason", reason}})
        .inc();
  }
  static void count_event(const Stream& s, core::WatchEvent::Type type) {
    s.events[static_cast<std::size_t>(type)]->inc();
  }
  void touch_sync() {
    const auto now = std::chrono::system_clock::now();
    last_sync_.store(now.time_since_epoch().count(), std::memory_order_release);
    last_sync_gauge_.set(static_cast<double>(
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count()) / 1000.0);
  }

  // ---- one resource: list, then watch --------------------------------------------------
  static net::awaitable<void> run_stream(std::shared_ptr<State> self, Stream* s) {
    while (!self->stopped_) {
      Clock::duration wait{};
      try {
        wait = co_await self->step(*s);
      } catch (const std::exception& e) {
        // A bug must not end the watch for good: log it and start over with a list.
        spdlog::error("kube: {}: unexpected error: {}", s->label(), e.what());
        s->need_list = true;
        wait = s->backoff.next(self->random());
      }
      if (wait > Clock::duration::zero() && !co_await self->sleep(wait)) co_return;
    }
  }

  // One list or one watch; returns how long to wait before the next step.
  net::awaitable<Clock::duration> step(Stream& s) {
    if (!s.need_list && s.listed && Clock::now() - s.listed_at >= options_.resync) {
      s.need_list = true;
      count_relist(s, "resync");
    }
    if (s.need_list) co_return co_await list(s);
    co_return co_await watch(s);
  }

  net::awaitable<Clock::duration> list(Stream& s) {
    if (!s.listed && s.backoff.attempt() == 0) count_relist(s, "initial");
    ObjectMap fresh;
    std::string resource_version;
    std::string continue_token;
    std::size_t skipped = 0;
    for (;;) {
      std::string target = s.collection_path() + "?limit=" + std::to_string(options_.page_size);
      if (!continue_token.empty()) target += "&continue=" + url_encode(continue_token);
      Response r = co_await client_.request({"GET", target, {}, "application/json"});
      if (stopped_) co_return Clock::duration::zero();
      if (r.status == 410 && !continue_token.empty()) {
        // The continue token outlived etcd's compaction window: the list so far is not a
        // consistent snapshot any more, so start it again from the first page.
        spdlog::info("kube: {}: list continue token expired; listing again", s.label());
        count_api_error(s, "410");
        count_relist(s, "expired");
        fresh.clear();
        continue_token.clear();
        continue;
      }
      if (r.status == 404 && s.resource.optional) {
        if (!s.missing) {
          spdlog::warn("kube: {} not found (is the CRD installed?); treating it as empty and "
                       "trying again every {} ms",
                       s.label(), options_.missing_retry.count());
        }
        count_api_error(s, "404");
        const bool changed = !s.items.empty() || !s.listed;
        s.items.clear();
        s.resource_version.clear();
        s.missing = true;
        s.listed = true;
        s.need_list = true;
        s.listed_at = Clock::now();
        s.backoff.reset();
        if (changed) mark_dirty();
        co_return options_.missing_retry;
      }
      if (!r.ok()) {
        count_api_error(s, r.status == 0 ? "network" : std::to_string(r.status));
        const auto wait = s.backoff.next(random());
        spdlog::warn("kube: list {} failed: {}; retrying in {} ms", s.label(), describe(r), wait.count());
        count_relist(s, "retry");
        co_return wait;
      }
      core::DecodedObjects page;
      try {
        page = core::decode_objects(r.body);
      } catch (const core::DecodeError& e) {
        count_api_error(s, "decode");
        const auto wait = s.backoff.next(random());
        spdlog::warn("kube: list {}: undecodable page: {}; retrying in {} ms", s.label(), e.what(), wait.count());
        co_return wait;
      }
      for (const auto& err : page.errors) spdlog::warn("kube: {}: skipped: {}", s.label(), err);
      skipped += page.errors.size();
      take_objects(s.resource.kind, page, fresh);
      resource_version = page.list_resource_version;
      continue_token = page.list_continue;
      if (continue_token.empty()) break;
    }
    if (s.missing) spdlog::info("kube: {} is available now", s.label());
    spdlog::info("kube: listed {}: {} objects at resourceVersion {}{}", s.label(), fresh.size(), resource_version,
                 skipped == 0 ? std::string() : " (" + std::to_string(skipped) + " skipped)");
    s.items = std::move(fresh);
    s.resource_version = std::move(resource_version);
    s.missing = false;
    s.listed = true;
    s.need_list = false;
    s.listed_at = Clock::now();
    s.backoff.reset();
    touch_sync();
    mark_dirty();
    co_return Clock::duration::zero();
  }

  struct WatchState {
    bool expired = false;
    int error_code = 0;
    std::string error_message;
    bool changed = false;
  };

  bool apply_event(Stream& s, std::string_view line, WatchState& w) {
    core::WatchEvent event;
    try {
      event = core::decode_watch_event(line);
    } catch (const core::DecodeError& e) {
      // One undecodable line loses one event; the periodic resync repairs that.
      count_api_error(s, "decode");
      spdlog::warn("kube: {}: undecodable watch event: {}", s.label(), e.what());
      return true;
    }
    for (const auto& err : event.objects.errors) spdlog::warn("kube: {}: skipped: {}", s.label(), err);
    count_event(s, event.type);
    switch (event.type) {
      case core::WatchEvent::Type::Added:
      case core::WatchEvent::Type::Modified:
        w.changed = take_objects(s.resource.kind, event.objects, s.items) > 0 || w.changed;
        break;
      case core::WatchEvent::Type::Deleted:
        w.changed = erase_objects(s.resource.kind, event.objects, s.items) > 0 || w.changed;
        break;
      case core::WatchEvent::Type::Bookmark:
        break;
      case core::WatchEvent::Type::Error:
        // 410 Expired arrives as an ERROR event inside a 200 stream (tests/fixtures/README.md).
        if (event.error_code == 410) {
          w.expired = true;
        } else {
          w.error_code = event.error_code;
          w.error_message = event.error_message;
        }
        return false;
    }
    if (!event.resource_version.empty()) s.resource_version = std::move(event.resource_version);
    touch_sync();
    if (w.changed) mark_dirty();
    return true;
  }

  net::awaitable<Clock::duration> watch(Stream& s) {
    auto timeout = jittered(std::chrono::duration_cast<std::chrono::milliseconds>(options_.watch_timeout), 100, random());
    // End the watch when the next full resync is due, so the relist is not late by a whole watch.
    const auto until_resync =
        std::chrono::duration_cast<std::chrono::milliseconds>(s.listed_at + options_.resync - Clock::now());
    timeout = std::min(timeout, until_resync);
    const auto timeout_seconds =
        std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(timeout).count());
    std::string target = s.collection_path() + "?watch=1&allowWatchBookmarks=true";
    if (!s.resource_version.empty()) target += "&resourceVersion=" + url_encode(s.resource_version);
    target += "&timeoutSeconds=" + std::to_string(timeout_seconds);

    WatchState w;
    const auto started = Clock::now();
    const auto deadline = std::chrono::seconds(timeout_seconds) + options_.watch_grace;
    WatchResult result = co_await client_.watch(
        std::move(target), [this, &s, &w](std::string_view line) { return apply_event(s, line, w); },
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline));
    if (stopped_) co_return Clock::duration::zero();

    if (w.expired || result.status == 410) {
      spdlog::info("kube: {}: resourceVersion {} expired; listing again", s.label(), s.resource_version);
      count_watch_restart(s, "expired");
      count_relist(s, "expired");
      s.need_list = true;
      co_return Clock::duration::zero();
    }
    if (result.lines > 0) s.backoff.reset();
    if (result.status != 0 && result.status != 200) {
      Response r{result.status, std::move(result.body), {}};
      count_api_error(s, std::to_string(result.status));
      count_watch_restart(s, "error");
      const auto wait = s.backoff.next(random());
      spdlog::warn("kube: watch {} failed: {}; retrying in {} ms", s.label(), describe(r), wait.count());
      co_return wait;
    }
    if (w.error_code != 0 || !w.error_message.empty()) {
      count_api_error(s, std::to_string(w.error_code));
      count_watch_restart(s, "error");
      const auto wait = s.backoff.next(random());
      spdlog::warn("kube: watch {}: error event {}: {}; retrying in {} ms", s.label(), w.error_code,
                   w.error_message, wait.count());
      co_return wait;
    }
    if (result.stopped) co_return Clock::duration::zero();
    if (result.completed) {
      count_watch_restart(s, "timeout");
      // A server that ends every watch at once would make this loop spin: back off then.
      if (result.lines == 0 && Clock::now() - started < 1s) co_return s.backoff.next(random());
      spdlog::debug("kube: watch {} ended; resuming at resourceVersion {}", s.label(), s.resource_version);
      co_return Clock::duration::zero();
    }
    count_api_error(s, result.status == 0 ? "network" : "dropped");
    count_watch_restart(s, "dropped");
    const auto wait = s.backoff.next(random());
    spdlog::warn("kube: watch {} interrupted: {}; resuming at resourceVersion {} in {} ms", s.label(),
                 result.error.empty() ? std::string("connection closed") : result.error, s.resource_version,
                 wait.count());
    co_return wait;
  }

  // ---- snapshots ---------------------------------------------------------------------
  bool all_listed() const {
    for (const auto& s : streams_) {
      if (!s->listed) return false;
    }
    return true;
  }

  // Events arrive one by one and there can be 100k VPAs: rebuild at most once per
  // `coalesce` (or more rarely for a large store, see rebuild_soon), and at once when the
  // last rebuild is older than that.
  void mark_dirty() {
    dirty_ = true;
    if (rebuild_scheduled_ || stopped_ || !all_listed()) return;
    rebuild_scheduled_ = true;
    net::co_spawn(context_, rebuild_soon(shared_from_this()), async::log_exception("kube", "snapshot rebuild"));
  }

  static net::awaitable<void> rebuild_soon(std::shared_ptr<State> self) {
    if (self->published_) {
      // A rebuild of a large store takes a while (~0.2 s for 10k VPAs): spacing rebuilds by
      // twice the last one's cost keeps them under a third of a core under constant churn.
      const auto next = self->last_build_ + std::max<Clock::duration>(self->options_.coalesce,
                                                                       2 * self->last_build_cost_);
      const auto now = Clock::now();
      if (next > now && !co_await self->sleep(next - now)) co_return;
    }
    self->rebuild_scheduled_ = false;
    if (self->stopped_ || !self->dirty_) co_return;
    self->rebuild();
  }

  void rebuild() {
    dirty_ = false;
    last_build_ = Clock::now();
    update_scale_wanted();

    // VPAs and targets are packed straight from the streams' maps (no copy of the decoded
    // objects); the few others are copied, the snapshot owns them.
    core::SnapshotBuilder builder(options_.store);
    core::DecodedObjects others;
    std::size_t counts[kKinds] = {};
    for (const auto& s : streams_) {
      counts[static_cast<std::size_t>(s->resource.kind)] += s->items.size();
      for (const auto& [key, object] : s->items) {
        std::visit(
            [&](const auto& o) {
              using T = std::decay_t<decltype(o)>;
              if constexpr (std::is_same_v<T, core::PackedObject>) {
                builder.add(o);
              } else if constexpr (std::is_same_v<T, std::unique_ptr<const core::LimitRange>>) {
                others.limit_ranges.push_back(*o);
              } else {
                others.namespaces.push_back(*o);
              }
            },
            object);
      }
    }
    for (const auto& [key, entry] : scale_entries_) {
      if (entry.target) {
        builder.add(*entry.target);
        ++counts[static_cast<std::size_t>(Kind::AirflowTask)];
      }
    }
    builder.add(others);
    const auto copied = Clock::now();
    auto snapshot = builder.finish();
    auto ms = [](Clock::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
    last_build_cost_ = Clock::now() - last_build_;
    rebuild_seconds_.observe(std::chrono::duration<double>(last_build_cost_).count());
    spdlog::debug("kube: snapshot rebuilt: {} ms to pack, {} ms to index", ms(copied - last_build_),
                  ms(Clock::now() - copied));
    for (std::size_t i = 0; i < store_gauges_.size(); ++i) store_gauges_[i]->set(static_cast<double>(counts[i]));
    const bool first = !published_;
    published_ = true;
    // Ready as the first complete snapshot goes out: whoever is handed it may ask.
    synced_.store(true, std::memory_order_release);
    if (publish_) publish_(std::move(snapshot));
    if (first) {
      synced_gauge_.set(1);
      spdlog::info("kube: synced in {} ms: {} VPAs, {} targets, {} LimitRanges, {} checkpoints, {} namespaces",
                   std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_at_).count(),
                   counts[0], counts[1], counts[2], counts[3], counts[4]);
    }
  }

  // ---- VPA targets that are not AirflowTasks: their selector via /scale --------------
  static std::string scale_key(const std::string& namespace_, const core::TargetRef& ref) {
    return namespace_ + "/" + std::string(group_of(ref.api_version)) + "/" + ref.kind + "/" + ref.name;
  }

  // Which targets need a lookup, from the VPAs now known; wakes the lookup loop for new ones.
  void update_scale_wanted() {
    std::set<std::string> wanted;
    bool added = false;
    for (const auto& s : streams_) {
      if (s->resource.kind != Kind::Vpa) continue;
      for (const auto& [key, object] : s->items) {
        const auto& vpa = std::get<core::PackedObject>(object);
        const auto ref_view = vpa.target_ref();
        if (!ref_view || ref_view->kind.empty() || ref_view->name.empty()) continue;
        if (group_of(ref_view->api_version) == kAirflowTaskGroup && ref_view->kind == "AirflowTask") continue;
        const core::TargetRef ref{std::string(ref_view->api_version), std::string(ref_view->kind),
                                  std::string(ref_view->name)};
        const std::string namespace_(vpa.namespace_());
        std::string k = scale_key(namespace_, ref);
        if (!scale_entries_.contains(k)) {
          scale_entries_.emplace(k, ScaleEntry{namespace_, ref, std::nullopt, false, {}});
          added = true;
        }
        wanted.insert(std::move(k));
      }
    }
    std::erase_if(scale_entries_, [&wanted](const auto& kv) { return !wanted.contains(kv.first); });
    if (added) {
      scale_wake_ = true;
      scale_timer_.cancel();
    }
  }

  static net::awaitable<void> run_scale_lookups(std::shared_ptr<State> self) {
    while (!self->stopped_) {
      bool retry_soon = false;
      try {
        retry_soon = co_await self->scale_round();
      } catch (const std::exception& e) {
        spdlog::error("kube: scale lookups: unexpected error: {}", e.what());
        retry_soon = true;
      }
      if (self->stopped_) co_return;
      if (self->scale_wake_) {
        self->scale_wake_ = false;
        continue;
      }
      self->scale_timer_.expires_after(retry_soon ? std::chrono::milliseconds(self->options_.backoff.max)
                                                  : self->options_.scale_refresh);
      co_await self->scale_timer_.async_wait(use_nothrow_awaitable);
      self->scale_wake_ = false;
    }
  }

  // Fetches the entries never fetched or older than scale_refresh. True when one failed.
  net::awaitable<bool> scale_round() {
    std::vector<std::string> due;
    const auto now = Clock::now();
    for (const auto& [key, entry] : scale_entries_) {
      if (!entry.fetched || now - entry.fetched_at >= options_.scale_refresh) due.push_back(key);
    }
    bool failed = false;
    bool changed = false;
    for (const auto& key : due) {
      auto it = scale_entries_.find(key);
      if (it == scale_entries_.end()) continue;
      const TargetLookup lookup = target_lookup(it->second.namespace_, it->second.ref);
      Response r = co_await client_.request({"GET", lookup.path, {}, "application/json"});
      if (stopped_) co_return false;
      it = scale_entries_.find(key);  // the map may have changed while waiting
      if (it == scale_entries_.end()) continue;
      ScaleEntry& entry = it->second;
      std::optional<core::ScaleTarget> target;
      if (r.ok()) {
        target = decode_target(entry, r.body);
      } else if (r.status == 404) {
        spdlog::info("kube: VPA target {} {}/{} not found ({})", entry.ref.kind, entry.namespace_,
                     entry.ref.name, lookup.path);
      } else {
        failed = true;
        counter("avw_kube_api_errors_total", "Failed Kubernetes API calls, by resource and HTTP code.",
                {{"resource", "scale"}, {"code", r.status == 0 ? std::string("network") : std::to_string(r.status)}})
            .inc();
        spdlog::warn("kube: reading the selector of {} {}/{} failed: {}", entry.ref.kind, entry.namespace_,
                     entry.ref.name, describe(r));
        continue;  // keep what we had
      }
      entry.fetched = true;
      entry.fetched_at = Clock::now();
      const bool same = entry.target.has_value() == target.has_value() &&
                        (!target || entry.target->selector == target->selector);
      if (!same) changed = true;
      entry.target = std::move(target);
    }
    if (changed) mark_dirty();
    co_return failed;
  }

  // A Scale (or the object itself, for kinds without /scale) as the VPA's target: the
  // identity is the VPA's targetRef, the selector the object's.
  static std::optional<core::ScaleTarget> decode_target(const ScaleEntry& entry, const std::string& body) {
    core::DecodedObjects decoded;
    try {
      decoded = core::decode_objects(body);
    } catch (const core::DecodeError& e) {
      spdlog::warn("kube: the selector of {} {}/{} is unreadable: {}", entry.ref.kind, entry.namespace_,
                   entry.ref.name, e.what());
      return std::nullopt;
    }
    if (decoded.targets.empty()) {
      spdlog::warn("kube: {} {}/{} reports no selector{}", entry.ref.kind, entry.namespace_, entry.ref.name,
                   decoded.errors.empty() ? std::string() : ": " + decoded.errors.front());
      return std::nullopt;
    }
    core::ScaleTarget target = std::move(decoded.targets.front());
    target.meta.namespace_ = entry.namespace_;
    target.meta.name = entry.ref.name;
    target.api_version = entry.ref.api_version;
    target.kind = entry.ref.kind;
    return target;
  }

  net::io_context& context_;
  ApiSourceOptions options_;
  Client client_;
  metrics::Registry& registry_;
  std::vector<std::unique_ptr<Stream>> streams_;
  source::Publish publish_;
  bool stopped_ = false;
  async::StoppableSleep sleeps_;

  bool dirty_ = false;
  bool rebuild_scheduled_ = false;
  bool published_ = false;
  Clock::time_point last_build_{};
  Clock::duration last_build_cost_{};
  Clock::time_point started_at_{};

  std::map<std::string, ScaleEntry> scale_entries_;
  net::steady_timer scale_timer_;
  bool scale_wake_ = false;

  std::mt19937_64 rng_;
  std::atomic<bool> synced_{false};
  std::atomic<std::chrono::system_clock::rep> last_sync_{0};
  metrics::Gauge& synced_gauge_;
  metrics::Gauge& last_sync_gauge_;
  metrics::Histogram& rebuild_seconds_;
  std::vector<metrics::Gauge*> store_gauges_;
};

class ApiSource final : public source::RecommendationSource {
 public:
  ApiSource(net::io_context& context, std::shared_ptr<State> state) : context_(context), state_(std::move(state)) {}
  ~ApiSource() override { stop(); }
  ApiSource(const ApiSource&) = delete;
  ApiSource& operator=(const ApiSource&) = delete;

  // source::RecommendationSource
  void start(source::Publish publish) override { state_->start(std::move(publish)); }
  void stop() override {
    // The state belongs to the control context; the pending coroutines keep it alive until
    // they have seen the cancellation.
    net::dispatch(context_, [state = state_] { state->stop(); });
  }
  bool synced() const override { return state_->synced(); }
  std::optional<std::chrono::system_clock::time_point> last_sync() const override { return state_->last_sync(); }

 private:
  net::io_context& context_;
  std::shared_ptr<State> state_;
};

}  // namespace

std::unique_ptr<source::RecommendationSource> make_api_source(net::io_context& control, ClusterConfig config,
                                                              ApiSourceOptions options,
                                                              metrics::Registry& registry) {
  auto state = std::make_shared<State>(control, std::move(config), std::move(options), registry);
  return std::make_unique<ApiSource>(control, std::move(state));
}

}  // namespace avw::kube
