// The runtime: worker io_contexts, the control context, signals, graceful shutdown,
// certificate reload and readiness. The listener accepts; sessions serve on the workers.
#include "avw/server/server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <list>
#include <thread>
#include <vector>

#include "avw/async/async.hpp"
#include "avw/metrics/metrics.hpp"
#include "handler.hpp"
#include "listener.hpp"
#include "logfmt.hpp"
#include "server_metrics.hpp"
#include "session.hpp"
#include "tls.hpp"

namespace avw::server {
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

struct Worker {
  Worker(std::size_t i, const ServerOptions& options, const Handler& handler, ServerMetrics& metrics)
      : index(i), state{options, handler, metrics} {}
  // Sessions whose frames the context destroys (shutdown's last resort) unregister then; the
  // timer, declared after the context, is gone by that time and must not be touched.
  ~Worker() { destroying = true; }

  std::size_t index;
  bool destroying = false;
  WorkerState state;
  std::list<Connection> connections;  // declared before the context: frames it destroys unregister here
  net::io_context context{1};
  net::steady_timer drain_timer{context};
  net::executor_work_guard<net::io_context::executor_type> guard{context.get_executor()};
  std::thread thread;
};

}  // namespace

struct Server::Impl {
  Impl(ServerOptions opts, metrics::Registry& registry)
      : options(std::move(opts)),
        metrics(registry),
        handler(options, metrics, ready, task_pods),
        listener(control, options.listen_host, options.listen_port),
        signals(control),
        housekeeping(control),
        shutdown_deadline(control),
        last_resort(control),
        watcher(TlsFiles{options.tls_cert, options.tls_key, options.client_ca}) {
    try {
      tls = make_tls_context(watcher.files());
    } catch (const std::exception& e) {
      throw StartupError(e.what());
    }
    const unsigned n = options.threads != 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < n; ++i) workers.push_back(std::make_unique<Worker>(i, options, handler, metrics));
  }

  ServerOptions options;
  ServerMetrics metrics;
  std::atomic<bool> ready{false};
  std::atomic<std::size_t> open_connections{0};
  TaskPodObserver task_pods;  // set before run(), read by the workers
  Handler handler;
  // Destroyed after the control context (which may still hold an accepted socket of a worker
  // in a completion that never ran) and before everything sessions touch.
  std::vector<std::unique_ptr<Worker>> workers;
  net::io_context control{1};
  Listener listener;
  net::signal_set signals;
  net::steady_timer housekeeping;
  net::steady_timer shutdown_deadline;
  net::steady_timer last_resort;
  TlsWatcher watcher;
  std::shared_ptr<ssl::context> tls;  // the current context; sessions keep the one they got
  source::RecommendationSource* source = nullptr;
  bool shutting_down = false;  // control thread only
  std::size_t workers_running = 0;

  // ---- control context -------------------------------------------------------------

  void publish(std::shared_ptr<const core::Snapshot> snapshot) {
    metrics.store_vpas.set(static_cast<double>(snapshot->vpa_count()));
    metrics.store_targets.set(static_cast<double>(snapshot->target_count()));
    metrics.store_limit_ranges.set(static_cast<double>(snapshot->limit_range_count()));
    metrics.store_checkpoints.set(static_cast<double>(snapshot->checkpoint_count()));
    for (auto& w : workers) {
      net::post(w->context, [this, worker = w.get(), snapshot] {
        auto old = std::exchange(worker->state.snapshot, snapshot);
        // The last reference to a big snapshot is freed on the control thread, not here.
        net::post(control, [old = std::move(old)] {});
      });
    }
    if (!shutting_down) set_ready(true);
  }

  void set_ready(bool value) {
    ready.store(value);
    metrics.ready.set(value ? 1.0 : 0.0);
  }

  // Reloads the certificate when its files changed (new sessions get the new context), and
  // keeps the store's age and the readiness current.
  void tick() {
    if (watcher.changed()) {
      try {
        tls = make_tls_context(watcher.files());
        metrics.tls_reloads_ok.inc();
        spdlog::info("TLS certificate reloaded cert={}", options.tls_cert);
      } catch (const std::exception& e) {
        metrics.tls_reloads_failed.inc();
        std::string line = "TLS reload failed, keeping the previous certificate";
        append_field(line, "error", e.what());
        spdlog::error("{}", line);
      }
    }
    if (source != nullptr) {
      if (const auto last = source->last_sync()) {
        const std::chrono::duration<double> age = std::chrono::system_clock::now() - *last;
        metrics.store_age_seconds.set(std::max(0.0, age.count()));
      }
      if (source->synced() && !shutting_down && !ready.load()) set_ready(true);
    }
  }

  void schedule_tick() {
    housekeeping.expires_after(options.tls_poll_interval);
    housekeeping.async_wait([this](const boost::system::error_code& ec) {
      if (ec || shutting_down) return;
      tick();
      schedule_tick();
    });
  }

  void wait_signal() {
    signals.async_wait([this](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      spdlog::info("received signal {}", signal == SIGTERM ? "SIGTERM" : signal == SIGINT ? "SIGINT" : "?");
      begin_shutdown();
      wait_signal();
    });
  }

  // The listener's hand-over: the connection's session runs on worker `index`.
  void hand_over(std::size_t index, tcp::socket socket) {
    if (open_connections.load() >= options.max_connections) {
      metrics.connections_rejected.inc();
      spdlog::debug("connection rejected: {} connections open", options.max_connections);
      boost::system::error_code ignored;
      socket.close(ignored);
      return;
    }
    open_connections.fetch_add(1);
    metrics.connections_open.add(1);
    metrics.connections_accepted.inc();
    Worker& w = *workers[index];
    net::co_spawn(w.context, session(std::move(socket), tls, &w), async::log_exception("server", "session"));
  }

  void begin_shutdown() {
    if (shutting_down) {
      spdlog::warn("second shutdown request: closing all connections now");
      force_stop();
      return;
    }
    shutting_down = true;
    set_ready(false);
    spdlog::info("shutting down: not ready, no new connections, finishing requests in flight (at most {} ms)",
                 options.shutdown_timeout.count());
    listener.close();
    housekeeping.cancel();
    if (source != nullptr) source->stop();
    for (auto& w : workers) net::post(w->context, [this, worker = w.get()] { drain(*worker); });
    shutdown_deadline.expires_after(options.shutdown_timeout);
    shutdown_deadline.async_wait([this](const boost::system::error_code& e) {
      if (e) return;
      spdlog::warn("shutdown timeout: closing {} connections still open", open_connections.load());
      force_stop();
    });
  }

  // Closes every connection (their sessions end at once), and stops any worker loop that
  // still has not returned a second later.
  void force_stop() {
    for (auto& w : workers) {
      net::post(w->context, [worker = w.get()] {
        for (Connection& c : worker->connections) c.transport->close();
      });
    }
    last_resort.expires_after(std::chrono::seconds(1));
    last_resort.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      spdlog::warn("workers still busy after closing their connections: stopping them");
      for (auto& w : workers) w->context.stop();
    });
  }

  void worker_exited() {
    if (--workers_running != 0) return;
    shutdown_deadline.cancel();
    last_resort.cancel();
    signals.cancel();
    control.stop();
  }

  // ---- worker contexts --------------------------------------------------------------

  // Runs on the worker: from now on every response says `Connection: close`; connections
  // waiting for a request get a short grace for one already on its way, then are closed.
  void drain(Worker& w) {
    w.state.stopping = true;
    w.state.drain_deadline = std::chrono::steady_clock::now() + options.shutdown_idle_grace;
    w.guard.reset();
    if (w.connections.empty()) return;
    w.drain_timer.expires_at(w.state.drain_deadline);
    w.drain_timer.async_wait([&w](const boost::system::error_code& ec) {
      if (ec) return;
      for (Connection& c : w.connections) {
        if (c.idle) c.transport->cancel();
      }
    });
  }

  net::awaitable<void> session(tcp::socket socket, std::shared_ptr<ssl::context> tls_context, Worker* worker) {
    struct Registration {
      Impl& impl;
      Worker& w;
      std::list<Connection>::iterator it;
      ~Registration() {
        w.connections.erase(it);
        if (!w.destroying && w.state.stopping && w.connections.empty()) w.drain_timer.cancel();
        impl.open_connections.fetch_sub(1);
        impl.metrics.connections_open.add(-1);
      }
    };
    TlsStream stream(std::move(socket), *tls_context);
    Worker& w = *worker;
    const Registration registration{*this, w,
                                    w.connections.insert(w.connections.end(), {false, &beast::get_lowest_layer(stream)})};
    co_await serve_tls(stream, w.state, *registration.it);
    beast::get_lowest_layer(stream).close();
  }
};

Server::Server(ServerOptions options, metrics::Registry& registry)
    : impl_(std::make_unique<Impl>(std::move(options), registry)) {}

Server::~Server() = default;

boost::asio::io_context& Server::control_context() { return impl_->control; }

std::uint16_t Server::port() const { return impl_->listener.port(); }

void Server::observe_task_pods(TaskPodObserver observer) { impl_->task_pods = std::move(observer); }

void Server::run(source::RecommendationSource& source) {
  Impl& impl = *impl_;
  impl.source = &source;
  impl.workers_running = impl.workers.size();
  std::vector<net::io_context*> contexts;
  for (auto& w : impl.workers) {
    contexts.push_back(&w->context);
    w->thread = std::thread([&impl, worker = w.get()] {
      try {
        worker->context.run();
      } catch (const std::exception& e) {
        spdlog::critical("worker {} stopped: {}", worker->index, e.what());
      }
      net::post(impl.control, [&impl] { impl.worker_exited(); });
    });
  }
  if (impl.options.handle_signals) {
    impl.signals.add(SIGTERM);
    impl.signals.add(SIGINT);
    impl.wait_signal();
  }
  net::co_spawn(impl.control,
                impl.listener.run(std::move(contexts),
                                  [&impl](std::size_t worker, tcp::socket socket) {
                                    impl.hand_over(worker, std::move(socket));
                                  }),
                async::log_exception("server", "listener"));
  impl.schedule_tick();
  source.start([&impl](std::shared_ptr<const core::Snapshot> snapshot) { impl.publish(std::move(snapshot)); });
  spdlog::info("listening address={}:{} workers={} mode={} max_connections={}", impl.options.listen_host, port(),
               impl.workers.size(), impl.options.dry_run ? "dry-run" : "enforce", impl.options.max_connections);
  impl.control.run();
  for (auto& w : impl.workers) {
    if (w->thread.joinable()) w->thread.join();
  }
  source.stop();
  spdlog::info("stopped");
}

void Server::request_shutdown() {
  net::post(impl_->control, [impl = impl_.get()] { impl->begin_shutdown(); });
}

}  // namespace avw::server
