#!/usr/bin/env bash
# Load test of `nextbest serve` on loopback. Every request is the decision in
# benches/load/decision.json: 20 candidates (6 catalog actions + 14 inline variants scored as
# their base action), a 36-event history with 5 texts (sentiment), churn and conversion models,
# the default policy, and every decision logged (to SQLite, or PostgreSQL with DATABASE=).
#
# Two runs against one server:
#   1. fixed rate (open loop, oha with latency correction, so a stall cannot hide queued
#      requests): RATE decisions/s for DURATION; latency percentiles. Skipped without oha.
#   2. saturation (closed loop, wrk with CONNECTIONS connections): the most decisions/s the
#      server sustains, latency percentiles, non-2xx count, server CPU per decision, and the
#      server's memory sampled every 5 s.
#
#   DURATION=60s ./benches/load_test.sh
#   RATE=5000 CONNECTIONS=8 WORKERS=2 DURATION=30s ./benches/load_test.sh
#   ACKNOWLEDGE=queued ./benches/load_test.sh     # answer once queued (default: spooled; or committed)
#   EXPERIMENT=1 ./benches/load_test.sh           # with a running experiment (two arms)
#   DATABASE=postgres://nextbest@%2Fvar%2Frun%2Fpostgresql/nextbest ./benches/load_test.sh
#
# DATABASE is where the service logs (default: a fresh SQLite file); a PostgreSQL database is
# used as it is (give it an empty one).
#
# Needs wrk (Debian: apt-get install wrk) and optionally oha (cargo install oha --locked).
# Not part of the test suite: timings vary by machine, and anything else running on it
# (a build, a training job) competes with the server for the same cores.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-30s}
CONNECTIONS=${CONNECTIONS:-8}
RATE=${RATE:-5000}
THREADS=${THREADS:-1}
PORT=${PORT:-18080}
WORKERS=${WORKERS:-2}
ACKNOWLEDGE=${ACKNOWLEDGE:-}
EXPERIMENT=${EXPERIMENT:-}
BODY=benches/load/decision.json
URL="http://127.0.0.1:$PORT/v1/decisions"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
# NEXTBEST_BIN runs another build (e.g. to compare two commits); default: this checkout's.
if [ -z "${NEXTBEST_BIN:-}" ]; then
  cargo build --release --quiet
  NEXTBEST_BIN=target/release/nextbest
fi
tmp=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$tmp"' EXIT
DATABASE=${DATABASE:-$tmp/nextbest.db}
RUST_LOG=warn "$NEXTBEST_BIN" serve --bind "127.0.0.1:$PORT" --database "$DATABASE" \
  --workers "$WORKERS" ${ACKNOWLEDGE:+--acknowledge "$ACKNOWLEDGE"} &
server=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "server did not become ready" >&2; exit 1; }
if [ -n "$EXPERIMENT" ]; then
  # Two arms on the same policy: the cost measured is the experiment's alone.
  curl -sf -X POST "http://127.0.0.1:$PORT/v1/experiments" -H 'content-type: application/json' \
    -d '{"id": "load", "name": "load test", "arms": [{"name": "a", "policy": "default", "weight": 1}, {"name": "b", "policy": "default", "weight": 1}]}' >/dev/null
  curl -sf -X POST "http://127.0.0.1:$PORT/v1/experiments/load/start" >/dev/null
  echo "experiment 'load' running"
fi
rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
# CPU the server spent (user + system, all threads), in clock ticks: per decision it is a
# figure that other load on the machine does not distort, unlike throughput.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
# Warm up (page cache, allocator, SQLite) before measuring.
wrk -t1 -c4 -d3s -s benches/load/post.lua "$URL" >/dev/null
echo "server RSS after warm-up: $(rss) kB"

if command -v oha >/dev/null; then
  echo "== fixed rate: $RATE decisions/s for $DURATION (oha, 16 connections, latency-corrected)"
  oha -z "$DURATION" -q "$RATE" -c 16 -m POST -D "$BODY" -T application/json --no-tui \
    --latency-correction --worker-threads 1 "$URL" |
    grep -E 'Success rate|Requests/sec|Slowest|in [0-9.]+ ms|\[[0-9]+\]|aborted' || true
else
  echo "== fixed rate: skipped (oha is not installed: cargo install oha --locked)"
fi

echo "== saturation: wrk, $CONNECTIONS connections, $DURATION"
( for _ in $(seq 1 1000); do sleep 5; echo "  RSS $(rss) kB"; done ) &
sampler=$!
cpu_before=$(cpu_ticks)
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s benches/load/post.lua "$URL" |
  tee "$tmp/wrk.txt"
cpu_after=$(cpu_ticks)
kill "$sampler" 2>/dev/null || true
echo "server RSS at the end: $(rss) kB"
requests=$(awk '/requests in/ {print $1}' "$tmp/wrk.txt")
awk -v ticks=$((cpu_after - cpu_before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" \
  'BEGIN { if (n > 0) printf "server CPU per decision: %.0f µs\n", ticks / hz / n * 1e6 }'
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^nextbest_(errors_total|decision_log)' || true
