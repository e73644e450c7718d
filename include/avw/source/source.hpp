// File: source.hpp
//
// Where recommendations come from. A source runs on the control io_context (never on a
// worker), builds a new core::Snapshot whenever its inputs change, and hands it to `publish`.
// The server then posts the snapshot to every worker; admission never waits for a source.
//
// Implementations: source::FileSource (`--recommendations FILE`, reloaded on change) and
// source::ApiSource (list+watch through the Kubernetes API).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "avw/core/store.hpp"

namespace avw::source {

using Publish = std::function<void(std::shared_ptr<const core::Snapshot>)>;

class RecommendationSource {
 public:
  virtual ~RecommendationSource() = default;

  /// Starts loading; `publish` is called on the control context with every new snapshot.
  virtual void start(Publish publish) = 0;
  /// Stops watching; pending operations are cancelled. Safe to call twice.
  virtual void stop() = 0;
  /// True once a first complete snapshot was published (drives /readyz).
  virtual bool synced() const = 0;
  /// When the published data was last known to be current (for the staleness metric):
  /// the last successful load or watch event/bookmark.
  virtual std::optional<std::chrono::system_clock::time_point> last_sync() const = 0;
};

}  // namespace avw::source
