#include "support/net/admission_load.hpp"

#include <algorithm>
#include <memory>
#include <stdexcept>

#include "avw/core/base64.hpp"
#include "support/json_patch.hpp"

namespace avw::test {
namespace {

constexpr std::size_t kFailuresKept = 20;

}  // namespace

AdmissionLoad::AdmissionLoad(LoadOptions options) : options_(std::move(options)) {
  const unsigned total = options_.keep_alive_threads + options_.new_connection_threads;
  for (unsigned i = 0; i < total; ++i) {
    threads_.emplace_back([this, i] { run(i, i < options_.keep_alive_threads); });
  }
}

AdmissionLoad::~AdmissionLoad() { stop(); }

LoadReport AdmissionLoad::stop() {
  stopping_ = true;
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  return report();
}

LoadReport AdmissionLoad::report() const {
  std::lock_guard lock(mutex_);
  LoadReport r = report_;
  r.answered = answered_.load();
  return r;
}

std::vector<std::uint32_t> AdmissionLoad::take_latencies() {
  std::lock_guard lock(mutex_);
  return std::exchange(latencies_, {});
}

void AdmissionLoad::fail(std::uint64_t& counter, unsigned thread, const std::string& what) {
  std::lock_guard lock(mutex_);
  ++counter;
  if (report_.failures.size() < kFailuresKept) {
    report_.failures.push_back("thread " + std::to_string(thread) + ": " + what);
  }
}

void AdmissionLoad::run(unsigned thread, bool keep_alive) {
  std::unique_ptr<HttpsClient> client;
  unsigned sent = 0;
  std::vector<std::uint32_t> latencies;
  auto flush_latencies = [&] {
    if (latencies.empty()) return;
    std::lock_guard lock(mutex_);
    latencies_.insert(latencies_.end(), latencies.begin(), latencies.end());
    latencies.clear();
  };
  while (!stopping_) {
    if (!client || !client->is_open()) {
      try {
        client = std::make_unique<HttpsClient>(options_.port, options_.client);
      } catch (const ClientError& e) {
        fail(report_.refused, thread, std::string("connect: ") + e.what());
        client.reset();
        // A refused connection costs nothing: do not spin on it.
        std::this_thread::sleep_for(std::max<std::chrono::microseconds>(options_.pause, std::chrono::milliseconds(10)));
        continue;
      }
    }
    const bool readyz = options_.readyz_every != 0 && ++sent % options_.readyz_every == 0;
    const auto started = std::chrono::steady_clock::now();
    HttpResponse r;
    try {
      r = readyz ? client->request("GET", "/readyz") : client->request("POST", options_.target, options_.review);
    } catch (const std::exception& e) {
      fail(report_.failed, thread, std::string(readyz ? "GET /readyz: " : "POST: ") + e.what());
      client.reset();
      continue;
    }
    const auto elapsed = std::chrono::steady_clock::now() - started;
    std::string wrong;
    if (readyz) {
      if (r.status != 200) wrong = "GET /readyz answered " + std::to_string(r.status);
    } else {
      try {
        wrong = options_.check ? options_.check(thread, r) : (r.status == 200 ? "" : "status " + std::to_string(r.status));
      } catch (const std::exception& e) {
        wrong = std::string("unreadable answer: ") + e.what();
      }
    }
    if (wrong.empty()) {
      ++answered_;
      if (options_.record_latency) {
        latencies.push_back(static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count()));
        if (latencies.size() >= 256) flush_latencies();
      }
    } else {
      fail(report_.failed, thread, wrong);
    }
    if (!keep_alive) client.reset();
    if (options_.pause.count() > 0) std::this_thread::sleep_for(options_.pause);
  }
  flush_latencies();
}

std::string patched_pod(const HttpResponse& answer, const std::string& review) {
  const std::string object = json_at(review, "/request/object");
  if (!json_has(answer.body, "/response/patch")) return "";
  const auto patch = core::base64_decode(json_at(answer.body, "/response/patch"));
  if (!patch) throw std::runtime_error("the patch is not base64");
  return apply_json_patch(object, *patch);
}

}  // namespace avw::test
