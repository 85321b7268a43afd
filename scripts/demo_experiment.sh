#!/usr/bin/env bash
# An experiment you can watch end to end (examples/experiment_demo.rs): simulated customers with
# known true responses, the model-driven policy against the rules and a no-action holdout, all
# through a live `nextbest serve`; prints the measured lifts beside the true ones and the
# results page's address.
#
#   ./scripts/demo_experiment.sh                      # 6,000 customers, then stops the service
#   KEEP=1 ./scripts/demo_experiment.sh               # leaves the service running to browse the page
#   CUSTOMERS=20000 SEED=3 ./scripts/demo_experiment.sh
#   SCREENSHOT=docs/experiment-results.png ./scripts/demo_experiment.sh   # needs chromium
set -euo pipefail
cd "$(dirname "$0")/.."
CUSTOMERS=${CUSTOMERS:-6000}
SEED=${SEED:-11}
PORT=${PORT:-18090}
cargo build --release --quiet --bin nextbest --example experiment_demo
target_dir=${CARGO_TARGET_DIR:-target}
tmp=$(mktemp -d)
cleanup() {
  if [ -z "${KEEP:-}" ]; then kill "$server" 2>/dev/null || true; rm -rf "$tmp"; fi
}
trap cleanup EXIT
RUST_LOG=warn "$target_dir/release/nextbest" serve --bind "127.0.0.1:$PORT" --database "$tmp/nextbest.db" &
server=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
  sleep 0.1
done
"$target_dir/release/examples/experiment_demo" --port "$PORT" --customers "$CUSTOMERS" --seed "$SEED"
if [ -n "${SCREENSHOT:-}" ]; then
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,2000 \
    --virtual-time-budget=10000 --screenshot="$SCREENSHOT" \
    "http://127.0.0.1:$PORT/experiments/demo-$SEED" 2>/dev/null
  echo "screenshot: $SCREENSHOT"
fi
if [ -n "${KEEP:-}" ]; then
  echo "the service keeps running (pid $server, database $tmp/nextbest.db); stop it with: kill $server"
fi
