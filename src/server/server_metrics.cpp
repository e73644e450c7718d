#include "server_metrics.hpp"

#include <cmath>
#include <string>

namespace avw::server {

ServerMetrics::ServerMetrics(metrics::Registry& r)
    : registry(r),
      tls_handshake_failures(r.counter("avw_tls_handshake_failures_total", "TLS handshakes that failed or timed out.")),
      connections_open(r.gauge("avw_connections_open", "Connections currently open.")),
      connections_accepted(r.counter("avw_connections_accepted_total", "Connections accepted.")),
      connections_rejected(r.counter("avw_connections_rejected_total",
                                     "Connections closed at once because --max-connections were open.")),
      tls_reloads_ok(r.counter("avw_tls_reloads_total", "Reloads of the TLS certificate and key, by result.",
                               {{"result", "success"}})),
      tls_reloads_failed(r.counter("avw_tls_reloads_total", "Reloads of the TLS certificate and key, by result.",
                                   {{"result", "failure"}})),
      store_vpas(r.gauge("avw_store_vpas", "VPAs in the current snapshot.")),
      store_targets(r.gauge("avw_store_targets", "Scale targets (AirflowTasks...) in the current snapshot.")),
      store_limit_ranges(r.gauge("avw_store_limitranges", "LimitRanges in the current snapshot.")),
      store_checkpoints(r.gauge("avw_store_checkpoints", "VPA checkpoints in the current snapshot.")),
      store_age_seconds(r.gauge("avw_store_age_seconds",
                                "Seconds since the recommendation source was last known in sync (NaN before).")),
      ready(r.gauge("avw_ready", "1 when /readyz answers 200.")) {
  constexpr std::array<std::string_view, 2> kPaths = {"/mutate", "/audit"};
  constexpr std::array<std::string_view, 5> kOutcomes = {"patched", "audited", "unchanged", "skipped", "invalid"};
  constexpr std::array<std::string_view, 2> kModes = {"enforce", "dry-run"};
  constexpr std::array<std::string_view, 2> kValues = {"original", "new"};
  for (std::size_t p = 0; p < kPaths.size(); ++p) {
    for (std::size_t o = 0; o < kOutcomes.size(); ++o) {
      admission_requests[p][o] = &r.counter("avw_admission_requests_total", "Admission requests, by path and outcome.",
                                            {{"path", std::string(kPaths[p])}, {"outcome", std::string(kOutcomes[o])}});
    }
    admission_duration[p] = &r.histogram(
        "avw_admission_duration_seconds",
        "Admission request latency, from the request read to the response written, in seconds.",
        metrics::latency_buckets(), {{"path", std::string(kPaths[p])}});
  }
  for (std::size_t m = 0; m < kModes.size(); ++m) {
    for (std::size_t v = 0; v < kValues.size(); ++v) {
      const metrics::Labels labels = {{"mode", std::string(kModes[m])}, {"requests", std::string(kValues[v])}};
      cpu_millicores[m][v] = &r.counter(
          "avw_admission_cpu_request_millicores_total",
          "Sum of cpu requests (millicores) of the containers the webhook planned, as the pods asked (original) "
          "and as patched or as enforcing would have patched (new).",
          labels);
      memory_bytes[m][v] = &r.counter(
          "avw_admission_memory_request_bytes_total",
          "Sum of memory requests (bytes) of the containers the webhook planned, as the pods asked (original) "
          "and as patched or as enforcing would have patched (new).",
          labels);
    }
  }
  for (core::Gate g : {core::Gate::History, core::Gate::Retry, core::Gate::Step, core::Gate::Oom}) {
    gate_held[static_cast<std::size_t>(g)] =
        &r.counter("avw_gate_held_total", "Admissions in which a safety gate held a change back or raised memory (oom), by gate.",
                   {{"gate", std::string(core::to_string(g))}});
  }
  for (std::size_t i = 0; i < kErrorStatuses.size(); ++i) {
    http_errors_[i] = &r.counter("avw_http_errors_total", "HTTP error responses, by status.",
                                 {{"status", std::to_string(kErrorStatuses[i])}});
  }
  http_errors_other_ = &r.counter("avw_http_errors_total", "HTTP error responses, by status.", {{"status", "other"}});
  store_age_seconds.set(std::nan(""));
}

metrics::Counter& ServerMetrics::http_error(unsigned status) {
  for (std::size_t i = 0; i < kErrorStatuses.size(); ++i) {
    if (kErrorStatuses[i] == status) return *http_errors_[i];
  }
  return *http_errors_other_;
}

}  // namespace avw::server
