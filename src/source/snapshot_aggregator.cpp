// The API source's snapshots from its collections (see snapshot_aggregator.hpp).
#include "snapshot_aggregator.hpp"

#include <type_traits>
#include <utility>
#include <variant>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <spdlog/spdlog.h>

#include "avw/metrics/metrics.hpp"

namespace avw::source {

namespace net = boost::asio;  // from <boost/asio.hpp>

SnapshotAggregator::SnapshotAggregator(net::io_context& context, core::StoreOptions store,
                                       std::chrono::milliseconds coalesce, std::shared_ptr<ScaleTargets> scale_targets,
                                       metrics::Registry& registry)
    : context_(context),
      store_options_(std::move(store)),
      coalesce_(coalesce),
      scale_targets_(std::move(scale_targets)),
      synced_gauge_(registry.gauge("avw_kube_synced", "1 once every resource was listed and a snapshot published.")),
      last_sync_gauge_(registry.gauge("avw_kube_last_sync_timestamp_seconds",
                                      "Unix time of the last successful list, watch event or bookmark.")),
      rebuild_seconds_(registry.histogram("avw_kube_snapshot_rebuild_seconds",
                                          "Time to build a snapshot from the listed and watched objects.",
                                          {0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5})) {
  // Indexed by Kind.
  const std::array<const char*, kKinds> kinds = {"vpas", "targets", "limitranges", "checkpoints", "namespaces"};
  for (std::size_t i = 0; i < kKinds; ++i) {
    store_gauges_[i] =
        &registry.gauge("avw_kube_store_objects", "Objects in the published snapshot, by kind.", {{"kind", kinds[i]}});
  }
}

ResourceObjects& SnapshotAggregator::add_collection(Kind kind) {
  collections_.push_back(std::make_unique<ResourceObjects>(kind, *this));
  return *collections_.back();
}

void SnapshotAggregator::start(Publish publish) {
  publish_ = std::move(publish);
  started_at_ = Clock::now();
}

void SnapshotAggregator::stop() {
  stopped_ = true;
  sleeps_.stop();
}

void SnapshotAggregator::touch_sync() {
  const auto now = std::chrono::system_clock::now();
  last_sync_.store(now.time_since_epoch().count(), std::memory_order_release);
  last_sync_gauge_.set(
      static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count()) /
      1000.0);
}

std::optional<std::chrono::system_clock::time_point> SnapshotAggregator::last_sync() const {
  const auto ticks = last_sync_.load(std::memory_order_acquire);
  if (ticks == 0) return std::nullopt;
  return std::chrono::system_clock::time_point(std::chrono::system_clock::duration(ticks));
}

bool SnapshotAggregator::all_listed() const {
  for (const auto& c : collections_) {
    if (!c->listed()) return false;
  }
  return true;
}

// Rebuild at most once per `coalesce` (or more rarely for a large store, see rebuild_soon),
// and at once when the last rebuild is older than that.
void SnapshotAggregator::mark_dirty() {
  dirty_ = true;
  if (rebuild_scheduled_ || stopped_ || !all_listed()) return;
  rebuild_scheduled_ = true;
  net::co_spawn(context_, rebuild_soon(shared_from_this()), async::log_exception("kube", "snapshot rebuild"));
}

net::awaitable<void> SnapshotAggregator::rebuild_soon(std::shared_ptr<SnapshotAggregator> self) {
  if (self->published_) {
    // A large store takes a while to rebuild: spacing rebuilds by twice the last one's cost
    // keeps them under a third of a core under constant churn.
    const auto next = self->last_build_ + std::max<Clock::duration>(self->coalesce_, 2 * self->last_build_cost_);
    const auto now = Clock::now();
    if (next > now && !co_await self->sleeps_.sleep(self->context_, next - now)) co_return;
  }
  self->rebuild_scheduled_ = false;
  if (self->stopped_ || !self->dirty_) co_return;
  self->rebuild();
}

void SnapshotAggregator::rebuild() {
  dirty_ = false;
  last_build_ = Clock::now();
  std::vector<const ObjectMap*> vpas;
  for (const auto& c : collections_) {
    if (c->kind() == Kind::Vpa) vpas.push_back(&c->items());
  }
  scale_targets_->want_targets_of(vpas);

  // VPAs and targets are packed straight from the collections' maps (no copy of the decoded
  // objects); the few others are copied, the snapshot owns them.
  core::SnapshotBuilder builder(store_options_);
  core::DecodedObjects others;
  std::array<std::size_t, kKinds> counts{};
  for (const auto& c : collections_) {
    counts[static_cast<std::size_t>(c->kind())] += c->items().size();
    for (const auto& [key, object] : c->items()) {
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
  counts[static_cast<std::size_t>(Kind::AirflowTask)] += scale_targets_->add_to(builder);
  builder.add(others);
  const auto copied = Clock::now();
  auto snapshot = builder.finish();
  auto ms = [](Clock::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  last_build_cost_ = Clock::now() - last_build_;
  rebuild_seconds_.observe(std::chrono::duration<double>(last_build_cost_).count());
  spdlog::debug("kube: snapshot rebuilt: {} ms to pack, {} ms to index", ms(copied - last_build_),
                ms(Clock::now() - copied));
  for (std::size_t i = 0; i < kKinds; ++i) store_gauges_[i]->set(static_cast<double>(counts[i]));
  const bool first = !published_;
  published_ = true;
  // Ready as the first complete snapshot goes out: whoever is handed it may ask.
  synced_.store(true, std::memory_order_release);
  if (publish_) publish_(std::move(snapshot));
  if (first) {
    synced_gauge_.set(1);
    spdlog::info("kube: synced in {} ms: {} VPAs, {} targets, {} LimitRanges, {} checkpoints, {} namespaces",
                 ms(Clock::now() - started_at_), counts[0], counts[1], counts[2], counts[3], counts[4]);
  }
}

}  // namespace avw::source
