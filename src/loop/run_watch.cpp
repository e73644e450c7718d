// The closed loop's pod watch (see run_watch.hpp).
#include "avw/loop/run_watch.hpp"

#include <deque>
#include <map>
#include <unordered_set>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <spdlog/spdlog.h>

#include "avw/async/async.hpp"
#include "avw/core/planner.hpp"
#include "avw/core/resource_time.hpp"
#include "avw/core/task.hpp"
#include "avw/kube/client.hpp"
#include "avw/kube/reflector.hpp"
#include "avw/metrics/metrics.hpp"
#include "task_events.hpp"
#include "task_status.hpp"

namespace avw::loop {
namespace {

namespace net = boost::asio;  // from <boost/asio.hpp>
using SystemClock = std::chrono::system_clock;

std::int64_t seconds_of(SystemClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

/// The last end of any container: when the run ended.
std::optional<std::int64_t> ended_at(const core::TaskPod& pod) {
  std::optional<std::int64_t> last;
  for (const auto& c : pod.containers) {
    if (c.terminated && c.terminated->finished_at) last = std::max(last.value_or(0), *c.terminated->finished_at);
  }
  return last;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out += ", ";
    out += i;
  }
  return out;
}

struct Metrics {
  explicit Metrics(metrics::Registry& r)
      : succeeded(r.counter("avw_task_runs_total", "Task pods seen to finish, by phase.", {{"phase", "Succeeded"}})),
        failed(r.counter("avw_task_runs_total", "Task pods seen to finish, by phase.", {{"phase", "Failed"}})),
        run_seconds(r.histogram("avw_task_run_seconds", "Run time of finished task pods (first start to last end).",
                                {30, 60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400})),
        oom_kills(r.counter("avw_task_oom_kills_total", "Task containers seen to end OOMKilled.")),
        raised(r.counter("avw_oom_floor_changes_total", "OOM floors raised or lifted by this replica.",
                         {{"change", "raised"}})),
        lifted(r.counter("avw_oom_floor_changes_total", "OOM floors raised or lifted by this replica.",
                         {{"change", "lifted"}})),
        dropped(r.counter("avw_loop_dropped_total", "Finished task pods not learnt from: the queue was full.")),
        registry(r) {}

  metrics::Counter& write(std::string_view result) {
    return registry.counter("avw_loop_status_writes_total",
                            "AirflowTask status updates of the closed loop, by result (written, unchanged, conflict, "
                            "missing, error).",
                            {{"result", std::string(result)}});
  }
  metrics::Counter& event(std::string_view result) {
    return registry.counter("avw_loop_events_total", "Events written on AirflowTasks, by result.",
                            {{"result", std::string(result)}});
  }
  /// Resource-time: core-seconds and byte-seconds of finished runs, as asked and as sized.
  void add_resource_time(core::Mode mode, const core::ResourceSeconds& original, const core::ResourceSeconds& sized) {
    const std::string m(core::to_string(mode));
    auto& cpu_help = "Cpu requested by finished task pods times their run time (core-seconds), as the pods asked "
                     "(original) and as sized (new: enforced, or what enforcing would have set in dry-run).";
    auto& memory_help = "Memory requested by finished task pods times their run time (byte-seconds), as the pods "
                        "asked (original) and as sized (new: enforced, or what enforcing would have set in dry-run).";
    registry.float_counter("avw_task_cpu_core_seconds_total", cpu_help, {{"mode", m}, {"requests", "original"}})
        .add(original.cpu_core_seconds);
    registry.float_counter("avw_task_cpu_core_seconds_total", cpu_help, {{"mode", m}, {"requests", "new"}})
        .add(sized.cpu_core_seconds);
    registry.float_counter("avw_task_memory_byte_seconds_total", memory_help, {{"mode", m}, {"requests", "original"}})
        .add(original.memory_byte_seconds);
    registry.float_counter("avw_task_memory_byte_seconds_total", memory_help, {{"mode", m}, {"requests", "new"}})
        .add(sized.memory_byte_seconds);
  }

  metrics::Counter& succeeded;
  metrics::Counter& failed;
  metrics::Histogram& run_seconds;
  metrics::Counter& oom_kills;
  metrics::Counter& raised;
  metrics::Counter& lifted;
  metrics::Counter& dropped;
  metrics::Registry& registry;
};

// What a finished pod needs learnt, queued per task so one task's writes never race each
// other within this replica.
struct Job {
  core::TaskPod pod;
  std::string task_name;
  std::string run_id;
  std::int64_t try_number = 0;
  bool ended_before_start = false;
};

class State : public std::enable_shared_from_this<State>, public kube::ReflectorHandler, public RunWatch {
 public:
  State(net::io_context& context, std::shared_ptr<kube::Client> client, RunWatchOptions options,
        metrics::Registry& registry)
      : context_(context), client_owner_(client), client_(*client_owner_), options_(std::move(options)),
        metrics_(registry), reflector_(context, std::move(client), reflector_options(options_), *this, registry) {
    if (!options_.clock) options_.clock = [] { return SystemClock::now(); };
    started_at_ = seconds_of(options_.clock());
  }

  // RunWatch
  void start() override {
    if (options_.enabled) reflector_.start();
  }
  void stop() override {
    stopped_ = true;
    reflector_.stop();
  }
  void publish(std::shared_ptr<const core::Snapshot> snapshot) override { snapshot_ = std::move(snapshot); }

  // kube::ReflectorHandler
  void on_objects(core::DecodedObjects& objects, bool /*listed*/) override {
    for (core::TaskPod& pod : objects.pods) on_pod(std::move(pod));
  }
  void on_deleted(core::DecodedObjects& objects) override {
    // A pod that ends and is deleted before an event showed it finished is learnt from now.
    for (core::TaskPod& pod : objects.pods) {
      const std::string uid = pod.uid;
      on_pod(std::move(pod));
      handled_.erase(uid);
    }
  }

 private:
  static kube::ReflectorOptions reflector_options(const RunWatchOptions& o) {
    kube::ReflectorOptions r;
    r.collection_path = "/api/v1/pods";
    r.label_selector = o.decision.keys.dag_id + "," + o.decision.keys.task_id;
    r.label = "pods";
    r.watch_timeout = o.watch_timeout;
    r.resync = o.resync;
    r.backoff = o.backoff;
    return r;
  }

  void on_pod(core::TaskPod pod) {
    if (stopped_ || !pod.finished() || pod.uid.empty()) return;
    const core::LabelSet labels = pod.label_set();
    const auto key = core::task_key_of(labels, pod.namespace_, options_.decision.keys);
    if (!key) return;
    // Each finished pod once (a relist and the deletion's events repeat it). The set only
    // holds finished pods that still exist; a deletion takes its uid out.
    if (!handled_.insert(pod.uid).second) return;
    if (handled_.size() > kMaxHandled) handled_.clear();  // learning is idempotent; counting resumes

    const auto end = ended_at(pod);
    const bool new_run = end && *end >= started_at_;
    if (new_run) count_run(pod);

    // Every finished run is written down (status.runs), whether or not it changes a floor.
    const core::VpaView vpa = snapshot_ ? snapshot_->find_vpa(pod.namespace_, labels) : core::VpaView();
    Job job;
    job.ended_before_start = !new_run;
    job.task_name = vpa && vpa.target() ? std::string(vpa.target().name()) : core::task_object_name(*key);
    job.run_id = std::string(labels.get(options_.decision.keys.run_id).value_or(pod.name));
    job.try_number = core::try_number_of(labels, options_.decision.keys).value_or(0);
    job.pod = std::move(pod);
    enqueue(std::move(job));
  }

  void count_run(const core::TaskPod& pod) {
    (pod.phase == core::PodPhase::Succeeded ? metrics_.succeeded : metrics_.failed).inc();
    for (const auto& c : pod.containers) {
      if (c.oom_kill() != nullptr) metrics_.oom_kills.inc();
    }
    const auto seconds = pod.run_seconds();
    if (!seconds) return;
    metrics_.run_seconds.observe(static_cast<double>(*seconds));
    const std::string prefix = options_.decision.annotation_prefix;
    if (patched_at_admission(pod)) {
      // It ran as sized; the `updates` summary says what it asked.
      metrics_.add_resource_time(core::Mode::Enforce, core::resource_seconds(asked_by(pod), *seconds),
                                 core::resource_seconds(core::requests_of(pod), *seconds));
      return;
    }
    if (!snapshot_) return;
    const core::LabelSet* ns_labels = snapshot_->namespace_labels(pod.namespace_);
    const auto mode_label = ns_labels != nullptr ? ns_labels->get(prefix + "mode") : std::nullopt;
    if (!mode_label) return;  // not opted in: the webhook never sized it
    const auto asked = core::resource_seconds(core::requests_of(pod), *seconds);
    if (*mode_label == "enforce" && !options_.dry_run) {
      metrics_.add_resource_time(core::Mode::Enforce, asked, asked);  // admitted as it asked
    } else if (*mode_label == "dry-run" || (*mode_label == "enforce" && options_.dry_run)) {
      // What enforcing would have set: the same decision, made again on the ended pod.
      const core::Decision would = core::decide(core::creation_request_of(pod), *snapshot_, options_.decision,
                                                core::Mode::DryRun);
      metrics_.add_resource_time(core::Mode::DryRun, asked,
                                 core::resource_seconds(core::requests_after(pod, would), *seconds));
    }
  }

  bool patched_at_admission(const core::TaskPod& pod) const {
    return pod.annotation_set().get(options_.decision.annotation_prefix + "updates").has_value();
  }

  /// What the pod asked for, before any patch of the webhook's.
  core::PodRequests asked_by(const core::TaskPod& pod) const {
    const auto updates = pod.annotation_set().get(options_.decision.annotation_prefix + "updates");
    return updates ? core::requests_before_patch(pod, *updates) : core::requests_of(pod);
  }

  void enqueue(Job job) {
    if (pending_count_ >= options_.max_pending) {
      metrics_.dropped.inc();
      return;
    }
    ++pending_count_;
    const std::string key = job.pod.namespace_ + "/" + job.task_name;
    auto& queue = pending_[key];
    queue.push_back(std::move(job));
    if (queue.size() == 1) {
      net::co_spawn(context_, drain(shared_from_this(), key), async::log_exception("loop", "learning for " + key));
    }
  }

  static net::awaitable<void> drain(std::shared_ptr<State> self, std::string key) {
    for (;;) {
      auto it = self->pending_.find(key);
      if (it == self->pending_.end() || it->second.empty() || self->stopped_) {
        if (it != self->pending_.end()) {
          self->pending_count_ -= it->second.size();
          self->pending_.erase(it);
        }
        co_return;
      }
      Job job = std::move(it->second.front());
      co_await self->learn(job);
      it = self->pending_.find(key);
      it->second.pop_front();
      --self->pending_count_;
    }
  }

  net::awaitable<void> learn(const Job& job) {
    const core::Snapshot* snapshot = snapshot_.get();
    core::RecommendedMemory recommended;
    if (snapshot != nullptr) {
      const core::VpaView vpa = snapshot->find_vpa(job.pod.namespace_, job.pod.label_set());
      if (vpa) {
        // Lifting compares the floor with what the recommendation would give the container.
        recommended = [vpa, field = options_.decision.field](std::string_view container) -> std::optional<core::Quantity> {
          const auto rec = vpa.recommendation_for(container);
          if (!rec) return std::nullopt;
          return core::recommended(*rec, field, core::Resource::Memory);
        };
      }
    }
    const auto snapshot_hold = snapshot_;  // the views above live as long as it does
    const std::int64_t now = seconds_of(options_.clock());
    std::optional<core::FinishedRun> run;
    const auto end = ended_at(job.pod);
    if (const auto seconds = job.pod.run_seconds(); end && seconds) {
      run = core::FinishedRun{job.pod.uid, *end, *seconds, asked_by(job.pod), job.ended_before_start};
    }
    const LearnInput input{job.pod.namespace_, job.task_name, job.pod, job.run_id, job.try_number, std::move(run),
                           options_.decision.oom, recommended, now, options_.max_conflicts};
    const StatusWrite w = co_await learn_into_status(client_, input);
    const std::string where = job.pod.namespace_ + "/" + job.task_name;
    if (w.conflicts > 0) metrics_.write("conflict").inc(w.conflicts);
    switch (w.result) {
      case StatusWrite::Result::Unchanged:
        metrics_.write("unchanged").inc();
        co_return;
      case StatusWrite::Result::Missing:
        metrics_.write("missing").inc();
        spdlog::info("loop: pod {}/{} ended but AirflowTask {} does not exist; nothing learnt", job.pod.namespace_,
                     job.pod.name, where);
        co_return;
      case StatusWrite::Result::Undecodable:
      case StatusWrite::Result::Failed:
        metrics_.write("error").inc();
        spdlog::warn("loop: pod {}/{}: {}", job.pod.namespace_, job.pod.name, w.error);
        co_return;
      case StatusWrite::Result::Written:
        metrics_.write("written").inc();
        break;
    }
    if (!w.update.unsized.empty()) {
      spdlog::warn("loop: pod {}/{}: {} OOMKilled without a memory request or limit: no floor to raise",
                   job.pod.namespace_, job.pod.name, join(w.update.unsized));
    }
    for (const std::string& container : w.update.raised) co_await announce_raise(job, w, container, now);
    for (const std::string& container : w.update.lifted) co_await announce_lift(job, w, container, now);
  }

  const core::OomKill* kill_of(const StatusWrite& w, std::string_view container) const {
    for (const auto& k : w.update.kills) {
      if (k.container == container) return &k;
    }
    return nullptr;
  }

  static std::string describe_floor(const core::OomKill& k, const core::OomPolicy& policy) {
    const core::MemoryFloor floor = core::memory_floor(k.memory_request, k.memory_limit, policy);
    std::string s = "at least " + (floor.request ? floor.request->to_string() : std::string("?")) + " memory request";
    if (floor.limit) s += " and " + floor.limit->to_string() + " limit";
    return s;
  }

  net::awaitable<void> announce_raise(const Job& job, const StatusWrite& w, const std::string& container,
                                      std::int64_t now) {
    const core::OomKill* k = kill_of(w, container);
    if (k == nullptr) co_return;
    metrics_.raised.inc();
    std::string note = "container " + container + " of pod " + job.pod.name + " (try " +
                       std::to_string(job.try_number) + ") was OOMKilled with memory request " +
                       (k->memory_request ? k->memory_request->to_string() : std::string("unset")) + ", limit " +
                       (k->memory_limit ? k->memory_limit->to_string() : std::string("unset")) +
                       "; the task's next pods get " + describe_floor(*k, options_.decision.oom) +
                       " (kill " + std::to_string(k->kills) + " since the floor was first raised)";
    spdlog::warn("loop: OOM floor raised task={}/{} {}", job.pod.namespace_, job.task_name, note);
    co_await write_event(job, w, "Warning", "OOMKilled", "RaiseMemoryFloor", std::move(note), now);
  }

  net::awaitable<void> announce_lift(const Job& job, const StatusWrite& w, const std::string& container,
                                     std::int64_t now) {
    const core::OomKill* k = kill_of(w, container);
    if (k == nullptr) co_return;
    metrics_.lifted.inc();
    std::string note = "the OOM floor of container " + container + " (" + describe_floor(*k, options_.decision.oom) +
                       ") is lifted: " + std::to_string(k->clean_runs.size()) +
                       " runs completed since the kill and the recommendation has reached it";
    spdlog::info("loop: OOM floor lifted task={}/{} {}", job.pod.namespace_, job.task_name, note);
    co_await write_event(job, w, "Normal", "OOMFloorLifted", "LiftMemoryFloor", std::move(note), now);
  }

  net::awaitable<void> write_event(const Job& job, const StatusWrite& w, std::string type, std::string reason,
                                   std::string action, std::string note, std::int64_t now) {
    TaskEvent e{job.pod.namespace_, job.task_name, w.uid, w.resource_version, std::move(type), std::move(reason),
                std::move(action), std::move(note), options_.instance, now};
    const kube::Response r = co_await post_event(client_, e);
    if (r.ok()) {
      metrics_.event("created").inc();
    } else {
      metrics_.event("error").inc();
      spdlog::warn("loop: Event on AirflowTask {}/{} not written: {}", e.namespace_, e.task_name, kube::describe(r));
    }
  }

  static constexpr std::size_t kMaxHandled = 200'000;

  net::io_context& context_;
  std::shared_ptr<kube::Client> client_owner_;  // the learning coroutines share it
  kube::Client& client_;
  RunWatchOptions options_;
  Metrics metrics_;
  kube::Reflector reflector_;
  std::shared_ptr<const core::Snapshot> snapshot_;
  std::unordered_set<std::string> handled_;
  std::map<std::string, std::deque<Job>> pending_;
  std::size_t pending_count_ = 0;
  std::int64_t started_at_ = 0;
  bool stopped_ = false;
};

// The RunWatch handed out: the state lives on in coroutines that still need it.
class Handle : public RunWatch {
 public:
  explicit Handle(std::shared_ptr<State> state) : state_(std::move(state)) {}
  ~Handle() override { state_->stop(); }
  void start() override { state_->start(); }
  void stop() override { state_->stop(); }
  void publish(std::shared_ptr<const core::Snapshot> snapshot) override { state_->publish(std::move(snapshot)); }

 private:
  std::shared_ptr<State> state_;
};

}  // namespace

std::unique_ptr<RunWatch> make_run_watch(net::io_context& control, std::shared_ptr<kube::Client> client,
                                         RunWatchOptions options, metrics::Registry& registry) {
  return std::make_unique<Handle>(std::make_shared<State>(control, std::move(client), std::move(options), registry));
}

}  // namespace avw::loop
