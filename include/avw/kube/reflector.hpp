// File: reflector.hpp
//
// One collection kept in view through the Kubernetes API, as client-go's reflector keeps it:
// list it (paginated, optionally by label selector), then watch from the list's
// resourceVersion, and hand every object to a handler as it arrives.
//
//   - a watch that times out or drops resumes from the last resourceVersion seen (events and
//     bookmarks both advance it);
//   - "410 Expired" (an ERROR event inside a 200 stream, an HTTP 410, or an expired continue
//     token) starts a new list;
//   - other failures retry with exponential backoff and jitter;
//   - a full relist every `resync` bounds the damage of any missed event.
//
// It keeps nothing of the objects: the handler decides what is worth keeping (the closed
// loop keeps no pod at all, only what it learnt from the pods that ended). Everything runs on
// the io_context of the Client given.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "avw/core/objects.hpp"
#include "avw/kube/backoff.hpp"

namespace boost::asio {
class io_context;
}
namespace avw::metrics {
class Registry;
}

namespace avw::kube {

class Client;

struct ReflectorOptions {
  /// The collection: "/api/v1/pods", "/api/v1/namespaces/airflow/pods", ...
  std::string collection_path;
  /// The string form ("dag_id,task_id"); empty: every object.
  std::string label_selector;
  /// Names the collection in logs and in the `resource` label of the kube metrics.
  std::string label;
  std::uint32_t page_size = 500;
  /// A watch asks the server to end it after watch_timeout plus up to 100 % jitter.
  std::chrono::seconds watch_timeout{300};
  /// How long after its timeoutSeconds a silent watch is considered dead.
  std::chrono::seconds watch_grace{30};
  std::chrono::seconds resync{1800};
  BackoffPolicy backoff;
};

/// Receives what the reflector sees, on the Client's io_context.
class ReflectorHandler {
 public:
  virtual ~ReflectorHandler() = default;
  /// The objects of one list page (`listed`) or of one ADDED or MODIFIED event. The handler
  /// may move them out.
  virtual void on_objects(core::DecodedObjects& objects, bool listed) = 0;
  /// The last state of an object that was deleted.
  virtual void on_deleted(core::DecodedObjects& objects) = 0;
  /// A complete list arrived (the first, or a relist).
  virtual void on_listed() {}
};

class Reflector {
 public:
  /// `client` runs on `context`; the reflector's coroutine shares it, so it lives until the
  /// coroutine is gone (when the io_context is destroyed, a suspended watch is destroyed with
  /// it and still needs its client). `handler` and `registry` must outlive the reflector.
  Reflector(boost::asio::io_context& context, std::shared_ptr<Client> client, ReflectorOptions options,
            ReflectorHandler& handler, metrics::Registry& registry);
  ~Reflector();
  Reflector(const Reflector&) = delete;
  Reflector& operator=(const Reflector&) = delete;

  void start();
  /// Ends waits at once; a request in flight ends when the client is closed.
  void stop();
  /// True once a complete list arrived.
  bool listed() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace avw::kube
