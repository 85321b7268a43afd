#!/usr/bin/env python3
"""Train a scikit-learn churn model on nextbest's own rows and write it as an ONNX artifact.

    nextbest train --config training/churn.toml --out out/churn_native --export out/churn_export
    python3 training/export_onnx.py out/churn_export --config training/churn.toml   # → models/churn_onnx

Reads `train.parquet` and `holdout.parquet` written by `nextbest train --export` (the feature
columns in the pipeline's order, `customer_id`, `as_of` and `label`; the feature spec is in the
Parquet metadata), fits a GradientBoostingClassifier, converts it with skl2onnx (ZipMap off:
outputs `label` int64 [N] and `probabilities` float [N, 2]; input `features` float [N, d]) and
writes an artifact folder nextbest loads with `backend: onnx`:

- `model.onnx`
- `manifest.json`: role churn, backend onnx, the feature spec of the exported rows, the label and
  data files of the config, the same data fingerprint nextbest computes
- `metrics.json`: holdout AUC, log loss, Brier, calibration deciles, … with nextbest's field names
  and definitions, computed from ONNX Runtime's probabilities (the model as deployed)
- `reference.json`: holdout rows and the probabilities Python's ONNX Runtime gives for them;
  `tests/onnx.rs` checks that nextbest reproduces them

Needs the packages pinned in training/requirements-onnx.txt (install them into a virtualenv).
"""
import argparse
import json
import shutil
import sys
import tomllib
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pyarrow.parquet as pq
import sklearn
import skl2onnx
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import roc_auc_score

KEYS = ("customer_id", "as_of", "label")
SPEC_METADATA_KEY = b"nextbest.feature_spec"
INPUT_NAME = "features"
REPO = Path(__file__).resolve().parent.parent
# Conservative opsets so the file runs on any ONNX Runtime nextbest accepts (1.17 and later).
TARGET_OPSET = {"": 15, "ai.onnx.ml": 3}
MAX_MODEL_BYTES = 300_000


class ExportError(Exception):
    """A problem with the input; printed without a traceback."""


def fnv1a(chunks) -> str:
    """64-bit FNV-1a over byte strings, as 16 hex digits (nextbest's data fingerprint)."""
    h = 0xCBF29CE484222325
    for chunk in chunks:
        for byte in chunk:
            h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def snapshot_parts(rows: np.ndarray, labels: np.ndarray, as_of: np.ndarray):
    """(row bytes, label bytes) per snapshot, in file order, as nextbest hashes them."""
    starts = [0] + [i for i in range(1, len(as_of)) if as_of[i] != as_of[i - 1]] + [len(as_of)]
    for a, b in zip(starts, starts[1:]):
        yield rows[a:b].astype("<f4").tobytes(), labels[a:b].astype(np.uint8).tobytes()


def read_rows(path: Path):
    if not path.exists():
        raise ExportError(f"{path}: not found (write it with `nextbest train --config … --export DIR`)")
    table = pq.read_table(path)
    metadata = table.schema.metadata or {}
    if SPEC_METADATA_KEY not in metadata:
        raise ExportError(f"{path}: no feature spec in the Parquet metadata; was it written by nextbest?")
    spec = json.loads(metadata[SPEC_METADATA_KEY])
    names = [f["name"] for f in spec["features"]]
    missing = [c for c in (*KEYS, *names) if c not in table.column_names]
    if missing:
        raise ExportError(f"{path}: missing columns {missing[:5]}")
    rows = np.column_stack([table.column(n).to_numpy().astype(np.float32) for n in names])
    labels = table.column("label").to_numpy().astype(bool)
    as_of = table.column("as_of").to_numpy()
    ids = table.column("customer_id").to_pylist()
    return spec, np.ascontiguousarray(rows), labels, as_of, ids


def cutoffs(as_of: np.ndarray) -> list[str]:
    seen = []
    for t in as_of:
        text = np.datetime_as_string(t.astype("datetime64[us]"), unit="s") + "Z"
        if not seen or seen[-1] != text:
            seen.append(text)
    return seen


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(np.mean(np.where(y, -np.log(p), -np.log(1 - p))))


def calibration_deciles(p: np.ndarray, y: np.ndarray) -> list[dict]:
    """Equal-count bins by ascending probability, ties broken by row order (as nextbest does)."""
    order = np.argsort(p, kind="stable")
    n = len(order)
    bins = []
    for b in range(10):
        rows = order[b * n // 10 : (b + 1) * n // 10]
        if len(rows):
            bins.append(
                {
                    "count": int(len(rows)),
                    "mean_predicted": float(np.mean(p[rows])),
                    "observed_rate": float(np.mean(y[rows])),
                }
            )
    return bins


def crate_version() -> str:
    with open(REPO / "Cargo.toml", "rb") as f:
        return tomllib.load(f)["package"]["version"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export", type=Path, help="folder written by `nextbest train --export`")
    parser.add_argument("--config", type=Path, default=REPO / "training/churn.toml",
                        help="the config the export was made with (label and data are copied from it)")
    parser.add_argument("--out", type=Path, default=REPO / "models/churn_onnx")
    parser.add_argument("--trees", type=int, default=50)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=None, help="default: the config's seed")
    parser.add_argument("--reference-rows", type=int, default=50)
    args = parser.parse_args()

    with open(args.config, "rb") as f:
        config = tomllib.load(f)
    if config.get("role") != "churn":
        raise ExportError(f"{args.config}: role is {config.get('role')!r}, this exporter writes churn models")
    seed = args.seed if args.seed is not None else int(config.get("seed", 42))

    spec, x_train, y_train, as_of_train, _ = read_rows(args.export / "train.parquet")
    holdout_spec, x_hold, y_hold, as_of_hold, ids_hold = read_rows(args.export / "holdout.parquet")
    if spec != holdout_spec:
        raise ExportError("train.parquet and holdout.parquet were written with different feature specs")
    # The export must be the one the config describes (not a leftover from another run).
    split = config.get("split", {})
    want_train = [c if "T" in c else f"{c}T00:00:00Z" for c in split.get("train_cutoffs", [])]
    want_hold = split.get("holdout_cutoff")
    if want_train and cutoffs(as_of_train) != want_train:
        raise ExportError(f"train.parquet has snapshots {cutoffs(as_of_train)}, {args.config} lists {want_train}")
    if want_hold and cutoffs(as_of_hold) != [want_hold if "T" in want_hold else f"{want_hold}T00:00:00Z"]:
        raise ExportError(f"holdout.parquet has snapshots {cutoffs(as_of_hold)}, {args.config} says {want_hold}")
    names = [f["name"] for f in spec["features"]]
    d = len(names)

    model = GradientBoostingClassifier(
        n_estimators=args.trees,
        max_depth=args.depth,
        learning_rate=args.learning_rate,
        subsample=0.8,
        random_state=seed,
    )
    model.fit(x_train, y_train.astype(int))

    onnx_model = to_onnx(
        model,
        initial_types=[(INPUT_NAME, FloatTensorType([None, d]))],
        options={id(model): {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    onnx_model.doc_string = f"nextbest churn model: scikit-learn {sklearn.__version__} GradientBoostingClassifier"
    # skl2onnx lists the opsets in set order, which varies between runs: sort them, so the same
    # data and seed give the same bytes.
    opsets = sorted((o.domain, o.version) for o in onnx_model.opset_import)
    del onnx_model.opset_import[:]
    for domain, version in opsets:
        onnx_model.opset_import.add(domain=domain, version=version)
    data = onnx_model.SerializeToString()
    if len(data) > MAX_MODEL_BYTES:
        raise ExportError(f"model.onnx would be {len(data)} bytes (limit {MAX_MODEL_BYTES}): use fewer or shallower trees")

    # Score with ONNX Runtime: the probabilities nextbest will reproduce.
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs()]
    if "probabilities" not in outputs:
        raise ExportError(f"the converted model has outputs {outputs}, expected `probabilities`")

    def onnx_proba(x: np.ndarray) -> np.ndarray:
        return session.run(["probabilities"], {INPUT_NAME: x})[0][:, 1]

    p_hold = onnx_proba(x_hold).astype(np.float64)
    p_train = onnx_proba(x_train).astype(np.float64)
    sklearn_gap = float(np.max(np.abs(model.predict_proba(x_hold)[:, 1] - p_hold)))

    deciles = calibration_deciles(p_hold, y_hold)
    recency = names.index("days_since_last_event") if "days_since_last_event" in names else None
    importance = sorted(
        ((n, float(v)) for n, v in zip(names, model.feature_importances_) if v > 0),
        key=lambda pair: (-pair[1], pair[0]),
    )
    metrics = {
        "role": "churn",
        "algorithm": "sklearn_gradient_boosting",
        "calibration": "none",
        "holdout": {"cutoffs": cutoffs(as_of_hold), "rows": int(len(y_hold)), "positives": int(y_hold.sum())},
        "train": {"cutoffs": cutoffs(as_of_train), "rows": int(len(y_train)), "positives": int(y_train.sum())},
        "auc": float(roc_auc_score(y_hold, p_hold)),
        "log_loss": log_loss(p_hold, y_hold),
        "brier": float(np.mean((p_hold - y_hold) ** 2)),
        "expected_calibration_error": float(
            sum(b["count"] * abs(b["mean_predicted"] - b["observed_rate"]) for b in deciles) / len(y_hold)
        ),
        "calibration_deciles": deciles,
        "recency_baseline_auc": float(roc_auc_score(y_hold, x_hold[:, recency])) if recency is not None else None,
        "train_auc": float(roc_auc_score(y_train, p_train)),
        "feature_importance": [list(pair) for pair in importance],
        "holdout_fingerprint": fnv1a(part for pair in snapshot_parts(x_hold, y_hold, as_of_hold) for part in pair),
        "max_abs_difference_sklearn_vs_onnx": sklearn_gap,
    }

    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    data_config = config.get("data", {})
    manifest = {
        "role": "churn",
        "version": created,
        "backend": "onnx",
        "algorithm": "sklearn_gradient_boosting",
        "model_file": "model.onnx",
        "features": spec,
        "label": config.get("label", {}),
        "training_data": {
            "files": [data_config[k] for k in ("events", "customers", "catalog") if k in data_config],
            "fingerprint": fnv1a(
                part
                for rows, labels, as_of in ((x_train, y_train, as_of_train), (x_hold, y_hold, as_of_hold))
                for pair in snapshot_parts(rows, labels, as_of)
                for part in pair
            ),
            "train_rows": int(len(y_train)),
            "holdout_rows": int(len(y_hold)),
            "train_positive_rate": float(y_train.mean()),
        },
        "config": {
            "exporter": "training/export_onnx.py",
            "estimator": "sklearn.ensemble.GradientBoostingClassifier",
            "params": {"n_estimators": args.trees, "max_depth": args.depth,
                       "learning_rate": args.learning_rate, "subsample": 0.8},
            "onnx": {"input": INPUT_NAME, "outputs": outputs, "zipmap": False,
                     "opset": {domain or "ai.onnx": version for domain, version in opsets}},
            "versions": {"scikit-learn": sklearn.__version__, "skl2onnx": skl2onnx.__version__,
                         "onnx": onnx.__version__, "onnxruntime": ort.__version__},
            "nextbest_config": str(args.config.resolve().relative_to(REPO)) if args.config.resolve().is_relative_to(REPO) else str(args.config),
            "nextbest": config,
        },
        "seed": seed,
        "created": created,
        "crate_version": crate_version(),
    }

    # Reference rows: evenly spaced over the holdout, plus the highest-scored ones.
    k = min(args.reference_rows, len(y_hold))
    top = set(np.argsort(-p_hold, kind="stable")[: k // 5].tolist())
    spaced = [i * len(y_hold) // (k - len(top)) for i in range(k - len(top))] if k > len(top) else []
    picked = sorted(top.union(spaced))
    reference = {
        "input": INPUT_NAME,
        "output": "probabilities",
        "onnxruntime_version": ort.__version__,
        "n_features": d,
        "customer_ids": [ids_hold[i] for i in picked],
        # float32 values written as the doubles they equal, so they parse back to the same f32.
        "rows": [[float(v) for v in x_hold[i]] for i in picked],
        "probabilities": [float(p_hold[i]) for i in picked],
    }

    out = args.out
    temp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir(parents=True)
    (temp / "model.onnx").write_bytes(data)
    for name, value in (("manifest.json", manifest), ("metrics.json", metrics), ("reference.json", reference)):
        (temp / name).write_text(json.dumps(value, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    temp.rename(out)

    print(f"wrote {out} ({len(data)} bytes of ONNX, {d} features)")
    print(f"  train {len(y_train)} rows ({int(y_train.sum())} churned); holdout {len(y_hold)} rows ({int(y_hold.sum())} churned)")
    print(f"  holdout AUC {metrics['auc']:.4f}, log loss {metrics['log_loss']:.4f}, Brier {metrics['brier']:.4f}; "
          f"max |sklearn − onnxruntime| {sklearn_gap:.2e}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ExportError as e:
        print(f"export_onnx: {e}", file=sys.stderr)
        sys.exit(1)
