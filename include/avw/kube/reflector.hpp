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
//   - a full relist every `resync` bounds the damage of any missed event;
//   - an optional collection (a CRD that may not be installed) answering 404 to a list
//     counts as an empty list, and is listed again every `missing_retry`.
//
// It keeps nothing of the objects: the handler decides what is worth keeping (the closed
// loop keeps no pod at all, only what it learnt from the pods that ended; the API source
// replaces its copy of a collection on each complete list). Everything runs on the
// io_context of the Client given.
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
  /// Names the collection in logs ("verticalpodautoscalers in airflow").
  std::string label;
  /// The `resource` label of the kube metrics ("verticalpodautoscalers"); empty: `label`.
  std::string resource;
  std::uint32_t page_size = 500;
  /// A watch asks the server to end it after watch_timeout plus up to 100 % jitter.
  std::chrono::seconds watch_timeout{300};
  /// How long after its timeoutSeconds a silent watch is considered dead.
  std::chrono::seconds watch_grace{30};
  std::chrono::seconds resync{1800};
  BackoffPolicy backoff;
  /// A 404 on list (the CRD is not installed) is an empty list rather than an error.
  bool optional = false;
  /// How often a missing optional collection is listed again.
  std::chrono::milliseconds missing_retry{60'000};
};

/// Receives what the reflector sees, on the Client's io_context.
class ReflectorHandler {
 public:
  virtual ~ReflectorHandler() = default;
  /// A list starts from its first page (again, when a continue token expired): pages of an
  /// earlier list that never completed are void.
  virtual void on_list_started() {}
  /// The objects of one list page (`listed`) or of one ADDED or MODIFIED event. The handler
  /// may move them out.
  virtual void on_objects(core::DecodedObjects& objects, bool listed) = 0;
  /// The last state of an object that was deleted.
  virtual void on_deleted(core::DecodedObjects& objects) = 0;
  /// A complete list arrived (the first, or a relist; an empty one for a missing optional
  /// collection): the pages since on_list_started() are the whole collection.
  virtual void on_listed() {}
  /// The server was heard from: a list completed, or a watch event or bookmark was applied.
  virtual void on_progress() {}
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
  /// True once a complete list arrived (or an optional collection was found missing).
  bool listed() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace avw::kube
