#include "avw/kube/backoff.hpp"

#include <algorithm>

namespace avw::kube {

std::chrono::milliseconds backoff_ceiling(const BackoffPolicy& policy, unsigned attempt) {
  const std::int64_t max = std::max<std::int64_t>(1, policy.max.count());
  std::int64_t delay = std::clamp<std::int64_t>(policy.initial.count(), 1, max);
  // Doubling stops at the cap, so the shift never overflows however large `attempt` is.
  for (unsigned i = 0; i < attempt && delay < max; ++i) delay = std::min(max, delay * 2);
  return std::chrono::milliseconds(delay);
}

std::chrono::milliseconds backoff_delay(const BackoffPolicy& policy, unsigned attempt,
                                        std::uint64_t random) {
  const std::int64_t ceiling = backoff_ceiling(policy, attempt).count();
  const std::int64_t floor = ceiling - ceiling / 2;
  const auto span = static_cast<std::uint64_t>(ceiling - floor) + 1;
  return std::chrono::milliseconds(floor + static_cast<std::int64_t>(random % span));
}

std::chrono::milliseconds jittered(std::chrono::milliseconds base, unsigned spread_percent,
                                   std::uint64_t random) {
  const std::int64_t b = std::max<std::int64_t>(0, base.count());
  const auto pct = static_cast<std::int64_t>(spread_percent);
  const std::int64_t spread = b / 100 * pct + b % 100 * pct / 100;
  const auto span = static_cast<std::uint64_t>(spread) + 1;
  return std::chrono::milliseconds(b + static_cast<std::int64_t>(random % span));
}

}  // namespace avw::kube
