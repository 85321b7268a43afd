#!/usr/bin/env bash
# Load test of `nextbest serve` on loopback: wrk POSTs decisions with 20 candidates each (6 catalog
# actions + 14 inline variants scored as their base action), a 36-event history with 5 texts
# (sentiment), churn and conversion models, the default policy, every decision logged to SQLite.
# Prints throughput, latency percentiles, non-200 count and the server's memory over the run.
#   DURATION=60s CONNECTIONS=16 ./benches/load_test.sh
# Needs `wrk` (Debian: apt-get install wrk). Not part of the test suite: timings vary by machine.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-30s}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-1}
PORT=${PORT:-18080}
WORKERS=${WORKERS:-2}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet
tmp=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$tmp"' EXIT
RUST_LOG=warn target/release/nextbest serve --bind "127.0.0.1:$PORT" --database "$tmp/nextbest.db" \
  --workers "$WORKERS" &
server=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "server did not become ready" >&2; exit 1; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
# Warm up (page cache, allocator, SQLite) before measuring.
wrk -t1 -c4 -d3s -s benches/load/post.lua "http://127.0.0.1:$PORT/v1/decisions" >/dev/null
echo "server RSS after warm-up: $(rss) kB"
( for _ in $(seq 1 1000); do sleep 5; echo "  RSS $(rss) kB"; done ) &
sampler=$!
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s benches/load/post.lua \
  "http://127.0.0.1:$PORT/v1/decisions"
kill "$sampler" 2>/dev/null || true
echo "server RSS at the end: $(rss) kB"
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^nextbest_(errors_total|decision_log)' || true
