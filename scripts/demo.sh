#!/usr/bin/env bash
# The main job on the bundled data: inspect the committed sample, featurise it, then simulate a
# fresh 100,000-customer year and featurise that too. Outputs go to ./out (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
mkdir -p "$OUT"

echo "== building (release)"
cargo build --release --locked --quiet
NB=./target/release/nextbest

echo; echo "== inspect the committed sample (datasets/sample)"
$NB inspect datasets/sample/events.parquet --customers datasets/sample/customers.parquet

echo; echo "== features as of 2025-10-01, one row per customer"
$NB features --events datasets/sample/events.parquet --customers datasets/sample/customers.parquet \
  --catalog datasets/sample/catalog.toml --cutoff 2025-10-01 --out "$OUT/sample_features.parquet"

echo; echo "== simulate 100,000 customers over 365 days (seed 1) into $OUT/world"
$NB generate --customers 100000 --days 365 --seed 1 --out "$OUT/world"

echo; echo "== features for the simulated world as of 2025-10-01"
$NB features --events "$OUT/world/events.parquet" --customers "$OUT/world/customers.parquet" \
  --catalog "$OUT/world/catalog.toml" --cutoff 2025-10-01 --out "$OUT/world_features.parquet"

echo; echo "== train a churn model on the sample (time-based holdout) and show it"
$NB train --config training/churn.toml --out "$OUT/models/churn"
$NB models show "$OUT/models/churn"

echo; echo "== score customer text with the committed sentiment model"
printf 'Thanks, the agent fixed my order in minutes!\nThis is the third time I have to contact you about my invoice.\n' | $NB sentiment

echo; echo "done: see $OUT/ (feature matrices are Parquet with a .spec.json beside each)"
