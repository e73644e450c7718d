// The selectors of VPA targets that are not AirflowTasks (see scale_targets.hpp).
#include "scale_targets.hpp"

#include <exception>
#include <set>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <spdlog/spdlog.h>

#include "avw/async/async.hpp"
#include "avw/core/decode_error.hpp"
#include "avw/core/object_list.hpp"
#include "avw/kube/client.hpp"
#include "avw/kube/url.hpp"
#include "avw/metrics/metrics.hpp"

namespace avw::source {
namespace {

namespace net = boost::asio;  // from <boost/asio.hpp>
using Clock = std::chrono::steady_clock;

constexpr std::string_view kAirflowTaskGroup = "airflow-vpa-webhook.io";

std::string_view group_of(std::string_view api_version) {
  const auto slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string_view{} : api_version.substr(0, slash);
}

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

// The path that answers a target's selector: its /scale, or the object itself.
std::string lookup_path(const std::string& namespace_, const core::TargetRef& ref) {
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
  std::string path = prefix + "/namespaces/" + kube::url_encode(namespace_) + "/" + plural + "/" +
                     kube::url_encode(ref.name);
  if (scale) path += "/scale";
  return path;
}

std::string entry_key(const std::string& namespace_, const core::TargetRef& ref) {
  return namespace_ + "/" + std::string(group_of(ref.api_version)) + "/" + ref.kind + "/" + ref.name;
}

}  // namespace

ScaleTargets::ScaleTargets(net::io_context& context, std::shared_ptr<kube::Client> client,
                           ScaleTargetsOptions options, metrics::Registry& registry)
    : context_(context), client_(std::move(client)), options_(options), registry_(registry), timer_(context) {}

void ScaleTargets::start(std::function<void()> on_changed) {
  on_changed_ = std::move(on_changed);
  net::co_spawn(context_, run(shared_from_this()), async::log_exception("kube", "scale lookups"));
}

void ScaleTargets::stop() {
  stopped_ = true;
  timer_.cancel();
}

void ScaleTargets::want_targets_of(const std::vector<const ObjectMap*>& vpas) {
  std::set<std::string> wanted;
  bool added = false;
  for (const ObjectMap* map : vpas) {
    for (const auto& [key, object] : *map) {
      const auto& vpa = std::get<core::PackedObject>(object);
      const auto ref_view = vpa.target_ref();
      if (!ref_view || ref_view->kind.empty() || ref_view->name.empty()) continue;
      if (group_of(ref_view->api_version) == kAirflowTaskGroup && ref_view->kind == "AirflowTask") continue;
      const core::TargetRef ref{std::string(ref_view->api_version), std::string(ref_view->kind),
                                std::string(ref_view->name)};
      const std::string namespace_(vpa.namespace_());
      std::string k = entry_key(namespace_, ref);
      if (!entries_.contains(k)) {
        entries_.emplace(k, Entry{namespace_, ref, std::nullopt, false, {}});
        added = true;
      }
      wanted.insert(std::move(k));
    }
  }
  std::erase_if(entries_, [&wanted](const auto& kv) { return !wanted.contains(kv.first); });
  if (added) {
    wake_ = true;
    timer_.cancel();
  }
}

std::size_t ScaleTargets::add_to(core::SnapshotBuilder& builder) const {
  std::size_t added = 0;
  for (const auto& [key, entry] : entries_) {
    if (entry.target) {
      builder.add(*entry.target);
      ++added;
    }
  }
  return added;
}

net::awaitable<void> ScaleTargets::run(std::shared_ptr<ScaleTargets> self) {
  while (!self->stopped_) {
    bool retry_soon = false;
    try {
      retry_soon = co_await self->round();
    } catch (const std::exception& e) {
      spdlog::error("kube: scale lookups: unexpected error: {}", e.what());
      retry_soon = true;
    }
    if (self->stopped_) co_return;
    if (self->wake_) {
      self->wake_ = false;
      continue;
    }
    self->timer_.expires_after(retry_soon ? self->options_.retry : self->options_.refresh);
    co_await self->timer_.async_wait(async::use_nothrow_awaitable);
    self->wake_ = false;
  }
}

// Reads the entries never read or older than `refresh`. True when one failed.
net::awaitable<bool> ScaleTargets::round() {
  std::vector<std::string> due;
  const auto now = Clock::now();
  for (const auto& [key, entry] : entries_) {
    if (!entry.fetched || now - entry.fetched_at >= options_.refresh) due.push_back(key);
  }
  bool failed = false;
  bool changed = false;
  for (const auto& key : due) {
    auto it = entries_.find(key);
    if (it == entries_.end()) continue;
    const std::string path = lookup_path(it->second.namespace_, it->second.ref);
    kube::Response r = co_await client_->request({"GET", path, {}, "application/json"});
    if (stopped_) co_return false;
    it = entries_.find(key);  // the map may have changed while waiting
    if (it == entries_.end()) continue;
    Entry& entry = it->second;
    std::optional<core::ScaleTarget> target;
    if (r.ok()) {
      target = decode_target(entry, r.body);
    } else if (r.status == 404) {
      spdlog::info("kube: VPA target {} {}/{} not found ({})", entry.ref.kind, entry.namespace_, entry.ref.name, path);
    } else {
      failed = true;
      registry_
          .counter("avw_kube_api_errors_total", "Failed Kubernetes API calls, by resource and HTTP code.",
                   {{"resource", "scale"}, {"code", r.status == 0 ? std::string("network") : std::to_string(r.status)}})
          .inc();
      spdlog::warn("kube: reading the selector of {} {}/{} failed: {}", entry.ref.kind, entry.namespace_,
                   entry.ref.name, kube::describe(r));
      continue;  // keep what we had
    }
    entry.fetched = true;
    entry.fetched_at = Clock::now();
    const bool same =
        entry.target.has_value() == target.has_value() && (!target || entry.target->selector == target->selector);
    if (!same) changed = true;
    entry.target = std::move(target);
  }
  if (changed && on_changed_) on_changed_();
  co_return failed;
}

// A Scale (or the object itself, for kinds without /scale) as the VPA's target: the
// identity is the VPA's targetRef, the selector the object's.
std::optional<core::ScaleTarget> ScaleTargets::decode_target(const Entry& entry, const std::string& body) {
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

}  // namespace avw::source
