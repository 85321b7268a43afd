#!/usr/bin/env bash
# Proof in the simulator: the true value per decision of nextbest's default policy against
# propensity-only, Pega-style, rules, random, the best single action and the oracle.
#
# 1. Generates a world under the simulator's randomised logging policy (CUSTOMERS × 365 days),
#    its "do nothing" decisions logged as explicit controls.
# 2. Trains churn, conversion and retention on its log with the committed configs (labels end
#    before the holdout, 2025-10-15), beside the committed sentiment model.
# 3. Runs examples/policy_benchmark.rs: other customers of the same world, one decision point
#    each after 2025-10-20, every policy asked in process (the engine behind /v1/decisions),
#    each choice valued by the simulator's truth; then `nextbest evaluate` estimates each
#    policy's conversion rate from the logging policy's log of the same points (IPS, SNIPS, DR
#    with 95% intervals), beside the true rate.
#
#   ./scripts/benchmark_policies.sh                 # 6,000 customers to learn from, 4,000 to judge
#   CUSTOMERS=20000 JUDGED=10000 ./scripts/benchmark_policies.sh
#   UPLIFT_LEARNER=auto ./scripts/benchmark_policies.sh   # s | t | x | dr | auto (default: the configs')
#   NB=path/to/nextbest BENCH=path/to/policy_benchmark ./scripts/benchmark_policies.sh  # no build
#   TRAITS=yes ./scripts/benchmark_policies.sh      # a diagnostic ceiling: the models learn from,
#       and are asked with, the simulator's hidden traits (price sensitivity, affinities…) as
#       customer attributes; needs a python3 with pyarrow (PYTHON=path/to/venv/bin/python3)
#
# Takes a few minutes on 2 cores (release build, training); writes under out/benchmark/.
set -euo pipefail
cd "$(dirname "$0")/.."
CUSTOMERS=${CUSTOMERS:-6000}
JUDGED=${JUDGED:-4000}
SEED=${SEED:-3}
OUT=${OUT:-out/benchmark}
if [[ -z "${NB:-}" ]]; then
  cargo build --release --quiet --bin nextbest --example policy_benchmark
fi
NB=${NB:-target/release/nextbest}
BENCH=${BENCH:-target/release/examples/policy_benchmark}
rm -rf "$OUT"
mkdir -p "$OUT/models"
echo "== generating $CUSTOMERS customers × 365 days (seed $SEED)"
# --log-controls: the logging policy's randomised "do nothing" decisions are logged as
# `action` events of no_action, so training uses those explicit controls, not synthetic
# instants (the configs' control.every_days is dropped below).
$NB generate --customers "$CUSTOMERS" --days 365 --seed "$SEED" --log-controls --out "$OUT/world" >/dev/null
cp -r models/sentiment "$OUT/models/sentiment"
if [[ ${TRAITS:-no} == yes ]]; then
  # The traits a customer is born with, as columns of the customer table; not
  # final_satisfaction or cancelled_at, which are outcomes.
  "${PYTHON:-python3}" - "$OUT/world" <<'PY'
import sys
import pyarrow.parquet as pq
world = sys.argv[1]
customers = pq.read_table(f"{world}/customers.parquet")
traits = pq.read_table(f"{world}/customer_traits.parquet").drop_columns(["final_satisfaction", "cancelled_at"])
assert customers.column("customer_id").equals(traits.column("customer_id")), "row order differs"
for name in traits.column_names:
    if name != "customer_id":
        customers = customers.append_column(name, traits.column(name))
pq.write_table(customers, f"{world}/customers.parquet")
PY
  TRAITS_FLAG=(--with-traits yes)
else
  TRAITS_FLAG=()
fi
for role in churn conversion retention; do
  sed -e "s|datasets/sample/|$OUT/world/|g" \
      -e "s|^output = \"models/$role\"|output = \"$OUT/models/$role\"|" \
      -e "s|\"models/sentiment\"|\"$OUT/models/sentiment\"|" \
      -e '/^every_days/d' \
      "training/$role.toml" > "$OUT/$role.toml"
  if [[ -n "${UPLIFT_LEARNER:-}" && $role != churn ]]; then
    printf '\n[uplift]\nlearner = "%s"\n' "$UPLIFT_LEARNER" >> "$OUT/$role.toml"
  fi
  echo "== training $role"
  $NB train --config "$OUT/$role.toml" | sed -n '1,3p'
done
echo "== judging the policies on $JUDGED other customers"
"$BENCH" --models "$OUT/models" --customers "$JUDGED" --seed 99 \
  --nextbest "$NB" --out "$OUT/ope" ${TRAITS_FLAG[@]+"${TRAITS_FLAG[@]}"}
