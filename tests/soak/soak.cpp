// The soak run (tests/soak/README.md): the real binary with --kubeconfig against the fake API
// server of this process, steady admission load over TLS for MINUTES, periodic faults, and the
// server's memory sampled from /proc. It prints a progress line per sample and a report, and
// exits 1 when any request failed or the server did not exit 0 on SIGTERM at the end.
//
//   soak [--minutes N] [--threads N] [--pause-ms N] [--sample-seconds N] [--cycle-seconds N]
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/fixtures.hpp"
#include "support/json_patch.hpp"
#include "support/net/admission_load.hpp"
#include "support/net/fake_api_server.hpp"
#include "support/net/webhook_process.hpp"

using namespace avw::test;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

struct Args {
  double minutes = 10;
  unsigned threads = 3;  // keep-alive threads; one more connects for every request
  unsigned pause_ms = 4;
  unsigned sample_seconds = 5;
  unsigned cycle_seconds = 300;  // the fault cycle; a shorter run compresses it to its length
};

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(stderr, "soak: %s\nusage: soak [--minutes N] [--threads N] [--pause-ms N] [--sample-seconds N] [--cycle-seconds N]\n",
               problem.c_str());
  std::exit(2);
}

template <class T>
T number(std::string_view flag, std::string_view text) {
  T value{};
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value <= 0) {
    usage(std::string(flag) + ": \"" + std::string(text) + "\" is not a positive number");
  }
  return value;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) usage(std::string(flag) + " needs a value");
    const std::string_view value = argv[++i];
    if (flag == "--minutes") a.minutes = number<double>(flag, value);
    else if (flag == "--threads") a.threads = number<unsigned>(flag, value);
    else if (flag == "--pause-ms") a.pause_ms = number<unsigned>(flag, value);
    else if (flag == "--sample-seconds") a.sample_seconds = number<unsigned>(flag, value);
    else if (flag == "--cycle-seconds") a.cycle_seconds = number<unsigned>(flag, value);
    else usage("unknown flag " + std::string(flag));
  }
  return a;
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string clock_text(double seconds) {
  char buf[32];
  const auto s = static_cast<long>(seconds);
  std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

/// VmRSS of a process in KiB, or 0 when it cannot be read.
long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:")) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

double percentile(std::vector<std::uint32_t>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(std::min<double>(static_cast<double>(v.size() - 1), p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k] / 1000.0;  // ms
}

// The VPA of the captured KPO pod gets a new cpu target every few seconds (101m, 102m, ...):
// every answer must carry the fixture's 25m or one of the values written so far, and the
// newest value seen tells how stale the server's snapshot is.
class Churn {
 public:
  static constexpr int kFirst = 101;

  explicit Churn(FakeApiServer& api) : api_(api) {}

  void next() {
    int value = 0;
    {
      // Counted before it is written: the server may answer with it before upsert returns.
      std::lock_guard lock(mutex_);
      value = kFirst + written_++;
      written_at_.push_back(Clock::now());
    }
    api_.upsert("verticalpodautoscalers",
                make_vpa("airflow", "etl-daily-load", "etl-daily-load", std::to_string(value) + "m", "256Mi"));
  }

  std::string check(const HttpResponse& r, const std::string& review) {
    if (r.status != 200) return "status " + std::to_string(r.status) + ": " + r.body.substr(0, 200);
    const std::string pod = patched_pod(r, review);
    if (pod.empty()) return "no patch: " + r.body.substr(0, 200);
    const std::string cpu = json_at(pod, "/spec/containers/0/resources/requests/cpu");
    if (cpu == "25m") return {};
    int value = 0;
    const auto [ptr, ec] = std::from_chars(cpu.data(), cpu.data() + cpu.size(), value);
    std::lock_guard lock(mutex_);
    if (ec != std::errc() || std::string_view(ptr) != "m" || value < kFirst || value >= kFirst + written_) {
      return "cpu request " + cpu + " was never recommended";
    }
    newest_seen_ = std::max(newest_seen_, value - kFirst);
    return {};
  }

  /// How long the oldest value newer than any answer has been waiting (0: up to date).
  double staleness() const {
    std::lock_guard lock(mutex_);
    const auto pending = static_cast<std::size_t>(newest_seen_ + 1);
    if (pending >= written_at_.size()) return 0;
    return seconds_since(written_at_[pending]);
  }
  int written() const {
    std::lock_guard lock(mutex_);
    return written_;
  }

 private:
  FakeApiServer& api_;
  mutable std::mutex mutex_;
  int written_ = 0;
  int newest_seen_ = -1;
  std::vector<Clock::time_point> written_at_;
};

// One fault of the cycle: begins at `at` (a fraction of the cycle) and, when it has an end,
// lasts `length` seconds (scaled with the cycle).
struct Fault {
  const char* name;
  double at;
  double length;
  void (*begin)(FakeApiServer&);
  void (*end)(FakeApiServer&);
  int begun = -1;  // the cycle it last began in
  int ended = -1;
  int count = 0;
  bool active() const { return end != nullptr && ended < begun; }
};

struct LogCounts {
  std::atomic<std::uint64_t> warn{0};
  std::atomic<std::uint64_t> error{0};
  std::mutex mutex;
  std::vector<std::string> errors;  // the first few error lines
};

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  const double run_seconds = args.minutes * 60;
  // The faults below fill a cycle of 300 s; a shorter cycle (or run) compresses them.
  const double cycle = std::min<double>(args.cycle_seconds, run_seconds);
  const double scale = cycle / 300.0;
  std::vector<Fault> faults = {
      {"api-down", 0.10, 60, [](FakeApiServer& a) { a.pause(); }, [](FakeApiServer& a) { a.resume(); }},
      {"api-500", 0.40, 30,
       [](FakeApiServer& a) {
         a.fail_all(500);
         a.drop_watches();
       },
       [](FakeApiServer& a) { a.fail_all(0); }},
      {"api-hang", 0.60, 30, [](FakeApiServer& a) { a.hang(true); }, [](FakeApiServer& a) { a.hang(false); }},
      {"watch-410", 0.76, 0, [](FakeApiServer& a) { a.compact(); }, nullptr},
      {"watch-stall", 0.85, 0, [](FakeApiServer& a) { a.stall_watches(); }, nullptr},
  };

  FakeApiServer api;
  LogCounts logs;
  WebhookOptions options = with_api(api, {"--min-history", "0", "--min-samples", "0"});
  options.on_log_line = [&logs](std::string_view line) {
    if (line.find(R"("level":"warning")") != std::string_view::npos) {
      ++logs.warn;
    } else if (line.find(R"("level":"error")") != std::string_view::npos ||
               line.find(R"("level":"critical")") != std::string_view::npos) {
      ++logs.error;
      std::lock_guard lock(logs.mutex);
      if (logs.errors.size() < 10) logs.errors.emplace_back(line);
    }
  };
  WebhookProcess server(options);
  const pid_t pid = server.process().pid();
  if (!eventually([&] { return HttpsClient(server.port(), server.client_options()).request("GET", "/readyz").status == 200; })) {
    std::fprintf(stderr, "soak: the server never became ready\n");
    return 1;
  }

  Churn churn(api);
  const std::string review = read_fixture("admission/kpo-pod.json");
  LoadOptions load_options;
  load_options.port = server.port();
  load_options.client = server.client_options();
  load_options.review = review;
  load_options.keep_alive_threads = args.threads;
  load_options.new_connection_threads = 1;
  load_options.pause = std::chrono::milliseconds(args.pause_ms);
  load_options.readyz_every = 50;
  load_options.record_latency = true;
  load_options.check = [&churn, &review](unsigned, const HttpResponse& r) { return churn.check(r, review); };

  std::printf("soak: %.1f min, %u keep-alive threads + 1 connecting per request, pause %u ms, fault cycle %.0f s\n",
              args.minutes, args.threads, args.pause_ms, cycle);
  std::printf("%6s %9s %7s %6s %7s %7s %8s %7s  %s\n", "time", "requests", "errors", "req/s", "p50 ms", "p99 ms",
              "rss MiB", "stale s", "faults");
  std::fflush(stdout);

  const auto start = Clock::now();
  AdmissionLoad load(load_options);
  std::vector<std::uint32_t> all_latencies;
  struct Sample {
    double t;
    long rss;
  };
  std::vector<Sample> samples;
  samples.push_back({0, rss_kib(pid)});
  std::uint64_t last_answered = 0;
  double last_sample = 0;
  double next_churn = 0;
  const double churn_every = 2;
  const double cert_every = 40 * std::max(scale, 0.25);
  double next_cert = cert_every;
  std::uint64_t serial = 1000;
  int rotations = 0;
  std::string events;  // since the last sample
  bool server_died = false;

  for (;;) {
    const double t = seconds_since(start);
    if (t >= run_seconds) break;
    if (t >= next_churn) {
      churn.next();
      next_churn += churn_every;
    }
    if (t >= next_cert) {
      server.ca.issue(server.cert_file, server.key_file, server_certificate(++serial));
      ++rotations;
      next_cert += cert_every;
    }
    // The faults of the current cycle: each begins when due, and ends after its length.
    const double in_cycle = std::fmod(t, cycle);
    const int cycle_index = static_cast<int>(t / cycle);
    for (auto& f : faults) {
      const double begin = f.at * cycle;
      if (f.begun < cycle_index && in_cycle >= begin) {
        f.begin(api);
        f.begun = cycle_index;
        ++f.count;
        events += std::string(events.empty() ? "" : " ") + f.name + (f.end != nullptr ? " begins" : "");
      }
      if (f.active() && (cycle_index > f.begun || in_cycle >= begin + f.length * scale)) {
        f.end(api);
        f.ended = f.begun;
        events += std::string(events.empty() ? "" : " ") + f.name + " ends";
      }
    }
    if (t - last_sample >= args.sample_seconds) {
      if (server.process().wait_for({})) {
        server_died = true;
        break;
      }
      auto latencies = load.take_latencies();
      const LoadReport r = load.report();
      const long rss = rss_kib(pid);
      samples.push_back({t, rss});
      std::string names;
      for (const auto& f : faults) {
        if (f.active()) names += std::string(names.empty() ? "" : ",") + f.name;
      }
      if (!events.empty()) names += (names.empty() ? "(" : " (") + events + ")";
      events.clear();
      std::printf("%6s %9llu %7llu %6.0f %7.2f %7.2f %8.2f %7.1f  %s\n", clock_text(t).c_str(),
                  static_cast<unsigned long long>(r.answered + r.failed),
                  static_cast<unsigned long long>(r.failed + r.refused),
                  static_cast<double>(r.answered - last_answered) / (t - last_sample), percentile(latencies, 0.5),
                  percentile(latencies, 0.99), static_cast<double>(rss) / 1024, churn.staleness(), names.c_str());
      std::fflush(stdout);
      all_latencies.insert(all_latencies.end(), latencies.begin(), latencies.end());
      last_answered = r.answered;
      last_sample = t;
    }
    std::this_thread::sleep_for(100ms);
  }
  // Whatever fault is still on ends, so the server shuts down as it would in a cluster.
  for (auto& f : faults) {
    if (f.active()) f.end(api);
  }
  const LoadReport report = load.stop();
  const double elapsed = seconds_since(start);
  auto rest = load.take_latencies();
  all_latencies.insert(all_latencies.end(), rest.begin(), rest.end());
  const long rss_end = rss_kib(pid);
  samples.push_back({elapsed, rss_end});
  std::optional<int> exit_code;
  if (!server_died) {
    server.process().signal(SIGTERM);
    exit_code = server.process().wait_for(30s);
  } else {
    exit_code = server.process().wait_for({});
  }

  // RSS after warm-up: once every fault has happened (the end of the first cycle) when the run
  // has two cycles or more, else after 10 % of the run (at least 30 s); the slope is the least
  // squares one of every sample from there.
  const double warm_up = run_seconds >= 2 * cycle ? cycle : std::max(30.0, elapsed * 0.1);
  std::size_t from = 0;
  while (from + 1 < samples.size() && samples[from].t < warm_up) ++from;
  double slope = 0;  // KiB per minute
  const std::size_t n = samples.size() - from;
  if (n >= 2) {
    double st = 0, sr = 0, stt = 0, str = 0;
    for (std::size_t i = from; i < samples.size(); ++i) {
      const double x = samples[i].t / 60, y = static_cast<double>(samples[i].rss);
      st += x;
      sr += y;
      stt += x * x;
      str += x * y;
    }
    const double dn = static_cast<double>(n);
    const double denominator = dn * stt - st * st;
    if (denominator != 0) slope = (dn * str - st * sr) / denominator;
  }

  const double mib = 1024;
  std::printf("\n== soak report ==\n");
  std::printf("duration        %s (%.0f s)\n", clock_text(elapsed).c_str(), elapsed);
  std::printf("requests        %llu answered right (%.0f/s), including a GET /readyz in 50\n",
              static_cast<unsigned long long>(report.answered), static_cast<double>(report.answered) / elapsed);
  std::printf("errors          %llu failed, %llu connections refused (goal: 0 and 0)\n",
              static_cast<unsigned long long>(report.failed), static_cast<unsigned long long>(report.refused));
  for (const auto& f : report.failures) std::printf("                %s\n", f.c_str());
  std::printf("latency         p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n", percentile(all_latencies, 0.5),
              percentile(all_latencies, 0.99), percentile(all_latencies, 0.999), percentile(all_latencies, 1.0));
  std::printf("rss             start %.2f MiB, after warm-up (%s) %.2f MiB, end %.2f MiB\n",
              static_cast<double>(samples.front().rss) / mib, clock_text(samples[from].t).c_str(),
              static_cast<double>(samples[from].rss) / mib, static_cast<double>(rss_end) / mib);
  std::printf("rss slope       %+.1f KiB/min after warm-up (least squares over %zu samples; goal: flat)\n", slope, n);
  std::printf("faults          ");
  for (const auto& f : faults) {
    if (f.end != nullptr) std::printf("%s x%d (%.0f s)  ", f.name, f.count, f.length * scale);
    else std::printf("%s x%d  ", f.name, f.count);
  }
  std::printf("\n                certificate rotations x%d, VPA changes x%d\n", rotations, churn.written());
  std::printf("server log      %llu warnings, %llu errors\n", static_cast<unsigned long long>(logs.warn.load()),
              static_cast<unsigned long long>(logs.error.load()));
  {
    std::lock_guard lock(logs.mutex);
    for (const auto& e : logs.errors) std::printf("                %s\n", e.c_str());
  }
  if (server_died) std::printf("server          DIED during the run (exit %d)\n", exit_code.value_or(-1));
  else if (!exit_code) std::printf("server          did not exit within 30 s of SIGTERM\n");
  else std::printf("server          exit %d after SIGTERM\n", *exit_code);
  const bool ok = report.failed == 0 && report.refused == 0 && !server_died && exit_code == 0;
  std::printf("result          %s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
