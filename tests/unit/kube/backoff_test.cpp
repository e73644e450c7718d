#include "avw/kube/backoff.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using avw::kube::Backoff;
using avw::kube::BackoffPolicy;

TEST_CASE("the backoff ceiling doubles from the initial delay up to the cap", "[kube][backoff]") {
  const BackoffPolicy policy{500ms, 30'000ms};
  const auto [attempt, expected] = GENERATE(table<unsigned, long>({
      {0, 500}, {1, 1000}, {2, 2000}, {3, 4000}, {5, 16'000}, {6, 30'000}, {7, 30'000}, {1000, 30'000}}));
  CHECK(avw::kube::backoff_ceiling(policy, attempt).count() == expected);
}

TEST_CASE("a jittered delay lies between half the ceiling and the ceiling", "[kube][backoff]") {
  const BackoffPolicy policy{500ms, 30'000ms};
  const auto attempt = GENERATE(0u, 1u, 4u, 10u);
  const auto ceiling = avw::kube::backoff_ceiling(policy, attempt);
  CHECK(avw::kube::backoff_delay(policy, attempt, 0) == ceiling - ceiling / 2);
  CHECK(avw::kube::backoff_delay(policy, attempt, static_cast<std::uint64_t>(ceiling.count() / 2)) == ceiling);
  const auto any = GENERATE(take(20, random(std::uint64_t{0}, ~std::uint64_t{0})));
  const auto d = avw::kube::backoff_delay(policy, attempt, any);
  CHECK(d >= ceiling - ceiling / 2);
  CHECK(d <= ceiling);
}

TEST_CASE("degenerate policies still give positive delays within the cap", "[kube][backoff]") {
  CHECK(avw::kube::backoff_ceiling({0ms, 0ms}, 0) == 1ms);
  CHECK(avw::kube::backoff_ceiling({5000ms, 1000ms}, 0) == 1000ms);
  CHECK(avw::kube::backoff_delay({1ms, 1ms}, 3, 12345) == 1ms);
}

TEST_CASE("the backoff counter grows with failures and resets after a success", "[kube][backoff]") {
  Backoff backoff({100ms, 1000ms});
  CHECK(backoff.next(0) == 50ms);
  CHECK(backoff.next(0) == 100ms);
  CHECK(backoff.next(0) == 200ms);
  CHECK(backoff.attempt() == 3);
  backoff.reset();
  CHECK(backoff.attempt() == 0);
  CHECK(backoff.next(50) == 100ms);  // span [50, 100]: 51 values, 50 picks the top
}

TEST_CASE("watch timeouts are stretched by at most the spread", "[kube][backoff]") {
  CHECK(avw::kube::jittered(300'000ms, 100, 0) == 300'000ms);
  CHECK(avw::kube::jittered(300'000ms, 100, 300'000) == 600'000ms);
  CHECK(avw::kube::jittered(300'000ms, 100, 300'001) == 300'000ms);
  CHECK(avw::kube::jittered(1'000ms, 0, 999) == 1'000ms);
  CHECK(avw::kube::jittered(150ms, 50, 75) == 225ms);
}
