// File: file_source.hpp
//
// Recommendations from a JSON file, as `kubectl get vpa,airflowtasks,limitranges -A -o json`
// prints it (a `List`, an API list page or a single object). The file is polled (inode, size,
// mtime, so a Kubernetes ConfigMap or Secret mount that swaps a symlink is seen too) and
// reloaded when it changes. A file that cannot be read or is not JSON keeps the last good
// snapshot; objects that cannot be understood are skipped and logged, the rest is used.
//
//   source::FileSource src(server.control_context(), options, &registry);  // options.path = "recs.json"
//   src.start([](std::shared_ptr<const core::Snapshot> s) { ... });
#pragma once

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "avw/core/store.hpp"
#include "avw/source/source.hpp"

namespace boost::asio {
class io_context;
}

namespace avw::metrics {
class Registry;
}

namespace avw::source {

/// The recommendations file could not be read or is not JSON.
class LoadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct LoadedRecommendations {
  std::shared_ptr<const core::Snapshot> snapshot;
  std::vector<std::string> skipped;  // one line per object that was not understood
};

/// Reads, decodes and indexes a recommendations file. Throws LoadError with a one-line
/// message naming the file.
LoadedRecommendations load_recommendations(const std::string& path, const core::StoreOptions& options);

struct FileSourceOptions {
  std::string path;
  core::StoreOptions store;
  std::chrono::milliseconds poll_interval{1000};
};

class FileSource final : public RecommendationSource {
 public:
  /// `registry` (optional) receives avw_snapshot_reloads_total{source="file",result=...}.
  FileSource(boost::asio::io_context& control, FileSourceOptions options, metrics::Registry* registry = nullptr);
  ~FileSource() override;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  // source::RecommendationSource
  void start(Publish publish) override;
  void stop() override;
  bool synced() const override;
  std::optional<std::chrono::system_clock::time_point> last_sync() const override;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace avw::source
