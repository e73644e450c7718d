-- wrk script: POSTs the AdmissionReview in $AVW_BODY (a file) with Content-Type
-- application/json on every request, and prints the latency percentiles and the counts on
-- one line that load.sh reads:
--   AVW_RESULT rps=... p50_us=... p99_us=... p999_us=... requests=... errors=... non2xx=...
local f = assert(io.open(os.getenv("AVW_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.timeout
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "AVW_RESULT rps=%.0f p50_us=%d p99_us=%d p999_us=%d max_us=%d requests=%d errors=%d non2xx=%d\n",
    summary.requests / seconds, latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    latency.max, summary.requests, errors, e.status))
end
