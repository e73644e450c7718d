// File: harness.hpp
//
// Runs a source::ApiSource against the fake API server on a control io_context thread, and
// records what it publishes. Tests wait for conditions with a deadline (polling), never for
// a fixed time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "avw/core/store.hpp"
#include "avw/metrics/metrics.hpp"
#include "avw/source/api_source.hpp"
#include "integration/kube/harness.hpp"
#include "support/net/fake_api_server.hpp"

namespace avw::test {

/// Options that make every retry and coalescing delay short, so a test takes milliseconds.
inline source::ApiSourceOptions fast_options() {
  using namespace std::chrono_literals;
  source::ApiSourceOptions o;
  o.coalesce = 10ms;
  o.backoff = {20ms, 200ms};
  o.missing_retry = 100ms;
  o.watch_timeout = 60s;
  o.client.request_timeout = 5s;
  o.client.connect_timeout = 2s;
  return o;
}

class SourceHarness {
 public:
  SourceHarness(kube::ClusterConfig config, source::ApiSourceOptions options)
      : work_(context_.get_executor()) {
    source_ = source::make_api_source(context_, std::move(config), std::move(options), registry_);
    thread_ = std::thread([this] { context_.run(); });
    source_->start([this](std::shared_ptr<const core::Snapshot> s) {
      std::lock_guard lock(mutex_);
      latest_ = std::move(s);
      ++publishes_;
      published_.notify_all();
    });
  }

  ~SourceHarness() { shutdown(); }
  SourceHarness(const SourceHarness&) = delete;
  SourceHarness& operator=(const SourceHarness&) = delete;

  /// Stops the source and waits until every operation of it has ended: run() returns only
  /// when nothing is left, which proves stop() cancels everything.
  void shutdown() {
    if (!thread_.joinable()) return;
    source_->stop();
    work_.reset();
    thread_.join();
  }

  std::shared_ptr<const core::Snapshot> snapshot() const {
    std::lock_guard lock(mutex_);
    return latest_;
  }
  int publishes() const {
    std::lock_guard lock(mutex_);
    return publishes_;
  }

  /// Polls `condition` on each publish (and at least every 10 ms) until it holds or
  /// `timeout` passes.
  bool wait_until(const std::function<bool()>& condition,
                  std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000)) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(mutex_);
    for (;;) {
      lock.unlock();
      if (condition()) return true;
      lock.lock();
      if (std::chrono::steady_clock::now() >= deadline) return false;
      published_.wait_for(lock, std::chrono::milliseconds(10));
    }
  }

  /// Waits until the published snapshot satisfies `condition`.
  bool wait_for_snapshot(const std::function<bool(const core::Snapshot&)>& condition,
                         std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000)) const {
    return wait_until(
        [&] {
          auto s = snapshot();
          return s && condition(*s);
        },
        timeout);
  }

  source::RecommendationSource& source() { return *source_; }
  metrics::Registry& registry() { return registry_; }

  std::uint64_t counter(const std::string& name, const metrics::Labels& labels) {
    return registry_.counter(name, "", labels).value();
  }

 private:
  boost::asio::io_context context_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  metrics::Registry registry_;
  std::unique_ptr<source::RecommendationSource> source_;
  std::thread thread_;
  mutable std::mutex mutex_;
  mutable std::condition_variable published_;
  std::shared_ptr<const core::Snapshot> latest_;
  int publishes_ = 0;
};

}  // namespace avw::test
