// File: admission_load.hpp
//
// Steady admission traffic for the fault tests and the soak run: a few threads send an
// AdmissionReview over and over, each on its own keep-alive connection (reconnecting when the
// server closes it), or on a new connection for every request, and check every answer.
// Nothing is retried, so everything counts: a request the server did not answer, answered
// with another status, or answered with the wrong patch.
//
//   LoadOptions o;
//   o.port = port; o.client = trusting(ca); o.review = read_fixture("admission/kpo-pod.json");
//   o.check = [](unsigned thread, const HttpResponse& r) { return r.status == 200 ? "" : "bad"; };
//   AdmissionLoad load(std::move(o));
//   ...inject a fault...
//   const LoadReport report = load.stop();
//   CHECK(report.failed == 0);
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/net/https_client.hpp"

namespace avw::test {

struct LoadOptions {
  std::uint16_t port = 0;
  ClientOptions client;
  std::string target = "/mutate";
  std::string review;  // the request body
  /// Threads with one keep-alive connection each, and threads that connect for every request.
  unsigned keep_alive_threads = 3;
  unsigned new_connection_threads = 0;
  /// Between two requests of a thread: steady load, not a CPU-bound flood that would starve
  /// the processes the test injects faults into.
  std::chrono::microseconds pause{2'000};
  /// Every n-th request of a thread is `GET /readyz`, which must answer 200 (0: never).
  unsigned readyz_every = 0;
  /// Why an answer to the review is wrong, or "" when it is right. Called on the load threads
  /// (`thread` numbers them from 0; new-connection threads come last).
  std::function<std::string(unsigned thread, const HttpResponse&)> check;
  /// Keep each answered request's latency (take_latencies()).
  bool record_latency = false;
};

struct LoadReport {
  std::uint64_t answered = 0;  // answers that passed the check (readyz included)
  std::uint64_t failed = 0;    // requests not answered, or answered wrongly
  /// Connections that failed before TLS was established (refused, reset in the backlog):
  /// no request was sent on them. A failure too, except while a server shuts down.
  std::uint64_t refused = 0;
  std::vector<std::string> failures;  // the first few, described
};

class AdmissionLoad {
 public:
  explicit AdmissionLoad(LoadOptions options);
  /// Stops the threads.
  ~AdmissionLoad();
  AdmissionLoad(const AdmissionLoad&) = delete;
  AdmissionLoad& operator=(const AdmissionLoad&) = delete;

  /// Stops and joins the threads (requests in flight complete); returns the final report.
  LoadReport stop();
  LoadReport report() const;
  std::uint64_t answered() const { return answered_.load(); }
  /// The latencies (microseconds) recorded since the last call.
  std::vector<std::uint32_t> take_latencies();

 private:
  void run(unsigned thread, bool keep_alive);
  void fail(std::uint64_t& counter, unsigned thread, const std::string& what);

  LoadOptions options_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> answered_{0};
  mutable std::mutex mutex_;
  LoadReport report_;  // failures, under mutex_
  std::vector<std::uint32_t> latencies_;
  std::vector<std::thread> threads_;
};

/// The pod of `review` with the patch of its answer applied ("" when the answer has none).
/// Throws std::runtime_error when the answer is not an AdmissionReview or the patch does not apply.
std::string patched_pod(const HttpResponse& answer, const std::string& review);

}  // namespace avw::test
