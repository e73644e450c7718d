#!/usr/bin/env bash
# The load benchmark (tests/bench/README.md): the release server with synthetic stores of
# 10,000 and 100,000 tasks, driven over TLS with keep-alive by wrk (saturation) and h2load
# (a fixed rate of half our saturation), next to nginx serving a static response of the same
# bytes to the same generators. Prints a report and writes it to BUILD/bench-report.txt.
#
# Usage: tests/bench/load.sh --build DIR [--quick]   (scripts/bench builds DIR and calls this)
#   --quick  a smoke run of about a minute (short phases, a shorter core_bench)
# Env: AVW_BENCH_CONNECTIONS (default 16), AVW_BENCH_WRK_THREADS (default: the cores),
#      AVW_BENCH_SECONDS (each measured phase; default 15, --quick 3), AVW_BENCH_KEEP=1 keeps
#      the temporary directory (stores, server logs, h2load logs).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/tests/bench"

die() { echo "load.sh: $*" >&2; exit 2; }
build="" quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build) [ $# -ge 2 ] || die "--build needs a directory"; build="$(cd "$2" && pwd)"; shift 2 ;;
    --quick) quick=1; shift ;;
    -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ -n "$build" ] || die "--build DIR is required"
server_bin="$build/airflow-vpa-webhook"
make_store="$build/tests/bench/make_store"
core_bench="$build/tests/bench/core_bench"
for f in "$server_bin" "$make_store" "$core_bench"; do [ -x "$f" ] || die "$f is missing (run scripts/bench)"; done
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
for t in wrk h2load curl jq openssl "$nginx_bin"; do command -v "$t" >/dev/null || die "$t is not installed"; done

cores="$(nproc)"
conns="${AVW_BENCH_CONNECTIONS:-16}"
wrk_threads="${AVW_BENCH_WRK_THREADS:-$cores}"
if [ "$quick" -eq 1 ]; then
  phase="${AVW_BENCH_SECONDS:-3}" warm=1 core_min_time=0.05
else
  phase="${AVW_BENCH_SECONDS:-15}" warm=3 core_min_time=0.5
fi
stores=(10000 100000)

tmp="$(mktemp -d)"
server_pid="" nginx_pid=""
cleanup() {
  [ -z "$server_pid" ] || kill -KILL "$server_pid" 2>/dev/null || true
  [ -z "$nginx_pid" ] || kill -TERM "$nginx_pid" 2>/dev/null || true
  if [ "${AVW_BENCH_KEEP:-0}" = 1 ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
now_us() { local t="${EPOCHREALTIME/./}"; echo "$t"; }
note() { printf '\033[1m== [%3ss] %s\033[0m\n' "$SECONDS" "$*" >&2; }

# ---- inputs -------------------------------------------------------------------------------
note "inputs: certificates, stores of ${stores[*]} tasks, the AdmissionReviews"
"$root/certs/gen-dev-certs" --out "$tmp/certs" 2>/dev/null
cert="$tmp/certs/tls.crt" key="$tmp/certs/tls.key"
for n in "${stores[@]}"; do "$make_store" --tasks "$n" >"$tmp/store-$n.json"; done
cp "$root/tests/fixtures/admission/kpo-pod.json" "$tmp/review-kpo.json"
"$make_store" --large-review 32768 >"$tmp/review-large.json"
bodies=(kpo large)
declare -A body_desc=([kpo]="KPO pod" [large]="large pod")

# ---- measurements -------------------------------------------------------------------------
# Each prints `rps p50 p99 p999` (latencies in µs) or fails.

# wrk at saturation: $1 URL, $2 body file.
saturate() {
  AVW_BODY="$2" wrk -t "$wrk_threads" -c "$conns" -d "${warm}s" -s "$here/post.lua" "$1" >/dev/null
  local out
  out="$(AVW_BODY="$2" wrk -t "$wrk_threads" -c "$conns" -d "${phase}s" -s "$here/post.lua" "$1")"
  local line; line="$(grep '^AVW_RESULT' <<<"$out")" || die "wrk printed no result: $out"
  local -A r; local kv
  for kv in ${line#AVW_RESULT }; do r[${kv%%=*}]="${kv#*=}"; done
  [ "${r[errors]}" = 0 ] && [ "${r[non2xx]}" = 0 ] ||
    die "wrk on $1: ${r[errors]} socket errors, ${r[non2xx]} non-2xx answers"
  echo "${r[rps]} ${r[p50_us]} ${r[p99_us]} ${r[p999_us]}"
}

# h2load at a fixed total rate: $1 URL, $2 body file, $3 requests per second (all clients).
# h2load's log has one line per request: start time (µs), status, duration (µs).
fixed_rate() {
  local per_client=$(( ($3 + conns - 1) / conns ))
  [ "$per_client" -ge 1 ] || per_client=1
  local log="$tmp/h2load-$RANDOM.log"
  h2load --h1 -c "$conns" -t 1 --rps "$per_client" -D "$phase" --warm-up-time "$warm" \
    -H 'Content-Type: application/json' -d "$2" --log-file "$log" "$1" >"$log.out" 2>&1 ||
    die "h2load failed on $1: $(tail -n 3 "$log.out")"
  awk '$2 != 200 { bad++ } END { exit bad > 0 }' "$log" || die "h2load on $1: non-200 answers"
  [ -s "$tmp/tls.txt" ] || sed -n 's/^\(TLS Protocol\|Cipher\|Server Temp Key\): //p' "$log.out" | paste -sd' ' >"$tmp/tls.txt"
  awk '{ print $3 }' "$log" | sort -n | awk -v secs="$phase" '
    { v[NR] = $1 }
    function pct(p,  i) { i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; return v[i] }
    END { if (NR == 0) exit 1; printf "%.0f %d %d %d\n", NR / secs, pct(50), pct(99), pct(99.9) }'
}

free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$(( 20000 + RANDOM % 40000 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  die "no free port found"
}

# ---- our server ---------------------------------------------------------------------------
declare -A result   # key: "<server>/<store>/<body>/<what>"
# A port of our choosing (the log may be at warn level, where the server does not print it).
start_server() {  # $1 store size, $2 label, then extra flags; sets server_pid, port, ready_ms
  local n="$1" label="$2"; shift 2
  local log="$tmp/server-$label.log"
  port="$(free_port)"
  local t0; t0="$(now_us)"
  "$server_bin" serve --listen "127.0.0.1:$port" --tls-cert "$cert" --tls-key "$key" \
    --recommendations "$tmp/store-$n.json" "$@" 2>"$log" &
  server_pid=$!
  local deadline=$(( t0 + 120000000 ))
  until curl -sfk -o /dev/null "https://127.0.0.1:$port/readyz"; do
    kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; die "the server exited"; }
    [ "$(now_us)" -lt "$deadline" ] || die "the server did not get ready"
    sleep 0.005
  done
  ready_ms=$(( ($(now_us) - t0) / 1000 ))
}
stop_server() {
  kill -TERM "$server_pid"
  wait "$server_pid" || die "the server exited with status $? on SIGTERM"
  server_pid=""
}
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# $1 store size, $2 label (e.g. 10000 or 10000-warn), then extra server flags.
run_ours() {
  local n="$1" label="$2"; shift 2
  note "webhook, $n tasks${*:+ ($*)}: startup"
  start_server "$n" "$label" "$@"
  result[ours/$label/ready_ms]="$ready_ms"
  result[ours/$label/rss_ready_kb]="$(status_kb "$server_pid" VmRSS)"
  local url="https://127.0.0.1:$port/mutate?timeout=10s" b
  for b in "${bodies[@]}"; do
    curl -sSfk -H 'Content-Type: application/json' --data-binary @"$tmp/review-$b.json" "$url" -o "$tmp/response-$b.json"
    grep -q '"patchType":"JSONPatch"' "$tmp/response-$b.json" || die "the $b pod was not patched: $(head -c 300 "$tmp/response-$b.json")"
    note "webhook, $n tasks, ${body_desc[$b]}: saturation (wrk ${phase}s), then half of it (h2load ${phase}s)"
    result[ours/$label/$b/sat]="$(saturate "$url" "$tmp/review-$b.json")"
    local rps="${result[ours/$label/$b/sat]%% *}"
    result[ours/$label/$b/fixed]="$(fixed_rate "$url" "$tmp/review-$b.json" $(( rps / 2 )))"
  done
  result[ours/$label/hwm_kb]="$(status_kb "$server_pid" VmHWM)"
  result[ours/$label/rss_kb]="$(status_kb "$server_pid" VmRSS)"
  result[ours/$label/log_lines]="$(wc -l <"$tmp/server-$label.log")"
  stop_server
}

# ---- nginx --------------------------------------------------------------------------------
# Static files hold our own response bytes; nginx answers 405 to a POST on a static file,
# and `error_page 405 =200 $uri` serves the file instead (with a GET internally).
start_nginx() {
  local ng="$tmp/nginx"
  mkdir -p "$ng/www" "$ng/logs"
  # As root, nginx's workers would switch to nobody, who cannot read our private temp dir.
  local user_line=""
  [ "$(id -u)" -ne 0 ] || user_line="user $(id -un) $(id -gn);"
  for b in "${bodies[@]}"; do cp "$tmp/response-$b.json" "$ng/www/$b"; done
  for _ in 1 2 3; do
    nginx_port="$(free_port)"
    cat >"$ng/nginx.conf" <<EOF
$user_line
worker_processes $cores;
pid $ng/nginx.pid;
error_log $ng/logs/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $ng/body;
  proxy_temp_path $ng/proxy;
  fastcgi_temp_path $ng/fastcgi;
  uwsgi_temp_path $ng/uwsgi;
  scgi_temp_path $ng/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  server_tokens off;
  etag off;
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $cert;
    ssl_certificate_key $key;
    root $ng/www;
    default_type application/json;
    location / { error_page 405 =200 \$uri; }
  }
}
EOF
    "$nginx_bin" -p "$ng" -c "$ng/nginx.conf" -e "$ng/logs/error.log" 2>>"$ng/logs/error.log" &
    nginx_pid=$!
    for _ in $(seq 1 200); do
      curl -sfk -o /dev/null "https://127.0.0.1:$nginx_port/kpo" && return
      kill -0 "$nginx_pid" 2>/dev/null || break
      sleep 0.01
    done
    kill -TERM "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
    nginx_pid=""
  done
  tail -n 5 "$ng/logs/error.log" >&2
  die "nginx did not start"
}

run_nginx() {
  note "nginx: start ($cores worker processes)"
  start_nginx
  local b
  for b in "${bodies[@]}"; do
    local url="https://127.0.0.1:$nginx_port/$b?timeout=10s"
    cmp -s <(curl -sSfk -H 'Content-Type: application/json' --data-binary @"$tmp/review-$b.json" "$url") \
      "$tmp/response-$b.json" || die "nginx does not answer our response bytes for $b"
    note "nginx, ${body_desc[$b]}: saturation (wrk ${phase}s), then our 10k rate / 2 (h2load ${phase}s)"
    result[nginx/$b/sat]="$(saturate "$url" "$tmp/review-$b.json")"
    local ours="${result[ours/${stores[0]}/$b/sat]%% *}"
    result[nginx/$b/fixed]="$(fixed_rate "$url" "$tmp/review-$b.json" $(( ours / 2 )))"
  done
  kill -TERM "$nginx_pid"
  wait "$nginx_pid" || true
  nginx_pid=""
}

# ---- the run ------------------------------------------------------------------------------
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

note "core_bench (parse + decide + encode)"
"$core_bench" --benchmark_min_time="$core_min_time" --benchmark_format=json >"$tmp/core.json" 2>"$tmp/core.err" ||
  { cat "$tmp/core.err" >&2; die "core_bench failed"; }

for n in "${stores[@]}"; do run_ours "$n" "$n"; done
# The same with per-decision logging off (warn level), to show what the info line costs.
run_ours "${stores[0]}" "${stores[0]}-warn" --log-level warn
run_nginx
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- the report ---------------------------------------------------------------------------
report="$build/bench-report.txt"
kib() { echo "$(( ($1 + 1023) / 1024 ))"; }  # KiB -> MiB, rounded up
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
lat() { echo "$(ms "$1")/$(ms "$2")/$(ms "$3")"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
bytes() { wc -c <"$1" | tr -d ' '; }
{
  echo "airflow-vpa-webhook load benchmark, $started$( [ "$quick" -eq 1 ] && echo ' (--quick)')"
  echo "machine: $cores cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)), load average $load_start at start, $load_end at end"
  echo "webhook: $cores worker threads (default --threads), default flags, logs to a file; nginx $("$nginx_bin" -v 2>&1 | sed 's|.*/||'): $cores worker processes, static file of our response bytes"
  echo "load: wrk -t$wrk_threads -c$conns (saturation) and h2load --h1 -c$conns --rps (fixed rate), over TLS with keep-alive"
  echo "      ($(cat "$tmp/tls.txt"); one handshake per connection),"
  echo "      ${phase}s per phase after ${warm}s of warm-up, on the same $cores cores as the server (the generator competes for them)"
  echo "bodies: KPO pod = tests/fixtures/admission/kpo-pod.json ($(bytes "$tmp/review-kpo.json") B), large pod = make_store --large-review 32768 ($(bytes "$tmp/review-large.json") B);"
  echo "        responses $(bytes "$tmp/response-kpo.json") B and $(bytes "$tmp/response-large.json") B (both patched)"
  echo
  echo "latency p50/p99/p99.9 in ms; 'half' = h2load at half of our saturation rate (nginx: at half of ours with 10k tasks)"
  printf '%-22s %-10s %9s %8s %22s %8s %22s\n' server body "sat rps" "x nginx" "p50/p99/p99.9 at sat" "half rps" "p50/p99/p99.9 at half"
  for label in "${stores[@]}" "${stores[0]}-warn" nginx; do
    for b in "${bodies[@]}"; do
      if [ "$label" = nginx ]; then sat="${result[nginx/$b/sat]}" fixed="${result[nginx/$b/fixed]}" name="nginx (static)"
      else sat="${result[ours/$label/$b/sat]}" fixed="${result[ours/$label/$b/fixed]}"
        name="webhook ${label%%-*} tasks"; [[ "$label" != *-warn ]] || name="webhook ${stores[0]} log=warn"; fi
      read -r s50 s99 s999 <<<"$(cut -d' ' -f2- <<<"$sat")"; srps="${sat%% *}"
      read -r f50 f99 f999 <<<"$(cut -d' ' -f2- <<<"$fixed")"; frps="${fixed%% *}"
      printf '%-22s %-10s %9s %8s %22s %8s %22s\n' "$name" "${body_desc[$b]}" "$srps" \
        "$(ratio "$srps" "${result[nginx/$b/sat]%% *}")" "$(lat "$s50" "$s99" "$s999")" "$frps" "$(lat "$f50" "$f99" "$f999")"
    done
  done
  echo
  printf '%-22s %14s %16s %18s %16s\n' server "ready (ms)" "RSS ready (MiB)" "peak RSS (VmHWM)" "RSS after load"
  for label in "${stores[@]}" "${stores[0]}-warn"; do
    name="webhook ${label%%-*} tasks"; [[ "$label" != *-warn ]] || name="webhook ${stores[0]} log=warn"
    printf '%-22s %14s %16s %18s %16s\n' "$name" "${result[ours/$label/ready_ms]}" "$(kib "${result[ours/$label/rss_ready_kb]}")" \
      "$(kib "${result[ours/$label/hwm_kb]}") MiB" "$(kib "${result[ours/$label/rss_kb]}") MiB"
  done
  echo "ready = exec to the first GET /readyz 200 (polled every 5 ms); log lines written at info: ${result[ours/${stores[0]}/log_lines]} (10k run)"
  echo
  echo "core_bench (parse + decide + encode, one thread; Google Benchmark, min time ${core_min_time}s)"
  jq -r '.benchmarks[] | [.name, (.real_time | tostring) + " " + .time_unit, (.allocs_per_req | floor | tostring), (.body_bytes | floor | tostring)] | @tsv' \
    "$tmp/core.json" | awk -F'\t' 'BEGIN { printf "  %-32s %14s %12s %10s\n", "benchmark", "time/request", "allocs/req", "body B" }
      { split($2, t, " "); printf "  %-32s %11.2f %s %12s %10s\n", $1, t[1], t[2], $3, $4 }'
  echo
  echo "targets"
  check() { printf '  %-58s %s\n' "$1" "$( [ "$2" = 1 ] && echo met || echo 'NOT met')"; }
  r10="${result[ours/${stores[0]}/kpo/sat]%% *}" rn="${result[nginx/kpo/sat]%% *}"
  check "throughput >= 0.5x nginx (KPO pod, 10k): $(ratio "$r10" "$rn")x" "$(awk -v a="$r10" -v b="$rn" 'BEGIN { print (a >= 0.5 * b) }')"
  worst=0; for n in "${stores[@]}"; do for b in "${bodies[@]}"; do
    read -r _ _ p99 _ <<<"${result[ours/$n/$b/fixed]}"; [ "$p99" -le "$worst" ] || worst="$p99"; done; done
  check "p99 < 1 ms at half of saturation (worst case): $(ms "$worst") ms" "$(( worst < 1000 ))"
  core_us="$(jq -r '[.benchmarks[] | select(.name | startswith("kpo_pod_enforce"))
    | .real_time * ({"ns": 0.001, "us": 1, "ms": 1000}[.time_unit])] | max | . * 100 | round / 100' "$tmp/core.json")"
  check "core < 20 us per typical request (KPO pod): $core_us us" "$(awk -v t="$core_us" 'BEGIN { print (t < 20) }')"
  hwm="$(kib "${result[ours/${stores[-1]}/hwm_kb]}")"
  check "peak RSS < 64 MiB with ${stores[-1]} tasks: $hwm MiB" "$(( hwm < 64 ))"
} | tee "$report"
echo "(saved to $report)" >&2
