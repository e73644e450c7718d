#include "avw/provision/provisioner.hpp"

#include <atomic>
#include <compare>
#include <exception>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "avw/async/async.hpp"
#include "avw/kube/client.hpp"
#include "avw/metrics/metrics.hpp"
#include "avw/provision/objects.hpp"
#include "avw/provision/waiting_vpas.hpp"

namespace avw::provision {
namespace {

namespace net = boost::asio;  // from <boost/asio.hpp>

using avw::async::use_nothrow_awaitable;

// The task key with owned strings: the key given to observe() views into a request that is
// gone by the time the control context looks at it.
struct TaskId {
  std::string namespace_;
  std::string dag_id;
  std::string task_id;
  core::Launcher launcher = core::Launcher::Other;

  core::TaskKey key() const { return {namespace_, dag_id, task_id, launcher}; }
  std::string label() const {
    return namespace_ + "/" + dag_id + "/" + task_id + "/" + std::string(core::to_string(launcher));
  }
  friend auto operator<=>(const TaskId&, const TaskId&) = default;
};

// What this replica knows of a task.
struct Entry {
  TimePoint last_seen{};     // last observation
  TimePoint last_written{};  // lastSeen last written to the API
  TimePoint failed_at{};
  bool provisioned = false;  // AirflowTask, status and VPA are known to exist
  bool failed = false;       // the last upkeep ended with an error that is not worth retrying at once
  bool busy = false;         // an upkeep coroutine runs for it
};

enum class Result { Created, Exists, Refreshed };

struct Attempt {
  enum class Kind { Done, Retry, GiveUp } kind = Kind::Done;
  Result result = Result::Refreshed;
  std::string what;  // why it failed
};

// Which failures are worth retrying now: no answer, throttling, the server's own trouble.
// Others (403 without RBAC, 404 without the CRD, 422 invalid) wait for the next sight.
bool transient(const kube::Response& r) { return r.status == 0 || r.status == 429 || r.status >= 500; }

Attempt failed(const std::string& what, const kube::Response& r) {
  return {transient(r) ? Attempt::Kind::Retry : Attempt::Kind::GiveUp, Result::Refreshed,
          what + ": " + kube::describe(r)};
}


class State : public std::enable_shared_from_this<State> {
 public:
  State(net::io_context& context, std::shared_ptr<kube::Client> client, ProvisionerOptions options, metrics::Registry& registry)
      : context_(context),
        client_(std::move(client)),
        options_(std::move(options)),
        rng_(std::random_device{}()),
        created_(result_counter(registry, "created")),
        exists_(result_counter(registry, "exists")),
        refreshed_(result_counter(registry, "refreshed")),
        errors_(result_counter(registry, "error")),
        dropped_(result_counter(registry, "dropped")),
        gc_deleted_(gc_counter(registry, "deleted")),
        gc_conflict_(gc_counter(registry, "conflict")),
        gc_gone_(gc_counter(registry, "gone")),
        gc_errors_(gc_counter(registry, "error")),
        known_gauge_(registry.gauge("avw_provision_known_tasks", "Tasks this replica has seen and remembers.")),
        recommender_updates_(registry.counter(
            "avw_provision_vpa_recommender_updates_total",
            "Managed VPAs whose spec.recommenders was changed to the configured recommender (--vpa-recommender).")),
        registry_(registry) {
    if (!options_.clock) options_.clock = [] { return std::chrono::system_clock::now(); };
    if (options_.gc_page_size == 0) options_.gc_page_size = 500;
    if (options_.vpa_page_size == 0) options_.vpa_page_size = 500;
  }

  // Any thread.
  void observe(const core::TaskKey& key) {
    if (!options_.enabled || stopping_.load(std::memory_order_acquire)) return;
    if (pending_.fetch_add(1, std::memory_order_relaxed) >= options_.max_pending) {
      pending_.fetch_sub(1, std::memory_order_relaxed);
      dropped_.inc();
      const auto n = dropped_.value();
      // Once, then every 1000th: the queue is full because the control context is behind,
      // and a log line per pod would make it worse.
      if (n == 1 || n % 1000 == 0) {
        spdlog::warn("provision: {} task observations dropped (over {} queued)", n, options_.max_pending);
      }
      return;
    }
    net::post(context_, [self = shared_from_this(),
                         id = TaskId{std::string(key.namespace_), std::string(key.dag_id), std::string(key.task_id),
                                     key.launcher}]() mutable {
      self->pending_.fetch_sub(1, std::memory_order_relaxed);
      self->on_observed(std::move(id));
    });
  }

  // Any thread.
  void start() {
    if (!options_.enabled) return;
    net::post(context_, [self = shared_from_this()] {
      if (self->stopped_ || self->gc_running_) return;
      self->gc_running_ = true;
      net::co_spawn(self->context_, run_gc(self), async::log_exception("provision", "garbage collection"));
    });
  }

  // Any thread.
  void stop() {
    stopping_.store(true, std::memory_order_release);
    net::dispatch(context_, [self = shared_from_this()] {
      self->stopped_ = true;
      self->sleeps_.stop();
    });
  }

 private:
  static metrics::Counter& result_counter(metrics::Registry& registry, const char* result) {
    return registry.counter("avw_provision_total",
                            "Task provisioning outcomes: AirflowTask created, found existing, lastSeen refreshed, "
                            "failed attempts, observations dropped.",
                            {{"result", result}});
  }
  static metrics::Counter& gc_counter(metrics::Registry& registry, const char* result) {
    return registry.counter("avw_provision_gc_total",
                            "Unseen AirflowTasks: deleted, kept because changed meanwhile (conflict), already gone, "
                            "failed.",
                            {{"result", result}});
  }

  TimePoint now() const { return options_.clock(); }
  std::uint64_t random() { return rng_(); }

  // A sleep that stop() cuts short. Returns false once stopped.
  net::awaitable<bool> sleep(std::chrono::milliseconds d) { return sleeps_.sleep(context_, d); }

  // ---- provisioning ------------------------------------------------------------------
  void on_observed(TaskId id) {
    if (stopped_) return;
    const TimePoint t = now();
    auto [it, inserted] = known_.try_emplace(std::move(id));
    Entry& e = it->second;
    e.last_seen = t;
    if (inserted) known_gauge_.set(static_cast<double>(known_.size()));
    if (e.busy) return;
    if (e.failed) {
      if (t - e.failed_at < options_.backoff.max) return;
    } else if (e.provisioned && t - e.last_written < options_.refresh) {
      return;
    }
    e.busy = true;
    net::co_spawn(context_, upkeep(shared_from_this(), it->first), async::log_exception("provision", "provisioning " + it->first.label()));
  }

  // Creates (or refreshes) one task until it succeeds, fails for good, or stop() is called.
  static net::awaitable<void> upkeep(std::shared_ptr<State> self, TaskId id) {
    bool known = self->known_.at(id).provisioned;
    kube::Backoff backoff(self->options_.backoff);
    std::optional<TimePoint> written;
    std::optional<Attempt> last;  // the attempt that ended the upkeep: done or given up
    while (!self->stopped_) {
      Attempt a;
      try {
        a = co_await self->attempt(id, known, written);
      } catch (const std::exception& ex) {
        a = {Attempt::Kind::GiveUp, Result::Refreshed, std::string("unexpected error: ") + ex.what()};
      }
      if (a.kind == Attempt::Kind::Done || a.kind == Attempt::Kind::GiveUp) {
        last = std::move(a);
        break;
      }
      self->errors_.inc();
      const auto wait = backoff.next(self->random());
      spdlog::warn("provision: task {}: {}; retrying in {} ms", id.label(), a.what, wait.count());
      if (!co_await self->sleep(wait)) break;
    }
    // The entry first, the counters after: whoever sees a counter move (a test, a scrape
    // followed by a pod) finds the task's state already updated.
    Entry& e = self->known_.at(id);
    e.busy = false;
    if (written) {
      e.provisioned = true;
      e.failed = false;
      e.last_written = *written;
    } else if (last && last->kind == Attempt::Kind::GiveUp) {
      e.failed = true;
      e.failed_at = self->now();
    }
    if (!last) co_return;
    if (last->kind == Attempt::Kind::Done) {
      (last->result == Result::Created ? self->created_ : last->result == Result::Exists ? self->exists_ : self->refreshed_)
          .inc();
    } else {
      self->errors_.inc();
      spdlog::error("provision: task {}: {}; trying again when it is seen after {} ms", id.label(), last->what,
                    self->options_.backoff.max.count());
    }
  }

  // One pass of the idempotent steps. `known`: the AirflowTask is believed to exist (a
  // refresh); set to false when it turns out to be gone, so the next attempt creates it.
  net::awaitable<Attempt> attempt(const TaskId& id, bool& known, std::optional<TimePoint>& written) {
    const core::TaskKey key = id.key();
    const std::string name = core::task_object_name(key);
    const std::string where = id.namespace_ + "/" + name;
    Result result = Result::Refreshed;
    if (!known) {
      const kube::Response r = co_await client_->request(
          kube::Request("POST", airflow_task_path(id.namespace_), airflow_task_json(key, options_.label_keys)));
      if (r.status == 201) {
        result = Result::Created;
        spdlog::info("provision: created AirflowTask {} for task {}", where, id.label());
      } else if (r.status == 409) {
        result = Result::Exists;  // another replica, an earlier run, or a person made it
      } else {
        co_return failed("creating AirflowTask " + where, r);
      }
    }
    // The status carries what /scale serves; its answer carries the uid of the object as it
    // is now (a replica may have deleted and re-created it since our POST).
    const TimePoint seen = now();
    const kube::Response patched = co_await client_->request(
        kube::Request("PATCH", airflow_task_path(id.namespace_, name) + "/status",
                      status_patch_json(key, options_.label_keys, seen), "application/merge-patch+json"));
    if (patched.status == 404) {
      // Deleted after we created or last saw it (garbage collection of another replica, or a
      // person): create it again.
      known = false;
      co_return Attempt{Attempt::Kind::Retry, result, "AirflowTask " + where + " is gone; creating it again"};
    }
    if (!patched.ok()) co_return failed("updating the status of AirflowTask " + where, patched);
    const std::optional<std::string> uid = object_uid(patched.body);
    if (!uid) {
      co_return Attempt{Attempt::Kind::Retry, result, "the status update of AirflowTask " + where + " has no uid"};
    }
    known = true;
    // Posted on every refresh too: a VPA that someone deleted comes back; 409 is the usual answer.
    const kube::Response vpa = co_await client_->request(
        kube::Request("POST", vpa_path(id.namespace_), vpa_json(key, *uid, options_.recommender)));
    if (vpa.status == 201) {
      spdlog::info("provision: created VerticalPodAutoscaler {} (owner uid {})", where, *uid);
    } else if (vpa.status == 409) {
      // It exists, perhaps from before --vpa-recommender changed: bring it to the setting.
      if (std::optional<Attempt> trouble = co_await align_recommender(id.namespace_, name)) {
        trouble->result = result;
        co_return std::move(*trouble);
      }
    } else {
      co_return failed("creating VerticalPodAutoscaler " + where, vpa);
    }
    written = seen;
    co_return Attempt{Attempt::Kind::Done, result, {}};
  }

  // Makes the existing VPA `name` name the configured recommender, if the provisioner manages
  // it. nullopt when it does (now or already), or when it is not ours to change; otherwise
  // what went wrong.
  net::awaitable<std::optional<Attempt>> align_recommender(const std::string& namespace_, const std::string& name) {
    const std::string where = namespace_ + "/" + name;
    const kube::Response got = co_await client_->request(kube::Request("GET", vpa_path(namespace_, name)));
    if (got.status == 404) {
      co_return Attempt{Attempt::Kind::Retry, Result::Refreshed,
                        "VerticalPodAutoscaler " + where + " is gone; creating it again"};
    }
    if (!got.ok()) co_return failed("reading VerticalPodAutoscaler " + where, got);
    std::string error;
    const std::optional<ListedVpa> vpa = parse_vpa(got.body, &error);
    if (!vpa) {
      co_return Attempt{Attempt::Kind::GiveUp, Result::Refreshed,
                        "reading VerticalPodAutoscaler " + where + ": " + error};
    }
    // Without the label it is someone else's VPA that happens to have the name: left alone.
    if (!vpa->managed || vpa->names(options_.recommender)) co_return std::nullopt;
    const kube::Response patched = co_await client_->request(
        kube::Request("PATCH", vpa_path(namespace_, name),
                      recommenders_patch_json(options_.recommender, vpa->resource_version),
                      "application/merge-patch+json"));
    if (patched.status == 409 || patched.status == 404) {
      // Changed or deleted since it was read: read it again (or create it) on the next pass.
      co_return Attempt{Attempt::Kind::Retry, Result::Refreshed,
                        "VerticalPodAutoscaler " + where + " changed while its recommender was set"};
    }
    if (!patched.ok()) co_return failed("setting the recommender of VerticalPodAutoscaler " + where, patched);
    recommender_updates_.inc();
    spdlog::info("provision: VerticalPodAutoscaler {} now names recommender {} (it named {})", where,
                 recommender_label(options_.recommender), vpa->served_by());
    co_return std::nullopt;
  }

  // How a log line names the recommender of a setting: "default" for none, as the VPA API does.
  static std::string recommender_label(const std::string& recommender) {
    return recommender.empty() ? "default" : recommender;
  }

  // ---- garbage collection ------------------------------------------------------------
  static net::awaitable<void> run_gc(std::shared_ptr<State> self) {
    while (co_await self->sleep(self->options_.gc_interval)) {
      try {
        co_await self->collect();
      } catch (const std::exception& ex) {
        self->gc_errors_.inc();
        spdlog::error("provision: garbage collection failed: {}", ex.what());
      }
      try {
        co_await self->count_waiting_vpas();
      } catch (const std::exception& ex) {
        spdlog::error("provision: counting VPAs without a recommendation failed: {}", ex.what());
      }
    }
  }

  // ---- VPAs that wait for a recommendation ------------------------------------------------
  // Lists the managed VPAs and tells, per recommender, how many still have no recommendation
  // long after they were made. Off the admission path and outside readiness: a recommender
  // that does not answer costs recommendations, never admissions.
  net::awaitable<void> count_waiting_vpas() {
    const TimePoint t = now();
    RecommenderTally tally;
    std::string continue_token;
    do {
      const kube::Response r = co_await client_->request(
          kube::Request("GET", managed_vpas_list_path(options_.vpa_page_size, continue_token)));
      if (stopped_) co_return;
      if (!r.ok()) {
        spdlog::warn("provision: listing VerticalPodAutoscalers to find those without a recommendation failed: {}",
                     kube::describe(r));
        co_return;
      }
      std::string error;
      std::optional<VpaListPage> page = parse_vpa_list(r.body, &error);
      if (!page) {
        spdlog::warn("provision: undecodable VerticalPodAutoscaler list: {}", error);
        co_return;
      }
      for (const auto& e : page->errors) spdlog::warn("provision: counting VPAs skipped {}", e);
      add_to_tally(tally, page->items, t, options_.recommendation_grace);
      continue_token = std::move(page->continue_token);
    } while (!continue_token.empty());

    // A recommender seen in an earlier round and not now has no VPAs left: its gauges go to 0.
    for (const auto& seen : recommender_gauges_) tally.try_emplace(seen.first);
    const std::string grace = spelled(options_.recommendation_grace);
    for (const auto& [recommender, counts] : tally) {
      RecommenderGauges& gauges = gauges_for(recommender);
      gauges.waiting->set(static_cast<double>(counts.waiting));
      gauges.recommended->set(static_cast<double>(counts.recommended));
      if (counts.waiting == 0) continue;
      if (counts.recommended == 0) {
        // Nothing with that name has answered for any task: it is not running, or not under
        // that name. The one line an operator needs, once per round while it lasts.
        spdlog::warn("provision: {} provisioned VPAs name recommender \"{}\" and have no recommendation {} or "
                     "more after they were created, and none of its VPAs has one: is a VPA recommender running "
                     "with --recommender-name={}?",
                     counts.waiting, recommender, grace, recommender);
      } else {
        // It answers for other tasks, so these are most likely tasks too short to be sampled.
        spdlog::info("provision: {} provisioned VPAs of recommender \"{}\" have no recommendation {} or more "
                     "after they were created ({} of its VPAs have one)",
                     counts.waiting, recommender, grace, counts.recommended);
      }
    }
  }

  // A duration as the flags spell it, in its largest whole unit: 6h, 90m, 45s.
  static std::string spelled(std::chrono::seconds d) {
    const auto n = d.count();
    if (n % 3600 == 0) return std::to_string(n / 3600) + "h";
    if (n % 60 == 0) return std::to_string(n / 60) + "m";
    return std::to_string(n) + "s";
  }

  struct RecommenderGauges {
    metrics::Gauge* waiting = nullptr;
    metrics::Gauge* recommended = nullptr;
  };

  RecommenderGauges& gauges_for(const std::string& recommender) {
    auto [it, inserted] = recommender_gauges_.try_emplace(recommender);
    if (inserted) {
      it->second.waiting = &registry_.gauge(
          "avw_provision_vpas_without_recommendation",
          "Managed VPAs created --missing-recommendation-after ago or more that still have no recommendation, by the "
          "recommender they name (default: none named).",
          {{"recommender", recommender}});
      it->second.recommended = &registry_.gauge(
          "avw_provision_vpas_with_recommendation",
          "Managed VPAs that have a recommendation, by the recommender they name (default: none named).",
          {{"recommender", recommender}});
    }
    return it->second;
  }

  net::awaitable<void> collect() {
    const TimePoint t = now();
    std::vector<ListedTask> stale;
    std::size_t listed = 0;
    std::string continue_token;
    do {
      const kube::Response r = co_await client_->request(
          kube::Request("GET", managed_tasks_list_path(options_.gc_page_size, continue_token)));
      if (stopped_) co_return;
      if (!r.ok()) {
        gc_errors_.inc();
        spdlog::warn("provision: listing AirflowTasks for garbage collection failed: {}; next try in {} s",
                     kube::describe(r),
                     std::chrono::duration_cast<std::chrono::seconds>(options_.gc_interval).count());
        co_return;
      }
      std::string error;
      std::optional<TaskListPage> page = parse_task_list(r.body, &error);
      if (!page) {
        gc_errors_.inc();
        spdlog::warn("provision: undecodable AirflowTask list: {}", error);
        co_return;
      }
      for (const auto& e : page->errors) spdlog::warn("provision: garbage collection skipped {}", e);
      listed += page->items.size();
      for (auto& task : page->items) {
        // The label is checked here too: only what the provisioner made is ever deleted.
        if (task.managed && is_stale(task, t, options_.forget_after) && !seen_lately(task, t)) {
          stale.push_back(std::move(task));
        }
      }
      continue_token = std::move(page->continue_token);
    } while (!continue_token.empty());

    std::size_t deleted = 0;
    for (const ListedTask& task : stale) {
      if (stopped_) co_return;
      const std::string where = task.namespace_ + "/" + task.name;
      const kube::Response r = co_await client_->request(kube::Request(
          "DELETE", airflow_task_path(task.namespace_, task.name), delete_options_json(task.resource_version)));
      if (r.ok()) {
        ++deleted;
        gc_deleted_.inc();
        spdlog::info("provision: deleted AirflowTask {} (not seen since {}; its VPA goes with it)", where,
                     format_rfc3339(task.last_seen ? *task.last_seen : task.created.value_or(TimePoint{})));
        forget(task);
      } else if (r.status == 409) {
        gc_conflict_.inc();  // changed since the list: another replica saw the task again
        spdlog::info("provision: kept AirflowTask {}: it changed since it was listed", where);
      } else if (r.status == 404) {
        gc_gone_.inc();
        forget(task);
      } else {
        gc_errors_.inc();
        spdlog::warn("provision: deleting AirflowTask {} failed: {}", where, kube::describe(r));
      }
    }
    // Forget what has not been seen for as long as the API keeps it, so the map stays bounded.
    for (auto it = known_.begin(); it != known_.end();) {
      if (!it->second.busy && t - it->second.last_seen >= options_.forget_after) {
        it = known_.erase(it);
      } else {
        ++it;
      }
    }
    known_gauge_.set(static_cast<double>(known_.size()));
    spdlog::debug("provision: garbage collection: {} managed AirflowTasks, {} stale, {} deleted", listed,
                  stale.size(), deleted);
  }

  // This replica saw a pod of the task recently, even if writing lastSeen failed.
  bool seen_lately(const ListedTask& task, TimePoint t) const {
    for (const auto& [id, entry] : known_) {
      if (id.namespace_ == task.namespace_ && core::task_object_name(id.key()) == task.name) {
        return t - entry.last_seen < options_.forget_after;
      }
    }
    return false;
  }

  // The next pod of a deleted task creates it again.
  void forget(const ListedTask& task) {
    for (auto it = known_.begin(); it != known_.end(); ++it) {
      if (!it->second.busy && it->first.namespace_ == task.namespace_ &&
          core::task_object_name(it->first.key()) == task.name) {
        known_.erase(it);
        return;
      }
    }
  }

  net::io_context& context_;
  std::shared_ptr<kube::Client> client_;
  ProvisionerOptions options_;
  std::mt19937_64 rng_;
  std::atomic<std::size_t> pending_{0};
  std::atomic<bool> stopping_{false};
  // Control context only from here on.
  bool stopped_ = false;
  bool gc_running_ = false;
  std::map<TaskId, Entry> known_;
  async::StoppableSleep sleeps_;
  metrics::Counter& created_;
  metrics::Counter& exists_;
  metrics::Counter& refreshed_;
  metrics::Counter& errors_;
  metrics::Counter& dropped_;
  metrics::Counter& gc_deleted_;
  metrics::Counter& gc_conflict_;
  metrics::Counter& gc_gone_;
  metrics::Counter& gc_errors_;
  metrics::Gauge& known_gauge_;
  metrics::Counter& recommender_updates_;
  metrics::Registry& registry_;
  std::map<std::string, RecommenderGauges> recommender_gauges_;
};

class ProvisionerImpl final : public Provisioner {
 public:
  explicit ProvisionerImpl(std::shared_ptr<State> state) : state_(std::move(state)) {}
  ~ProvisionerImpl() override { stop(); }
  ProvisionerImpl(const ProvisionerImpl&) = delete;
  ProvisionerImpl& operator=(const ProvisionerImpl&) = delete;

  // provision::Provisioner
  void observe(const core::TaskKey& key) override { state_->observe(key); }
  void start() override { state_->start(); }
  // The state belongs to the control context; pending coroutines keep it alive until they
  // have seen the cancellation.
  void stop() override { state_->stop(); }

 private:
  std::shared_ptr<State> state_;
};

}  // namespace

std::unique_ptr<Provisioner> make_provisioner(net::io_context& control, std::shared_ptr<kube::Client> client,
                                              ProvisionerOptions options, metrics::Registry& registry) {
  return std::make_unique<ProvisionerImpl>(
      std::make_shared<State>(control, std::move(client), std::move(options), registry));
}

}  // namespace avw::provision
