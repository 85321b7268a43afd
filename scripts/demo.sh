#!/usr/bin/env bash
# The main job on the bundled data, end to end: inspect the committed sample, featurise it,
# simulate a fresh world, train a churn model, score text — then start the decision service on
# the committed models and ask it what to do next for three customers of the sample (a happy
# loyal buyer, one who just complained, a lapsing one), and stop it.
#
#   ./scripts/demo.sh                   builds in release mode first (minutes, once)
#   NB=target/debug/nextbest ./scripts/demo.sh    any built binary instead (skips the build)
#   SIM_CUSTOMERS=100000 ./scripts/demo.sh        a bigger simulated world (default 20,000)
#
# Outputs go to ./out (git-ignored); the service's database and log live in a temporary folder
# that is removed at the end. Needs bash and python3 (standard library only).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
SIM_CUSTOMERS=${SIM_CUSTOMERS:-20000}
mkdir -p "$OUT"

if [ -z "${NB:-}" ]; then
  echo "== building (release; several minutes the first time)"
  cargo build --release --locked --quiet
  NB="${CARGO_TARGET_DIR:-./target}/release/nextbest"
fi

echo; echo "== inspect the committed sample (datasets/sample)"
$NB inspect datasets/sample/events.parquet --customers datasets/sample/customers.parquet

echo; echo "== features as of 2025-10-01, one row per customer"
$NB features --events datasets/sample/events.parquet --customers datasets/sample/customers.parquet \
  --catalog datasets/sample/catalog.toml --cutoff 2025-10-01 --out "$OUT/sample_features.parquet"

echo; echo "== simulate $SIM_CUSTOMERS customers over 365 days (seed 1) into $OUT/world"
$NB generate --customers "$SIM_CUSTOMERS" --days 365 --seed 1 --out "$OUT/world"

echo; echo "== features for the simulated world as of 2025-10-01"
$NB features --events "$OUT/world/events.parquet" --customers "$OUT/world/customers.parquet" \
  --catalog "$OUT/world/catalog.toml" --cutoff 2025-10-01 --out "$OUT/world_features.parquet"

echo; echo "== train a churn model on the sample (time-based holdout) and show it"
$NB train --config training/churn.toml --out "$OUT/models/churn"
$NB models show "$OUT/models/churn"

echo; echo "== score customer text with the committed sentiment model"
printf 'Thanks, the agent fixed my order in minutes!\nThis is the third time I have to contact you about my invoice.\n' | $NB sentiment

# The main job of a next-best-action engine: decisions. The committed models (models/churn,
# models/conversion, models/sentiment), the shipped policies and the sample's catalog, on a free
# port with a throwaway database; the trap stops the service however the script ends.
echo; echo "== decisions: nextbest serve on the committed models, three customers of the sample"
SERVE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/nextbest-demo.XXXXXX")
SERVE_PID=
stop_service() {
  if [ -n "$SERVE_PID" ] && kill -0 "$SERVE_PID" 2>/dev/null; then
    kill -TERM "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
  fi
  rm -rf "$SERVE_DIR"
}
trap stop_service EXIT
trap 'exit 130' INT TERM

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
$NB serve --bind "127.0.0.1:$PORT" --database "$SERVE_DIR/nextbest.db" \
  --policies policies --catalog datasets/sample/catalog.toml >"$SERVE_DIR/serve.log" 2>&1 &
SERVE_PID=$!
echo "nextbest serve on $URL (pid $SERVE_PID, database $SERVE_DIR/nextbest.db)"
show_log_and_fail() {
  echo "--- the service's log ($SERVE_DIR/serve.log):" >&2; cat "$SERVE_DIR/serve.log" >&2; exit 1
}
python3 scripts/demo/decide.py wait "$URL" "$SERVE_PID" || show_log_and_fail
# The customers were picked from datasets/sample by their histories (the rules are in
# scripts/demo/pick_customers.py, which wrote scripts/demo/customers.json once: it needs pyarrow,
# the demo does not). Their events go to POST /v1/events; each decision is asked at the
# sample's end (2026-01-01) with "explain": true.
python3 scripts/demo/decide.py run "$URL" scripts/demo/customers.json || show_log_and_fail

stop_service
SERVE_PID=
echo; echo "done: the service is stopped; see $OUT/ (feature matrices are Parquet with a .spec.json beside each)"
