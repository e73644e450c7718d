// Every series the server updates, registered once so the hot path only touches atomics.
#pragma once

#include <array>
#include <cstddef>

#include "avw/core/decision.hpp"
#include "avw/metrics/metrics.hpp"

namespace avw::server {

enum class AdmissionPath : std::uint8_t { Mutate = 0, Audit = 1 };
/// The outcome label: the decision's, or `invalid` for a request answered 400.
inline constexpr std::size_t kOutcomeInvalid = 4;

struct ServerMetrics {
  explicit ServerMetrics(metrics::Registry& registry);

  metrics::Registry& registry;
  // [path][outcome]: patched, audited, unchanged, skipped, invalid.
  std::array<std::array<metrics::Counter*, 5>, 2> admission_requests{};
  std::array<metrics::Histogram*, 2> admission_duration{};
  // [mode][0 original, 1 new]
  std::array<std::array<metrics::Counter*, 2>, 2> cpu_millicores{};
  std::array<std::array<metrics::Counter*, 2>, 2> memory_bytes{};
  // [gate]: history, retry, step
  std::array<metrics::Counter*, 4> gate_held{};

  metrics::Counter& tls_handshake_failures;
  metrics::Gauge& connections_open;
  metrics::Counter& connections_accepted;
  metrics::Counter& connections_rejected;
  metrics::Counter& tls_reloads_ok;
  metrics::Counter& tls_reloads_failed;
  metrics::Gauge& store_vpas;
  metrics::Gauge& store_targets;
  metrics::Gauge& store_limit_ranges;
  metrics::Gauge& store_checkpoints;
  metrics::Gauge& store_age_seconds;
  metrics::Gauge& ready;

  /// The counter of HTTP error responses with this status (4xx, 5xx).
  metrics::Counter& http_error(unsigned status);

 private:
  static constexpr std::array<unsigned, 9> kErrorStatuses = {400, 404, 405, 408, 413, 415, 431, 500, 503};
  std::array<metrics::Counter*, kErrorStatuses.size()> http_errors_{};
  metrics::Counter* http_errors_other_ = nullptr;
};

}  // namespace avw::server
