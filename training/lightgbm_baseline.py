#!/usr/bin/env python3
"""LightGBM on nextbest's own feature matrices: the quality bar for nextbest's native models.

    nextbest train --config training/cdnow_churn.toml --export out/cdnow
    python3 training/lightgbm_baseline.py out/cdnow [--rounds 200]

Reads `train.parquet` and `holdout.parquet` (features + `label`, exactly the rows nextbest
trained and judged on), fits LightGBM with its usual defaults for tabular data, and prints the
holdout AUC, log loss and Brier score. Needs: pip install lightgbm pandas pyarrow scikit-learn
(into a virtualenv).
"""
import argparse
import json
import sys
from pathlib import Path

import lightgbm as lgb
import pandas as pd
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

KEYS = ["customer_id", "as_of", "label"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="folder written by `nextbest train --export`")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--leaves", type=int, default=31)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    train = pd.read_parquet(args.folder / "train.parquet")
    holdout = pd.read_parquet(args.folder / "holdout.parquet")
    features = [c for c in train.columns if c not in KEYS]
    model = lgb.LGBMClassifier(
        n_estimators=args.rounds,
        learning_rate=args.learning_rate,
        num_leaves=args.leaves,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        random_state=args.seed,
        n_jobs=2,
        verbose=-1,
    )
    model.fit(train[features], train["label"].astype(int))
    p = model.predict_proba(holdout[features])[:, 1]
    y = holdout["label"].astype(int)
    result = {
        "model": f"LightGBM {lgb.__version__} ({args.rounds} rounds, {args.leaves} leaves, lr {args.learning_rate})",
        "train_rows": len(train),
        "holdout_rows": len(holdout),
        "holdout_positive_rate": float(y.mean()),
        "auc": float(roc_auc_score(y, p)),
        "log_loss": float(log_loss(y, p)),
        "brier": float(brier_score_loss(y, p)),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
