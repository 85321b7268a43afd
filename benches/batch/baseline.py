"""The Python baseline of the batch benchmark: the same job as `nextbest score --features`
done the usual way — pyarrow/pandas to read the matrix, LightGBM to predict, numpy for the
scores and the top-K, pyarrow to write.

Models of the same size as nextbest's committed ones (300 trees of depth 3 each: churn on the
features, conversion on the features plus one indicator per treatment) are trained on the
matrix first (not timed). The timed part, per customer: P(churn); P(convert) under no action
and each of the 6 treatments; each of the 20 candidates' expected value (uplift × value − cost,
retention: P(churn) × save rate × a year's revenue − cost, doing nothing 0); the top K; written
as Parquet. It skips the policy's eligibility rules, which nextbest applies: the baseline does
less work, not more.

    python baseline.py big.parquet out.parquet [top_k]
"""
import sys
import time
import tomllib

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

TREATMENTS = [
    "email_discount",
    "email_newsletter",
    "sms_flash_sale",
    "push_new_arrivals",
    "call_retention_offer",
    "email_service_followup",
]
SAVE_RATE = 0.2


def train(matrix: np.ndarray, names: list[str]) -> tuple[lgb.Booster, lgb.Booster]:
    rng = np.random.default_rng(7)
    sample = matrix[rng.choice(len(matrix), size=min(50_000, len(matrix)), replace=False)]
    col = {n: i for i, n in enumerate(names)}
    params = dict(objective="binary", num_leaves=8, max_depth=3, learning_rate=0.05,
                  min_data_in_leaf=20, verbose=-1, num_threads=2)
    noise = rng.random(len(sample))
    churn_label = (sample[:, col["days_since_last_event"]] / 60 + noise > 1.0).astype(int)
    churn = lgb.train(params, lgb.Dataset(sample, churn_label), num_boost_round=300)
    k = len(TREATMENTS)
    t = rng.integers(0, k + 1, len(sample))
    indicators = np.zeros((len(sample), k), dtype=np.float32)
    rows = np.nonzero(t > 0)[0]
    indicators[rows, t[rows] - 1] = 1
    wide = np.hstack([sample, indicators])
    buy = (sample[:, col["purchases_90d"]] > 0).astype(float) * 0.5 + 0.3 * (t > 0) + noise * 0.4
    conversion = lgb.train(params, lgb.Dataset(wide, (buy > 0.8).astype(int)), num_boost_round=300)
    return churn, conversion


def main(source: str, target: str, top_k: int) -> None:
    catalog = tomllib.load(open("benches/batch/catalog20.toml", "rb"))["action"]
    schema = pq.read_schema(source)
    names = [f for f in schema.names if f not in ("customer_id", "as_of")]
    # Training is not part of the job being timed.
    train_started = time.perf_counter()
    table = pq.read_table(source, columns=names)
    churn, conversion = train(table.to_pandas().to_numpy(np.float32), names)
    del table
    print(f"baseline: trained two 300-tree models in {time.perf_counter() - train_started:.1f} s",
          file=sys.stderr)

    started = time.perf_counter()
    frame = pq.read_table(source).to_pandas()
    ids = frame["customer_id"].to_numpy()
    x = frame[names].to_numpy(np.float32)
    n = len(x)
    k = len(TREATMENTS)
    p_churn = churn.predict(x, num_threads=2)
    wide = np.zeros((n * (k + 1), x.shape[1] + k), dtype=np.float32)
    for t in range(k + 1):
        wide[t::k + 1, : x.shape[1]] = x
        if t > 0:
            wide[t::k + 1, x.shape[1] + t - 1] = 1
    p = conversion.predict(wide, num_threads=2).reshape(n, k + 1)
    p_none = p[:, 0]
    revenue = x[:, names.index("revenue_365d")].astype(np.float64)
    scores = np.empty((n, len(catalog)))
    for j, action in enumerate(catalog):
        base = action.get("model_as", action["id"])
        if action["kind"] == "none":
            scores[:, j] = 0.0
        elif action["kind"] == "retention":
            scores[:, j] = p_churn * SAVE_RATE * revenue - action["cost"]
        else:
            t = TREATMENTS.index(base) + 1
            scores[:, j] = (p[:, t] - p_none) * action["value"] - action["cost"]
    top = np.argpartition(-scores, top_k - 1, axis=1)[:, :top_k]
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.argsort(-top_scores, axis=1)
    top = np.take_along_axis(top, order, axis=1)
    top_scores = np.take_along_axis(top_scores, order, axis=1)
    action_ids = np.array([a["id"] for a in catalog])
    out = pd.DataFrame({
        "customer_id": np.repeat(ids, top_k),
        "rank": np.tile(np.arange(1, top_k + 1, dtype=np.uint32), n),
        "action_id": action_ids[top.ravel()],
        "score": top_scores.ravel(),
        "p_churn": np.repeat(p_churn, top_k),
    })
    pq.write_table(pa.Table.from_pandas(out, preserve_index=False), target, compression="snappy")
    seconds = time.perf_counter() - started
    scores_done = n * len(catalog) * 2
    print(f"baseline: {n} customers in {seconds:.2f} s: {scores_done / seconds:,.0f} action-scores/s "
          f"({n * (k + 2) / seconds:,.0f} model rows/s)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 3)
