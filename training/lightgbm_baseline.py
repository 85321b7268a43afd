#!/usr/bin/env python3
"""LightGBM on nextbest's own feature matrices: the quality bar for nextbest's native models.

    nextbest train --config training/cdnow_churn.toml --export out/cdnow
    python3 training/lightgbm_baseline.py out/cdnow [--rounds 200] [--leaves 31]
    python3 training/lightgbm_baseline.py out/cdnow --early-stopping-rounds 50 --depths 1,2,3,4

Reads `train.parquet` and `holdout.parquet` (features + `label`, exactly the rows nextbest
trained and judged on), fits LightGBM with its usual defaults for tabular data, and prints the
holdout AUC, log loss and Brier score.

With `--early-stopping-rounds`, it follows nextbest's gbdt protocol (`early_stopping_rounds`,
`validation_fraction`, `max_depth_candidates`): the same customers are set aside from the
training rows (the same salted FNV-1a hash of the customer id and the seed), each depth in
`--depths` (with 2^depth leaves) is grown on the rest until the validation log loss has not
improved for that many rounds, the depth with the lowest validation log loss wins (ties to the
shallower), and the model is refitted on every training row with that depth and number of
rounds. The holdout plays no part in any choice.

Needs: pip install lightgbm pandas pyarrow scikit-learn (into a virtualenv).
"""
import argparse
import json
import struct
import sys
import warnings
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

KEYS = ["customer_id", "as_of", "label"]
MASK = (1 << 64) - 1


def fnv1a(data: bytes) -> int:
    """64-bit FNV-1a, as `nextbest::fnv::Fnv1a`."""
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return h


def in_salted_share(salt: bytes, key: bytes, fraction: float) -> bool:
    """As `Fnv1a::in_salted_share`: FNV-1a of salt, 0xff, key, scrambled by SplitMix64's finaliser."""
    z = fnv1a(salt + b"\xff" + key)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    z ^= z >> 31
    return z % 10_000 < int(fraction * 10_000.0)


def validation_mask(customers, seed: int, fraction: float) -> np.ndarray:
    """The training rows nextbest's gbdt sets aside for early stopping with this seed."""
    salt = b"nextbest/gbdt-validation/" + struct.pack("<Q", seed)
    return np.array([in_salted_share(salt, str(c).encode(), fraction) for c in customers])


def classifier(args, rounds: int, leaves: int, max_depth: int = -1) -> lgb.LGBMClassifier:
    return lgb.LGBMClassifier(
        n_estimators=rounds,
        learning_rate=args.learning_rate,
        num_leaves=leaves,
        max_depth=max_depth,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        min_child_weight=args.min_child_weight,
        random_state=args.seed,
        n_jobs=2,
        verbose=-1,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="folder written by `nextbest train --export`")
    parser.add_argument("--rounds", type=int, default=200, help="rounds (the cap, with early stopping)")
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--leaves", type=int, default=31, help="leaves per tree (without early stopping)")
    parser.add_argument("--seed", type=int, default=42, help="as the config's `seed`: also picks the validation rows")
    parser.add_argument("--min-child-weight", type=float, default=1e-3, help="minimum hessian sum per leaf (gbdt's min_leaf_weight)")
    parser.add_argument("--early-stopping-rounds", type=int, default=None)
    parser.add_argument("--validation-fraction", type=float, default=0.2)
    parser.add_argument("--depths", default="3", help="comma-separated depths to try with early stopping")
    args = parser.parse_args()
    # LightGBM 4.7 renamed `eval_set`; the old name still works in every 4.x release.
    warnings.filterwarnings("ignore", message=".*eval_set.*")

    train = pd.read_parquet(args.folder / "train.parquet")
    holdout = pd.read_parquet(args.folder / "holdout.parquet")
    features = [c for c in train.columns if c not in KEYS]
    x, y_train = train[features], train["label"].astype(int)
    search = None
    if args.early_stopping_rounds is None:
        model = classifier(args, args.rounds, args.leaves)
        description = f"{args.rounds} rounds, {args.leaves} leaves, lr {args.learning_rate}"
    else:
        held = validation_mask(train["customer_id"], args.seed, args.validation_fraction)
        trials = []
        for depth in sorted({int(d) for d in args.depths.split(",")}):
            probe = classifier(args, args.rounds, 2**depth, depth)
            probe.fit(
                x[~held],
                y_train[~held],
                eval_set=[(x[held], y_train[held])],
                eval_metric="binary_logloss",
                callbacks=[lgb.early_stopping(args.early_stopping_rounds, first_metric_only=True, verbose=False)],
            )
            best = probe.best_iteration_ or args.rounds
            loss = probe.evals_result_["valid_0"]["binary_logloss"][best - 1]
            trials.append({"max_depth": depth, "best_iterations": best, "validation_log_loss": loss})
        chosen = min(trials, key=lambda t: (t["validation_log_loss"], t["max_depth"]))
        depth, rounds = chosen["max_depth"], chosen["best_iterations"]
        model = classifier(args, rounds, 2**depth, depth)
        description = f"early stopping: {rounds} rounds of depth {depth} ({2**depth} leaves), lr {args.learning_rate}"
        search = {"validation_rows": int(held.sum()), "fit_rows": int((~held).sum()), "trials": trials}
    model.fit(x, y_train)
    p = model.predict_proba(holdout[features])[:, 1]
    y = holdout["label"].astype(int)
    result = {
        "model": f"LightGBM {lgb.__version__} ({description})",
        "train_rows": len(train),
        "holdout_rows": len(holdout),
        "holdout_positive_rate": float(y.mean()),
        "auc": float(roc_auc_score(y, p)),
        "log_loss": float(log_loss(y, p)),
        "brier": float(brier_score_loss(y, p)),
    }
    if search is not None:
        result["early_stopping"] = search
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
