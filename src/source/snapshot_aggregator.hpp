// File: snapshot_aggregator.hpp
//
// Builds the API source's snapshots from the collections its reflectors keep (one
// ResourceObjects each) and the selectors of VPA targets that are not AirflowTasks.
// Events arrive one by one and there can be 100k VPAs, so changes are coalesced: a rebuild
// at most once per `coalesce` (more rarely for a large store) once every collection was
// listed. The source is ready (synced) as its first snapshot goes out. Runs on the control
// io_context; synced() and last_sync() may be read from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "avw/async/async.hpp"
#include "avw/core/store.hpp"
#include "avw/source/source.hpp"
#include "resource_objects.hpp"
#include "scale_targets.hpp"

namespace avw::metrics {
class Counter;
class Gauge;
class Histogram;
class Registry;
}  // namespace avw::metrics

namespace avw::source {

class SnapshotAggregator : public std::enable_shared_from_this<SnapshotAggregator> {
 public:
  /// `registry` must outlive the aggregator.
  SnapshotAggregator(boost::asio::io_context& context, core::StoreOptions store, std::chrono::milliseconds coalesce,
                     std::shared_ptr<ScaleTargets> scale_targets, metrics::Registry& registry);

  /// A new collection to aggregate, to be handed to its reflector. Before start() only.
  ResourceObjects& add_collection(Kind kind);

  void start(Publish publish);
  void stop();

  /// Something changed: a rebuild is due (once every collection was listed).
  void mark_dirty();
  /// The API server was heard from: the published data is current as of now.
  void touch_sync();

  bool synced() const { return synced_.load(std::memory_order_acquire); }
  std::optional<std::chrono::system_clock::time_point> last_sync() const;

 private:
  using Clock = std::chrono::steady_clock;

  bool all_listed() const;
  static boost::asio::awaitable<void> rebuild_soon(std::shared_ptr<SnapshotAggregator> self);
  void rebuild();

  boost::asio::io_context& context_;
  core::StoreOptions store_options_;
  std::chrono::milliseconds coalesce_;
  std::shared_ptr<ScaleTargets> scale_targets_;
  std::vector<std::unique_ptr<ResourceObjects>> collections_;
  Publish publish_;
  async::StoppableSleep sleeps_;
  bool stopped_ = false;

  bool dirty_ = false;
  bool rebuild_scheduled_ = false;
  bool published_ = false;
  Clock::time_point last_build_{};
  Clock::duration last_build_cost_{};
  Clock::time_point started_at_{};

  std::atomic<bool> synced_{false};
  std::atomic<std::chrono::system_clock::rep> last_sync_{0};
  metrics::Gauge& synced_gauge_;
  metrics::Gauge& last_sync_gauge_;
  metrics::Histogram& rebuild_seconds_;
  std::array<metrics::Gauge*, kKinds> store_gauges_{};
};

}  // namespace avw::source
