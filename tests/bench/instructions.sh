#!/usr/bin/env bash
# User-space instructions per request, counted by callgrind: the one figure that does not move
# with what else runs on a shared machine, for an A/B of two builds of the server.
# (tests/bench/README.md). It counts instructions, not time: a cache miss or a syscall costs
# nothing here, and `rep movsb` counts one per byte.
#
# Usage: tests/bench/instructions.sh --build DIR [--requests N]   (default 2000 per body)
#   DIR is a build with the server and tests/bench/make_store (scripts/bench makes one).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
die() { echo "instructions.sh: $*" >&2; exit 2; }
build="" requests=2000
while [ $# -gt 0 ]; do
  case "$1" in
    --build) [ $# -ge 2 ] || die "--build needs a directory"; build="$(cd "$2" && pwd)"; shift 2 ;;
    --requests) [ $# -ge 2 ] || die "--requests needs a number"; requests="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ -n "$build" ] || die "--build DIR is required"
[[ "$requests" =~ ^[1-9][0-9]*$ ]] || die "--requests must be a positive number"
server_bin="$build/airflow-vpa-webhook" make_store="$build/tests/bench/make_store"
for f in "$server_bin" "$make_store"; do [ -x "$f" ] || die "$f is missing (run scripts/bench)"; done
for t in valgrind callgrind_control h2load curl; do command -v "$t" >/dev/null || die "$t is not installed"; done

tmp="$(mktemp -d)" vg_pid=""
cleanup() {
  [ -z "$vg_pid" ] || kill -KILL "$vg_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

"$root/certs/gen-dev-certs" --out "$tmp/certs" 2>/dev/null
"$make_store" --tasks 10000 >"$tmp/store.json"
"$make_store" --large-review 32768 >"$tmp/large.json"
cp "$root/tests/fixtures/admission/kpo-pod.json" "$tmp/kpo.json"

# Port 0: the kernel picks a free one, and the server's first log line says which.
valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" --dump-instr=no \
  "$server_bin" serve --listen 127.0.0.1:0 --tls-cert "$tmp/certs/tls.crt" --tls-key "$tmp/certs/tls.key" \
  --recommendations "$tmp/store.json" >/dev/null 2>"$tmp/server.log" &
vg_pid=$!
port=""
for _ in $(seq 1 600); do
  [ -n "$port" ] || port="$(sed -n 's/.* listening address=127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$tmp/server.log" | head -n 1)"
  [ -n "$port" ] && curl -sfk -o /dev/null "https://127.0.0.1:$port/readyz" && break
  kill -0 "$vg_pid" 2>/dev/null || { tail -n 20 "$tmp/server.log" >&2; die "the server exited"; }
  sleep 0.2
done
[ -n "$port" ] && curl -sfk -o /dev/null "https://127.0.0.1:$port/readyz" || die "the server did not get ready under valgrind"

drive() {  # $1 body file, $2 requests: over 4 keep-alive connections
  local out
  out="$(h2load --h1 -n "$2" -c 4 -t 1 -H 'Content-Type: application/json' -d "$1" "https://127.0.0.1:$port/mutate")"
  grep -q "^status codes: $2 2xx" <<<"$out" || die "not every request got 2xx: $(grep -E '^(requests|status)' <<<"$out")"
}

echo "user-space instructions per request (callgrind, $requests requests after 300 of warm-up, 4 connections):"
for body in kpo large; do
  drive "$tmp/$body.json" 300
  callgrind_control -z "$vg_pid" >/dev/null 2>&1
  drive "$tmp/$body.json" "$requests"
  callgrind_control -d "$vg_pid" >/dev/null 2>&1
  # The dump is a file of its own, cg.out.N; it is complete once its totals line is there.
  dump=""
  for _ in $(seq 1 100); do
    dump="$(ls "$tmp"/cg.out.* 2>/dev/null | head -n 1)"
    [ -n "$dump" ] && grep -q '^totals:' "$dump" && break
    sleep 0.1
  done
  total="$(awk '$1 == "totals:" { print $2 }' "$dump")"
  [ -n "$total" ] || die "callgrind wrote no totals"
  rm -f "$tmp"/cg.out.*
  printf '  %-10s %10d  (%s B body)\n' "$body pod" $(( total / requests )) "$(wc -c <"$tmp/$body.json" | tr -d ' ')"
done
kill -TERM "$vg_pid"
wait "$vg_pid" || true
vg_pid=""
