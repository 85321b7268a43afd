#!/usr/bin/env python3
"""LightGBM on nextbest's own feature matrices: the quality bar for nextbest's native models.

    nextbest train --config training/cdnow_churn.toml --export out/cdnow
    python3 training/lightgbm_baseline.py out/cdnow --config training/cdnow_churn.toml
    python3 training/lightgbm_baseline.py out/cdnow [--rounds 200] [--leaves 31]
    python3 training/lightgbm_baseline.py out/cdnow --early-stopping-rounds 50 --depths 1,2,3,4

Reads `train.parquet` and `holdout.parquet` (features + `label`, exactly the rows nextbest
trained and judged on), fits LightGBM, and prints the holdout AUC, log loss and Brier score.

With `--config`, the protocol comes from the nextbest training config (`seed` and
`[model.gbdt]`: learning rate, rounds, subsample, column sample, early stopping, validation
fraction or cross-validation folds, depth and leaf-weight candidates, monotone constraints);
flags given explicitly override it.

With `--early-stopping-rounds`, it follows nextbest's gbdt protocol, and the holdout plays no
part in any choice:
- one validation split (`validation_fraction`): the same customers are set aside from the
  training rows (the same salted FNV-1a hash of the customer id and the seed); each setting
  (depth in `--depths` with 2^depth leaves, × each `--min-child-weight`) is grown on the rest
  until the validation log loss has not improved for that many rounds;
- or `--cv-folds` (`cv_folds`): the customers are dealt into the same folds as nextbest's
  (salted FNV-1a again); each setting is grown on every fold's complement, and the rounds stop
  once the log loss over all held-out rows (each predicted by the fold model that did not see
  it) has not improved for that many rounds.
The setting with the lowest loss wins (ties to the shallower tree, then to the larger leaf
weight), and the model is refitted on every training row with that setting and number of
rounds. `--monotone name=increasing,...` passes nextbest's monotone constraints to LightGBM's
`monotone_constraints`.

Needs: pip install lightgbm pandas pyarrow scikit-learn (into a virtualenv).
"""
import argparse
import json
import struct
import sys
import tomllib
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


def salted(salt: bytes, key: bytes) -> int:
    """As `Fnv1a::salted`: FNV-1a of salt, 0xff, key, scrambled by SplitMix64's finaliser."""
    z = fnv1a(salt + b"\xff" + key)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def validation_mask(customers, seed: int, fraction: float) -> np.ndarray:
    """The training rows nextbest's gbdt sets aside for early stopping with this seed."""
    salt = b"nextbest/gbdt-validation/" + struct.pack("<Q", seed)
    return np.array([salted(salt, str(c).encode()) % 10_000 < int(fraction * 10_000.0) for c in customers])


def fold_numbers(customers, seed: int, folds: int) -> np.ndarray:
    """Each training row's cross-validation fold, as nextbest's gbdt deals them."""
    salt = b"nextbest/gbdt-cv/" + struct.pack("<Q", seed)
    return np.array([salted(salt, str(c).encode()) % folds for c in customers])


def early_stop(curve, patience: int):
    """As nextbest: (best index, stop index or None), strict improvements only."""
    best = 0
    for i, loss in enumerate(curve):
        if loss < curve[best]:
            best = i
        elif i - best >= patience:
            return best, i
    return best, None


def classifier(args, rounds: int, leaves: int, max_depth: int = -1, min_child_weight=None, monotone=None):
    extra = {} if monotone is None else {"monotone_constraints": monotone}
    return lgb.LGBMClassifier(
        n_estimators=rounds,
        learning_rate=args.learning_rate,
        num_leaves=leaves,
        max_depth=max_depth,
        subsample=args.subsample,
        subsample_freq=1,
        colsample_bytree=args.colsample_bytree,
        min_child_weight=args.min_child_weight[0] if min_child_weight is None else min_child_weight,
        random_state=args.seed,
        n_jobs=1,  # small data: threads cost more than they save
        verbose=-1,
        **extra,
    )


def config_defaults(path: Path) -> dict:
    """Argument defaults from a nextbest training config's `seed` and `[model.gbdt]`."""
    config = tomllib.loads(path.read_text())
    gbdt = config.get("model", {}).get("gbdt", {})
    defaults = {"seed": config.get("seed", 0)}
    for key, arg in [
        ("learning_rate", "learning_rate"),
        ("iterations", "rounds"),
        ("subsample", "subsample"),
        ("colsample_bytree", "colsample_bytree"),
        ("early_stopping_rounds", "early_stopping_rounds"),
        ("validation_fraction", "validation_fraction"),
        ("cv_folds", "cv_folds"),
    ]:
        if key in gbdt:
            defaults[arg] = gbdt[key]
    depths = [gbdt.get("max_depth", 3)] + gbdt.get("max_depth_candidates", [])
    defaults["depths"] = ",".join(str(d) for d in depths)
    weights = [gbdt.get("min_leaf_weight", 20.0)] + gbdt.get("min_leaf_weight_candidates", [])
    defaults["min_child_weight"] = ",".join(str(w) for w in weights)
    defaults["monotone"] = ",".join(f"{k}={v}" for k, v in gbdt.get("monotone", {}).items())
    return defaults


def monotone_vector(spec: str, features) -> list:
    """`name=increasing,...` → LightGBM's per-column 1 / -1 / 0."""
    directions = {"increasing": 1, "decreasing": -1}
    wanted = {}
    for item in filter(None, spec.split(",")):
        name, _, direction = item.partition("=")
        if name not in features:
            raise SystemExit(f"--monotone: {name} is not a feature of these matrices")
        if direction not in directions:
            raise SystemExit(f"--monotone: {name}: expected increasing or decreasing, got {direction!r}")
        wanted[name] = directions[direction]
    return [wanted.get(f, 0) for f in features]


def settings(args):
    """Depth ascending, then leaf weight descending: ties keep the first, as nextbest."""
    depths = sorted({int(d) for d in args.depths.split(",")})
    weights = sorted(set(args.min_child_weight), reverse=True)
    return [(d, w) for d in depths for w in weights]


def search_split(args, x, y, customers, monotone):
    held = validation_mask(customers, args.seed, args.validation_fraction)
    trials = []
    for depth, weight in settings(args):
        probe = classifier(args, args.rounds, 2**depth, depth, weight, monotone)
        probe.fit(
            x[~held],
            y[~held],
            eval_set=[(x[held], y[held])],
            eval_metric="binary_logloss",
            callbacks=[lgb.early_stopping(args.early_stopping_rounds, first_metric_only=True, verbose=False)],
        )
        best = probe.best_iteration_ or args.rounds
        loss = probe.evals_result_["valid_0"]["binary_logloss"][best - 1]
        trials.append({"max_depth": depth, "min_child_weight": weight, "best_iterations": best, "validation_log_loss": loss})
    chosen = min(enumerate(trials), key=lambda t: (t[1]["validation_log_loss"], t[0]))[1]
    search = {"validation_rows": int(held.sum()), "fit_rows": int((~held).sum()), "trials": trials}
    return chosen, chosen["validation_log_loss"], search


def search_cv(args, x, y, customers, monotone):
    fold = fold_numbers(customers, args.seed, args.cv_folds)
    sizes = np.array([(fold == f).sum() for f in range(args.cv_folds)])
    if (sizes == 0).any() or (sizes == len(fold)).any():
        raise SystemExit(f"--cv-folds: {args.cv_folds} folds leave one empty")
    trials = []
    for depth, weight in settings(args):
        # As nextbest: a budget that doubles until the pooled loss has stopped improving (the
        # first rounds of a longer fit are the same trees, so this equals lockstep growth).
        budget = min(args.rounds, max(4 * args.early_stopping_rounds, 100))
        while True:
            curves = []
            for f in range(args.cv_folds):
                held = fold == f
                probe = classifier(args, budget, 2**depth, depth, weight, monotone)
                probe.fit(x[~held], y[~held], eval_set=[(x[held], y[held])], eval_metric="binary_logloss")
                curves.append(np.array(probe.evals_result_["valid_0"]["binary_logloss"]))
            # Row-weighted: the log loss over all out-of-fold predictions.
            pooled = sum(c * n for c, n in zip(curves, sizes)) / sizes.sum()
            best, stop = early_stop(list(pooled), args.early_stopping_rounds)
            if stop is not None or budget >= args.rounds:
                break
            budget = min(2 * budget, args.rounds)
        trials.append({
            "max_depth": depth,
            "min_child_weight": weight,
            "best_iterations": best + 1,
            "hit_limit": stop is None,
            "log_loss": float(pooled[best]),
            "fold_log_loss": [float(c[best]) for c in curves],
        })
    chosen = min(enumerate(trials), key=lambda t: (t[1]["log_loss"], t[0]))[1]
    search = {"folds": args.cv_folds, "fold_rows": sizes.tolist(), "trials": trials}
    return chosen, chosen["log_loss"], search


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="folder written by `nextbest train --export`")
    parser.add_argument("--config", type=Path, help="nextbest training config: its seed and [model.gbdt] set the defaults")
    parser.add_argument("--rounds", type=int, default=200, help="rounds (the cap, with early stopping)")
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--leaves", type=int, default=31, help="leaves per tree (without early stopping)")
    parser.add_argument("--seed", type=int, default=42, help="as the config's `seed`: also picks the validation rows or folds")
    parser.add_argument("--subsample", type=float, default=0.8)
    parser.add_argument("--colsample-bytree", type=float, default=0.8)
    parser.add_argument(
        "--min-child-weight",
        default="0.001",
        help="minimum hessian sum per leaf (gbdt's min_leaf_weight); comma-separated candidates with early stopping",
    )
    parser.add_argument("--early-stopping-rounds", type=int, default=None)
    parser.add_argument("--validation-fraction", type=float, default=0.2)
    parser.add_argument("--cv-folds", type=int, default=None, help="cross-validated early stopping, as gbdt's cv_folds")
    parser.add_argument("--depths", default="3", help="comma-separated depths to try with early stopping")
    parser.add_argument("--monotone", default="", help="name=increasing|decreasing,... as gbdt's [model.gbdt.monotone]")
    pre, _ = parser.parse_known_args()
    if pre.config is not None:
        parser.set_defaults(**config_defaults(pre.config))
    args = parser.parse_args()
    args.min_child_weight = [float(w) for w in str(args.min_child_weight).split(",")]
    # LightGBM 4.7 renamed `eval_set`; the old name still works in every 4.x release.
    warnings.filterwarnings("ignore", message=".*eval_set.*")

    train = pd.read_parquet(args.folder / "train.parquet")
    holdout = pd.read_parquet(args.folder / "holdout.parquet")
    features = [c for c in train.columns if c not in KEYS]
    x, y_train = train[features], train["label"].astype(int)
    monotone = monotone_vector(args.monotone, features) if args.monotone else None
    search = None
    if args.early_stopping_rounds is None:
        model = classifier(args, args.rounds, args.leaves, monotone=monotone)
        description = f"{args.rounds} rounds, {args.leaves} leaves, lr {args.learning_rate}"
    else:
        if args.cv_folds is None:
            chosen, _, search = search_split(args, x, y_train, train["customer_id"], monotone)
            how = "early stopping"
        else:
            chosen, _, search = search_cv(args, x, y_train, train["customer_id"], monotone)
            how = f"{args.cv_folds}-fold cross-validated early stopping"
        depth, weight, rounds = chosen["max_depth"], chosen["min_child_weight"], chosen["best_iterations"]
        model = classifier(args, rounds, 2**depth, depth, weight, monotone)
        description = (
            f"{how}: {rounds} rounds of depth {depth} ({2**depth} leaves), "
            f"min_child_weight {weight}, lr {args.learning_rate}"
        )
    if monotone is not None:
        description += f", monotone in {sum(1 for m in monotone if m)} features"
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
        result["cross_validation" if args.cv_folds else "early_stopping"] = search
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
