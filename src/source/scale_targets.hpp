// File: scale_targets.hpp
//
// The selectors of VPA targets that are not AirflowTasks. Kinds with a /scale subresource
// report their selector there; the others (as the VPA's own target fetcher does) are read
// whole and their selector taken from the object. Each target is read once when a VPA first
// names it, then again every `refresh`; a failed read keeps what was known and is retried
// after `retry`. Runs on the control io_context, beside the reflectors.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "avw/core/objects.hpp"
#include "avw/core/store.hpp"
#include "resource_objects.hpp"

namespace avw::kube {
class Client;
}
namespace avw::metrics {
class Registry;
}

namespace avw::source {

struct ScaleTargetsOptions {
  /// How often a target is read again.
  std::chrono::milliseconds refresh{300'000};
  /// How soon a round in which a read failed is tried again.
  std::chrono::milliseconds retry{30'000};
};

class ScaleTargets : public std::enable_shared_from_this<ScaleTargets> {
 public:
  /// `registry` must outlive the lookups.
  ScaleTargets(boost::asio::io_context& context, std::shared_ptr<kube::Client> client, ScaleTargetsOptions options,
               metrics::Registry& registry);

  /// Starts the lookup loop; `on_changed` is called when a target's selector changed.
  void start(std::function<void()> on_changed);
  void stop();

  /// Which targets need a lookup, from the VPAs now known (the maps of every VPA
  /// collection); wakes the lookup loop for new ones and forgets those no VPA names.
  void want_targets_of(const std::vector<const ObjectMap*>& vpas);
  /// Adds every target whose selector is known to `builder`; returns how many.
  std::size_t add_to(core::SnapshotBuilder& builder) const;

 private:
  struct Entry {
    std::string namespace_;
    core::TargetRef ref;
    std::optional<core::ScaleTarget> target;
    bool fetched = false;
    std::chrono::steady_clock::time_point fetched_at{};
  };

  static boost::asio::awaitable<void> run(std::shared_ptr<ScaleTargets> self);
  boost::asio::awaitable<bool> round();
  static std::optional<core::ScaleTarget> decode_target(const Entry& entry, const std::string& body);

  boost::asio::io_context& context_;
  std::shared_ptr<kube::Client> client_;
  ScaleTargetsOptions options_;
  metrics::Registry& registry_;
  std::function<void()> on_changed_;
  std::map<std::string, Entry> entries_;
  boost::asio::steady_timer timer_;
  bool wake_ = false;
  bool stopped_ = false;
};

}  // namespace avw::source
