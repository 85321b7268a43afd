#!/usr/bin/env bash
# The batch benchmark: `nextbest score --features` against a Python baseline (pyarrow/pandas +
# LightGBM + numpy top-K, benches/batch/baseline.py) on the same feature matrix: ROWS customers
# (default 1,000,000: the sample world's feature rows repeated under new ids), 20 candidates
# (benches/batch/catalog20.toml), 2 models (churn, conversion), top 3 per customer, Parquet in
# and out. Runs A B A B (nextbest, baseline, nextbest, baseline) so that a machine busy with
# something else slows both alike; reports wall time, action-scores/s and peak memory (RSS).
#
#   ./benches/batch/run.sh               # 1M customers
#   ROWS=200000 ./benches/batch/run.sh
#   ROUNDS=3 WORK=/tmp/bench ./benches/batch/run.sh   # more pairs; reuse the matrix in /tmp/bench
#   NB=path/to/nextbest ./benches/batch/run.sh        # a binary built otherwise (no release build)
#
# Not part of the test suite: timings depend on the machine and on whatever else runs on it.
# Needs python3 (a venv with pyarrow, pandas, numpy, lightgbm from PyPI is made in .venv-bench/).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=${ROWS:-1000000}
TOP_K=${TOP_K:-3}
ROUNDS=${ROUNDS:-2}
WORK=${WORK:-$(mktemp -d)}
VENV=.venv-bench
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q pyarrow pandas numpy lightgbm
fi
if [ -z "${NB:-}" ]; then
  cargo build --release --quiet
  NB=target/release/nextbest
fi

# The models' feature spec, and the sample world's feature matrix under it.
"$VENV/bin/python" -c "import json,sys; print(json.dumps(json.load(open('models/conversion/manifest.json'))['features']))" > "$WORK/spec.json"
"$NB" features --events datasets/sample/events.parquet --customers datasets/sample/customers.parquet \
  --spec "$WORK/spec.json" --sentiment-model models/sentiment --cutoff 2025-11-01 \
  --out "$WORK/base.parquet" > /dev/null
if [ ! -f "$WORK/matrix.parquet" ]; then
  "$VENV/bin/python" benches/batch/make_matrix.py "$WORK/base.parquet" "$ROWS" "$WORK/matrix.parquet"
fi

run_nextbest() {
  /usr/bin/time -f "nextbest: peak RSS %M KB, %e s wall, %U s user" \
    "$NB" score --features "$WORK/matrix.parquet" --catalog benches/batch/catalog20.toml \
    --top-k "$TOP_K" --out "$WORK/nextbest.parquet" 2>&1 | grep -E "scored|peak RSS"
}
run_baseline() {
  /usr/bin/time -f "baseline: peak RSS %M KB, %e s wall, %U s user" \
    "$VENV/bin/python" benches/batch/baseline.py "$WORK/matrix.parquet" "$WORK/baseline.parquet" "$TOP_K" \
    2>&1 | grep -E "customers in|peak RSS"
}
echo "== $ROWS customers × 20 candidates × 2 models, top $TOP_K ($(nproc) cores)"
for round in $(seq "$ROUNDS"); do
  echo "-- round $round"
  run_nextbest
  run_baseline
done
echo "(action-scores = customers × 20 candidates × 2 models; work files in $WORK)"
