// File: backoff.hpp
//
// Retry delays for the API client: exponential (initial, doubling, capped) with jitter, so
// many webhook replicas that lost the API server together do not come back in lockstep.
// Pure arithmetic: the caller supplies the random bits, so tests are exact.
#pragma once

#include <chrono>
#include <cstdint>

namespace avw::kube {

struct BackoffPolicy {
  std::chrono::milliseconds initial{500};
  std::chrono::milliseconds max{30'000};
};

/// The un-jittered delay of retry number `attempt` (0-based): initial * 2^attempt, capped at
/// max (and never below 1 ms).
std::chrono::milliseconds backoff_ceiling(const BackoffPolicy& policy, unsigned attempt);

/// A delay uniformly spread over [ceiling/2, ceiling] by `random` ("equal jitter": never
/// much shorter than intended, never longer than the cap).
std::chrono::milliseconds backoff_delay(const BackoffPolicy& policy, unsigned attempt,
                                        std::uint64_t random);

/// `base` stretched by up to `spread_percent` percent, chosen by `random`
/// (watch timeouts: 5 min + up to 100 % so replicas' watches do not all end together).
std::chrono::milliseconds jittered(std::chrono::milliseconds base, unsigned spread_percent,
                                   std::uint64_t random);

/// The attempt counter between successes.
class Backoff {
 public:
  explicit Backoff(BackoffPolicy policy) : policy_(policy) {}
  /// The delay before the next retry; each call counts one more failure.
  std::chrono::milliseconds next(std::uint64_t random) {
    auto d = backoff_delay(policy_, attempt_, random);
    if (attempt_ < kMaxAttempt) ++attempt_;
    return d;
  }
  void reset() { attempt_ = 0; }
  unsigned attempt() const { return attempt_; }

 private:
  static constexpr unsigned kMaxAttempt = 62;
  BackoffPolicy policy_;
  unsigned attempt_ = 0;
};

}  // namespace avw::kube
