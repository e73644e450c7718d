// List, then watch, one collection (see reflector.hpp).
#include "avw/kube/reflector.hpp"

#include <array>
#include <random>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "avw/async/async.hpp"
#include "avw/core/object_list.hpp"
#include "avw/core/watch_event.hpp"
#include "avw/kube/client.hpp"
#include "avw/kube/url.hpp"
#include "avw/metrics/metrics.hpp"

namespace avw::kube {

namespace net = boost::asio;  // from <boost/asio.hpp>
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

using avw::async::use_nothrow_awaitable;

// Watch event types, indexed by core::WatchEvent::Type.
constexpr std::array<const char*, 5> kEventTypes = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};

std::size_t object_count(const core::DecodedObjects& o) {
  return o.vpas.size() + o.targets.size() + o.limit_ranges.size() + o.checkpoints.size() + o.namespaces.size() +
         o.pods.size();
}

}  // namespace

struct Reflector::State : std::enable_shared_from_this<Reflector::State> {
  State(net::io_context& c, std::shared_ptr<Client> cl, ReflectorOptions o, ReflectorHandler& h, metrics::Registry& r)
      : context(c), client_owner(std::move(cl)), client(*client_owner), options(std::move(o)), handler(h), registry(r), backoff(options.backoff),
        rng(std::random_device{}()) {
    if (options.resource.empty()) options.resource = options.label;
    for (std::size_t i = 0; i < kEventTypes.size(); ++i) {
      events[i] = &registry.counter("avw_kube_watch_events_total", "Watch events received, by resource and type.",
                                    {{"resource", options.resource}, {"type", kEventTypes[i]}});
    }
  }

  net::io_context& context;
  std::shared_ptr<Client> client_owner;
  Client& client;
  ReflectorOptions options;
  ReflectorHandler& handler;
  metrics::Registry& registry;
  Backoff backoff;
  std::mt19937_64 rng;
  std::array<metrics::Counter*, kEventTypes.size()> events{};
  async::StoppableSleep sleeps;
  std::string resource_version;
  Clock::time_point listed_at{};
  bool listed = false;
  bool need_list = true;
  bool missing = false;  // the last list answered 404 (an optional CRD not installed)
  bool stopped = false;

  // ---- metrics (the names the API source uses, with this collection's label) ------------
  void count(std::string_view name, std::string_view help, std::string_view key, std::string value) {
    registry.counter(name, help, {{"resource", options.resource}, {std::string(key), std::move(value)}}).inc();
  }
  void count_api_error(std::string code) {
    count("avw_kube_api_errors_total", "Failed Kubernetes API calls, by resource and HTTP code.", "code", std::move(code));
  }
  void count_relist(const char* reason) {
    count("avw_kube_relists_total", "Lists of a resource, by reason (initial, expired, resync, retry).", "reason", reason);
  }
  void count_watch_restart(const char* reason) {
    count("avw_kube_watch_restarts_total", "Watches started again, by reason (timeout, dropped, expired, error).",
          "reason", reason);
  }

  std::string query_start() const {
    std::string target = options.collection_path + "?";
    if (!options.label_selector.empty()) target += "labelSelector=" + url_encode(options.label_selector) + "&";
    return target;
  }

  // A sleep that stop() cuts short. Returns false once stopped.
  net::awaitable<bool> sleep(Clock::duration d) { return sleeps.sleep(context, d); }

  static net::awaitable<void> run(std::shared_ptr<State> self) {
    while (!self->stopped) {
      Clock::duration wait{};
      try {
        wait = co_await self->step();
      } catch (const std::exception& e) {
        // A bug (or a handler's) must not end the watch for good: log it and list again.
        spdlog::error("kube: {}: unexpected error: {}", self->options.label, e.what());
        self->need_list = true;
        wait = self->backoff.next(self->rng());
      }
      if (wait > Clock::duration::zero() && !co_await self->sleep(wait)) co_return;
    }
  }

  net::awaitable<Clock::duration> step() {
    if (!need_list && Clock::now() - listed_at >= options.resync) {
      need_list = true;
      count_relist("resync");
    }
    if (need_list) co_return co_await list();
    co_return co_await watch();
  }

  net::awaitable<Clock::duration> list() {
    if (!listed && backoff.attempt() == 0) count_relist("initial");
    std::string continue_token;
    std::size_t objects = 0;
    std::size_t skipped = 0;
    handler.on_list_started();
    for (;;) {
      std::string target = query_start() + "limit=" + std::to_string(options.page_size);
      if (!continue_token.empty()) target += "&continue=" + url_encode(continue_token);
      Response r = co_await client.request({"GET", target, {}, "application/json"});
      if (stopped) co_return Clock::duration::zero();
      if (r.status == 410 && !continue_token.empty()) {
        // The continue token outlived etcd's compaction window: the pages so far are not a
        // consistent snapshot any more, so start again from the first page.
        spdlog::info("kube: {}: list continue token expired; listing again", options.label);
        count_api_error("410");
        count_relist("expired");
        continue_token.clear();
        objects = 0;
        skipped = 0;
        handler.on_list_started();
        continue;
      }
      if (r.status == 404 && options.optional) co_return missing_collection();
      if (!r.ok()) {
        count_api_error(r.status == 0 ? "network" : std::to_string(r.status));
        count_relist("retry");
        const auto wait = backoff.next(rng());
        spdlog::warn("kube: list {} failed: {}; retrying in {} ms", options.label, describe(r), wait.count());
        co_return wait;
      }
      core::DecodedObjects page;
      try {
        page = core::decode_objects(r.body);
      } catch (const core::DecodeError& e) {
        count_api_error("decode");
        const auto wait = backoff.next(rng());
        spdlog::warn("kube: list {}: undecodable page: {}; retrying in {} ms", options.label, e.what(), wait.count());
        co_return wait;
      }
      for (const auto& err : page.errors) spdlog::warn("kube: {}: skipped: {}", options.label, err);
      skipped += page.errors.size();
      objects += object_count(page);
      resource_version = page.list_resource_version;
      continue_token = page.list_continue;
      handler.on_objects(page, true);
      if (continue_token.empty()) break;
    }
    if (missing) spdlog::info("kube: {} is available now", options.label);
    spdlog::info("kube: listed {}: {} objects at resourceVersion {}{}", options.label, objects, resource_version,
                 skipped == 0 ? std::string() : " (" + std::to_string(skipped) + " skipped)");
    end_list(true);
    co_return Clock::duration::zero();
  }

  // An optional collection whose CRD is not installed: an empty list for now, so readiness
  // does not wait for it, and a list again every missing_retry until it appears.
  Clock::duration missing_collection() {
    if (!missing) {
      spdlog::warn("kube: {} not found (is the CRD installed?); treating it as empty and trying again every {} ms",
                   options.label, options.missing_retry.count());
    }
    count_api_error("404");
    resource_version.clear();
    end_list(false);
    return options.missing_retry;
  }

  // A list is complete, or (not `found`) its optional collection is missing, which counts
  // as an empty list that is due again.
  void end_list(bool found) {
    missing = !found;
    listed = true;
    need_list = !found;
    listed_at = Clock::now();
    backoff.reset();
    if (found) handler.on_progress();
    handler.on_listed();
  }

  struct WatchState {
    bool expired = false;
    int error_code = 0;
    std::string error_message;
  };

  bool apply_event(std::string_view line, WatchState& w) {
    if (stopped) return false;
    core::WatchEvent event;
    try {
      event = core::decode_watch_event(line);
    } catch (const core::DecodeError& e) {
      // One undecodable line loses one event; the periodic resync repairs that.
      count_api_error("decode");
      spdlog::warn("kube: {}: undecodable watch event: {}", options.label, e.what());
      return true;
    }
    for (const auto& err : event.objects.errors) spdlog::warn("kube: {}: skipped: {}", options.label, err);
    events[static_cast<std::size_t>(event.type)]->inc();
    switch (event.type) {
      case core::WatchEvent::Type::Added:
      case core::WatchEvent::Type::Modified:
        handler.on_objects(event.objects, false);
        break;
      case core::WatchEvent::Type::Deleted:
        handler.on_deleted(event.objects);
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
    if (!event.resource_version.empty()) resource_version = std::move(event.resource_version);
    handler.on_progress();
    return true;
  }

  net::awaitable<Clock::duration> watch() {
    auto timeout = jittered(std::chrono::duration_cast<std::chrono::milliseconds>(options.watch_timeout), 100, rng());
    // End the watch when the next resync is due, so the relist is not late by a whole watch.
    timeout = std::min(timeout,
                       std::chrono::duration_cast<std::chrono::milliseconds>(listed_at + options.resync - Clock::now()));
    const auto timeout_seconds =
        std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(timeout).count());
    std::string target = query_start() + "watch=1&allowWatchBookmarks=true";
    if (!resource_version.empty()) target += "&resourceVersion=" + url_encode(resource_version);
    target += "&timeoutSeconds=" + std::to_string(timeout_seconds);

    WatchState w;
    const auto started = Clock::now();
    const auto deadline = std::chrono::seconds(timeout_seconds) + options.watch_grace;
    WatchResult result = co_await client.watch(
        std::move(target), [this, &w](std::string_view line) { return apply_event(line, w); },
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline));
    if (stopped) co_return Clock::duration::zero();

    if (w.expired || result.status == 410) {
      spdlog::info("kube: {}: resourceVersion {} expired; listing again", options.label, resource_version);
      count_watch_restart("expired");
      count_relist("expired");
      need_list = true;
      co_return Clock::duration::zero();
    }
    if (result.lines > 0) backoff.reset();
    if (result.status != 0 && result.status != 200) {
      count_api_error(std::to_string(result.status));
      count_watch_restart("error");
      const auto wait = backoff.next(rng());
      spdlog::warn("kube: watch {} failed: {}; retrying in {} ms", options.label,
                   describe(Response{result.status, std::move(result.body), {}}), wait.count());
      co_return wait;
    }
    if (w.error_code != 0 || !w.error_message.empty()) {
      count_api_error(std::to_string(w.error_code));
      count_watch_restart("error");
      const auto wait = backoff.next(rng());
      spdlog::warn("kube: watch {}: error event {}: {}; retrying in {} ms", options.label, w.error_code,
                   w.error_message, wait.count());
      co_return wait;
    }
    if (result.stopped) co_return Clock::duration::zero();
    if (result.completed) {
      count_watch_restart("timeout");
      // A server that ends every watch at once would make this loop spin: back off then.
      if (result.lines == 0 && Clock::now() - started < 1s) co_return backoff.next(rng());
      spdlog::debug("kube: watch {} ended; resuming at resourceVersion {}", options.label, resource_version);
      co_return Clock::duration::zero();
    }
    count_api_error(result.status == 0 ? "network" : "dropped");
    count_watch_restart("dropped");
    const auto wait = backoff.next(rng());
    spdlog::warn("kube: watch {} interrupted: {}; resuming at resourceVersion {} in {} ms", options.label,
                 result.error.empty() ? std::string("connection closed") : result.error, resource_version,
                 wait.count());
    co_return wait;
  }
};

Reflector::Reflector(net::io_context& context, std::shared_ptr<Client> client, ReflectorOptions options,
                     ReflectorHandler& handler, metrics::Registry& registry)
    : state_(std::make_shared<State>(context, std::move(client), std::move(options), handler, registry)) {}

Reflector::~Reflector() { stop(); }

void Reflector::start() {
  net::co_spawn(state_->context, State::run(state_), async::log_exception("kube", "watch of " + state_->options.label));
}

void Reflector::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  state_->sleeps.stop();
}

bool Reflector::listed() const { return state_->listed; }

}  // namespace avw::kube
