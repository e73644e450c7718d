#include "avw/source/file_source.hpp"

#include <sys/stat.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <spdlog/spdlog.h>
#include <string_view>
#include <vector>

#include "avw/core/decode_error.hpp"
#include "avw/core/object_list.hpp"
#include "avw/core/objects.hpp"
#include "avw/core/store.hpp"
#include "avw/metrics/metrics.hpp"

namespace avw::source {
namespace net = boost::asio;

namespace {

// At most this many skipped objects are logged one by one per load; the rest are counted.
constexpr std::size_t kMaxSkippedLogged = 10;
// Bytes of the recommendations file read at a time.
constexpr std::size_t kReadChunk = 64 * 1024;

// What identifies one version of the file. stat() follows symlinks, so when a Kubernetes
// volume swaps its `..data` link the inode changes even if size and mtime happen to match.
struct FileStamp {
  int error = 0;  // errno of a failed stat
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  timespec mtime{};
  timespec ctime{};

  friend bool operator==(const FileStamp& a, const FileStamp& b) {
    return a.error == b.error && a.dev == b.dev && a.ino == b.ino && a.size == b.size &&
           a.mtime.tv_sec == b.mtime.tv_sec && a.mtime.tv_nsec == b.mtime.tv_nsec &&
           a.ctime.tv_sec == b.ctime.tv_sec && a.ctime.tv_nsec == b.ctime.tv_nsec;
  }
};

FileStamp stamp_of(const std::string& path) {
  FileStamp s;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    s.error = errno;
    return s;
  }
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  s.size = st.st_size;
  s.mtime = st.st_mtim;
  s.ctime = st.st_ctim;
  return s;
}

std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

}  // namespace

LoadedRecommendations load_recommendations(const std::string& path, const core::StoreOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw LoadError("cannot open " + path + ": " + std::strerror(errno));
  // Read in chunks as the decoder asks for them: a 100k-task file is 140 MB, and neither it nor
  // its DOM is ever held whole (the decoder takes a list's items one at a time).
  std::vector<char> buffer(kReadChunk);
  const core::ChunkSource next_chunk = [&]() -> std::string_view {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.bad()) throw LoadError("cannot read " + path);
    return {buffer.data(), static_cast<std::size_t>(in.gcount())};
  };
  // Each item is packed into the snapshot as soon as it is decoded.
  core::SnapshotBuilder builder(options);
  core::DecodedObjects rest;
  try {
    rest = core::decode_objects(next_chunk, [&builder](core::DecodedObjects& item) { builder.add(item); });
  } catch (const core::DecodeError& e) {
    throw LoadError(path + ": " + one_line(e.what()));
  }
  builder.add(rest);
  LoadedRecommendations out;
  out.skipped = std::move(rest.errors);
  out.snapshot = builder.finish();
  return out;
}

struct FileSource::Impl : std::enable_shared_from_this<Impl> {
  Impl(net::io_context& control, FileSourceOptions opts, metrics::Registry* registry)
      : timer(control), options(std::move(opts)) {
    if (registry != nullptr) {
      constexpr std::string_view kHelp = "Snapshots of the recommendation store built, by source and result.";
      reloads_ok = &registry->counter("avw_snapshot_reloads_total", kHelp, {{"source", "file"}, {"result", "success"}});
      reloads_failed = &registry->counter("avw_snapshot_reloads_total", kHelp, {{"source", "file"}, {"result", "failure"}});
    }
  }

  net::steady_timer timer;
  FileSourceOptions options;
  Publish publish;
  bool stopped = false;
  std::optional<FileStamp> seen;  // the version last attempted
  bool last_ok = false;
  std::atomic<bool> is_synced{false};
  std::atomic<std::int64_t> last_sync_ns{0};  // 0: never
  metrics::Counter* reloads_ok = nullptr;
  metrics::Counter* reloads_failed = nullptr;

  void mark_synced() {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    last_sync_ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count(), std::memory_order_relaxed);
  }

  void failed(const std::string& why) {
    last_ok = false;
    if (reloads_failed != nullptr) reloads_failed->inc();
    // `error="..."` is a logfmt field: the JSON log format makes it a member.
    std::string quoted;
    for (const char c : why) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += (c == '\n' || c == '\r') ? ' ' : c;
    }
    if (is_synced.load()) {
      spdlog::error("recommendations reload failed, keeping the last good snapshot error=\"{}\"", quoted);
    } else {
      spdlog::error("recommendations not loaded, not ready until they are error=\"{}\"", quoted);
    }
  }

  void poll() {
    const FileStamp stamp = stamp_of(options.path);
    if (seen && *seen == stamp) {
      // Unchanged: a good snapshot is still what the file says.
      if (last_ok) mark_synced();
      return;
    }
    seen = stamp;
    if (stamp.error != 0) {
      failed("cannot stat " + options.path + ": " + std::strerror(stamp.error));
      return;
    }
    LoadedRecommendations loaded;
    try {
      loaded = load_recommendations(options.path, options.store);
    } catch (const std::exception& e) {
      // LoadError, or the store failing on something it did not expect: same remedy.
      failed(e.what());
      return;
    }
    for (std::size_t i = 0; i < loaded.skipped.size() && i < kMaxSkippedLogged; ++i) {
      spdlog::warn("recommendations: skipped an object of {}: {}", options.path, one_line(loaded.skipped[i]));
    }
    if (loaded.skipped.size() > kMaxSkippedLogged) {
      spdlog::warn("recommendations: skipped {} more objects of {}", loaded.skipped.size() - kMaxSkippedLogged,
                   options.path);
    }
    const core::Snapshot& s = *loaded.snapshot;
    spdlog::info("recommendations loaded path={} vpas={} targets={} limitranges={} checkpoints={} skipped={}",
                 options.path, s.vpa_count(), s.target_count(), s.limit_range_count(), s.checkpoint_count(),
                 loaded.skipped.size());
    last_ok = true;
    mark_synced();
    if (reloads_ok != nullptr) reloads_ok->inc();
    is_synced.store(true);
    publish(std::move(loaded.snapshot));
  }

  void schedule() {
    if (stopped) return;
    timer.expires_after(options.poll_interval);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->stopped) return;
      self->poll();
      self->schedule();
    });
  }
};

FileSource::FileSource(net::io_context& control, FileSourceOptions options, metrics::Registry* registry)
    : impl_(std::make_shared<Impl>(control, std::move(options), registry)) {}

FileSource::~FileSource() { stop(); }

void FileSource::start(Publish publish) {
  impl_->publish = std::move(publish);
  impl_->stopped = false;
  // The first load runs on the control context like every later one, so start() returns at once.
  net::post(impl_->timer.get_executor(), [self = impl_] {
    if (self->stopped) return;
    self->poll();
    self->schedule();
  });
}

void FileSource::stop() {
  impl_->stopped = true;
  impl_->timer.cancel();
}

bool FileSource::synced() const { return impl_->is_synced.load(); }

std::optional<std::chrono::system_clock::time_point> FileSource::last_sync() const {
  const auto ns = impl_->last_sync_ns.load(std::memory_order_relaxed);
  if (ns == 0) return std::nullopt;
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(ns)));
}

}  // namespace avw::source
