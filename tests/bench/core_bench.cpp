// The admission core per request: decode the AdmissionReview (as the server has it, in a
// padded buffer), decide against a store of realistic size, encode the response. Reports ns
// per request and heap allocations per request (global operator new is counted in this binary).
//
//   build/tests/bench/core_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <new>

#include "avw/core/admission.hpp"
#include "avw/core/decision.hpp"
#include "avw/core/object_list.hpp"
#include "avw/core/response.hpp"
#include "avw/core/store.hpp"
#include "support/fixtures.hpp"
#include "synthetic_store.hpp"

namespace {
std::atomic<std::uint64_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using namespace avw;

const std::shared_ptr<const core::Snapshot>& snapshot_of(std::size_t tasks) {
  static std::map<std::size_t, std::shared_ptr<const core::Snapshot>> cache;
  auto& s = cache[tasks];
  if (!s) s = core::Snapshot::build(core::decode_objects(bench::synthetic_store_json(tasks)), core::StoreOptions{});
  return s;
}

void run(benchmark::State& state, const std::string& body, core::Mode mode) {
  const auto& snapshot = snapshot_of(static_cast<std::size_t>(state.range(0)));
  core::Config config;
  // As the server holds a body it received: padded, decoded where it lies.
  core::ReviewBuffer received;
  received.append(body.data(), body.size());
  core::ReviewParser parser;  // as a worker keeps one
  std::uint64_t allocations = 0;
  for (auto _ : state) {
    const auto before = g_allocations.load(std::memory_order_relaxed);
    core::ParsedReview review(parser, received.padded());
    core::Decision decision = core::decide(review.request(), *snapshot, config, mode);
    std::string response = core::encode_response(review.request(), decision);
    benchmark::DoNotOptimize(response.data());
    allocations += g_allocations.load(std::memory_order_relaxed) - before;
    if (decision.outcome != (mode == core::Mode::Enforce ? core::Outcome::Patched : core::Outcome::Audited)) {
      state.SkipWithError("the benchmark pod was not patched");
      break;
    }
  }
  state.counters["allocs_per_req"] =
      benchmark::Counter(static_cast<double>(allocations), benchmark::Counter::kAvgIterations);
  state.counters["body_bytes"] = static_cast<double>(body.size());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(body.size()));
}

void kpo_pod_enforce(benchmark::State& state) {
  static const std::string body = test::read_fixture("admission/kpo-pod.json");
  run(state, body, core::Mode::Enforce);
}
void kpo_pod_dry_run(benchmark::State& state) {
  static const std::string body = test::read_fixture("admission/kpo-pod.json");
  run(state, body, core::Mode::DryRun);
}
void large_pod_enforce(benchmark::State& state) {
  static const std::string body = bench::large_review_json(32 * 1024);
  run(state, body, core::Mode::Enforce);
}

BENCHMARK(kpo_pod_enforce)->Arg(10'000)->Arg(100'000)->Unit(benchmark::kMicrosecond);
BENCHMARK(kpo_pod_dry_run)->Arg(10'000)->Unit(benchmark::kMicrosecond);
BENCHMARK(large_pod_enforce)->Arg(10'000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
