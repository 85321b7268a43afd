#!/usr/bin/env bash
# The issue's Spark bar: the Spark recipe (python/nextbest/spark.py, DataFrame.mapInArrow) scores
# the simulated world of CUSTOMERS customers (default 100,000, 365 days) on local[2], and its
# output equals `nextbest score`'s on the same feature matrix, row for row (every column, floats
# exactly). Prints the time of each step.
#
#   ./benches/batch/spark_world.sh                 # 100,000 customers
#   CUSTOMERS=20000 ./benches/batch/spark_world.sh
#   PACKAGE_PROFILE=debug ./benches/batch/spark_world.sh   # reuse the package's debug build
#
# Not in the default CI run (it takes several minutes: a release build of the package, the
# world, Spark); scripts/python_tests.sh runs the same recipe on the 2,000-customer sample.
# Needs Java 17 and PyPI (a venv in .venv-py/, as scripts/python_tests.sh makes it).
set -euo pipefail
cd "$(dirname "$0")/../.."
CUSTOMERS=${CUSTOMERS:-100000}
TOP_K=${TOP_K:-3}
AS_OF=${AS_OF:-2026-01-01}
WORK=${WORK:-$(mktemp -d)}
PACKAGE_PROFILE=${PACKAGE_PROFILE:-release}
VENV=.venv-py
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    "maturin>=1.7,<2" "pytest>=8" "pyarrow>=14" "pandas>=2.2,<3" "pyspark>=3.5"
fi
step() { echo "== $* ($(date -u +%H:%M:%S))"; }
seconds() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f} s')" "$1" "$(date +%s.%N)"; }

step "building nextbest (release) and the Python package ($PACKAGE_PROFILE)"
cargo build --release --quiet --bin nextbest
RELEASE=()
[ "$PACKAGE_PROFILE" = release ] && RELEASE=(--release)
CARGO_TARGET_DIR="$PWD/target" VIRTUAL_ENV="$PWD/$VENV" PATH="$PWD/$VENV/bin:$PATH" \
  "$VENV/bin/python" -m maturin develop "${RELEASE[@]}" --quiet -m python/Cargo.toml
NB=target/release/nextbest

step "generating the world: $CUSTOMERS customers, 365 days"
t=$(date +%s.%N)
"$NB" generate --customers "$CUSTOMERS" --days 365 --out "$WORK/world" > /dev/null
echo "   $(seconds "$t")"

step "features as of $AS_OF (the models' spec)"
t=$(date +%s.%N)
"$VENV/bin/python" -c "import json; print(json.dumps(json.load(open('models/conversion/manifest.json'))['features']))" > "$WORK/spec.json"
"$NB" features --events "$WORK/world/events.parquet" --customers "$WORK/world/customers.parquet" \
  --spec "$WORK/spec.json" --sentiment-model models/sentiment --cutoff "$AS_OF" \
  --out "$WORK/features.parquet" > /dev/null
echo "   $(seconds "$t")"

step "nextbest score --features (top $TOP_K)"
t=$(date +%s.%N)
"$NB" score --features "$WORK/features.parquet" --catalog "$WORK/world/catalog.toml" \
  --top-k "$TOP_K" --out "$WORK/cli.parquet" 2>&1 | grep -E "scored" || true
echo "   $(seconds "$t")"

step "the Spark recipe on local[2], compared row for row"
SPARK_LOCAL_IP=127.0.0.1 "$VENV/bin/python" benches/batch/spark_world.py "$WORK/features.parquet" \
  "$WORK/cli.parquet" "$WORK/spark_out" "$TOP_K" "$WORK/world/catalog.toml"
echo "(work files in $WORK)"
