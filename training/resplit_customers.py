#!/usr/bin/env python3
"""Re-split the training customers of a customer-split churn config: honest model comparisons
that never touch the holdout.

    python3 training/resplit_customers.py --config training/cdnow_churn.toml --splits 20
    python3 training/resplit_customers.py --config training/cdnow_churn.toml --algorithm logistic
    python3 training/resplit_customers.py --config training/cdnow_churn.toml --lightgbm

The config's holdout customers (the same FNV-1a share of the id as `split.holdout_fraction`)
are dropped; the rest are copied with their id suffixed `r<k>` for split k, so the same hash
deals a fresh holdout of the same share among them each time. `nextbest train` runs on each
copy with the config's model (or `--algorithm`), and the script prints every split's holdout
AUC beside recency alone and BG/NBD (when configured), then the means and the mean paired
difference to BG/NBD with its standard error. With `--lightgbm`, each split's matrices are
exported and `training/lightgbm_baseline.py --config` is judged on them too.

Reads CSV data only (`customer_id` columns). Needs: Python 3.11+; for `--lightgbm`, the
packages of training/lightgbm_baseline.py.
"""
import argparse
import csv
import json
import statistics
import subprocess
import sys
import tomllib
from pathlib import Path

MASK = (1 << 64) - 1


def in_share(key: bytes, fraction: float) -> bool:
    """As `Fnv1a::in_share`: the customer split's hash."""
    h = 0xCBF29CE484222325
    for byte in key:
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return h % 10_000 < int(fraction * 10_000.0)


def copy_training_customers(source: Path, target: Path, fraction: float, suffix: str) -> None:
    """Copies the rows of customers outside the holdout share, with their ids suffixed."""
    with open(source, newline="") as f, open(target, "w", newline="") as g:
        reader = csv.reader(f)
        writer = csv.writer(g)
        header = next(reader)
        column = header.index("customer_id")
        writer.writerow(header)
        for row in reader:
            if not in_share(row[column].encode(), fraction):
                row[column] += suffix
                writer.writerow(row)


def mean_and_se(values):
    se = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("nan")
    return statistics.mean(values), se


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True, help="a churn config with split.mode = \"customers\"")
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--bin", default="target/debug/nextbest", help="the nextbest binary")
    parser.add_argument("--work", type=Path, default=Path("out/resplits"), help="folder for the copies and models")
    parser.add_argument("--algorithm", help="override model.algorithm")
    parser.add_argument("--seed", help="override seed")
    parser.add_argument("--lightgbm", action="store_true", help="also judge LightGBM under the config's protocol")
    args = parser.parse_args()

    config = tomllib.loads(args.config.read_text())
    split = config.get("split", {})
    if split.get("mode") != "customers":
        raise SystemExit(f"{args.config}: split.mode must be \"customers\"")
    fraction = float(split["holdout_fraction"])
    data = config["data"]
    tag = args.config.stem + (f"_{args.algorithm}" if args.algorithm else "") + (f"_s{args.seed}" if args.seed else "")
    rows = []
    for k in range(1, args.splits + 1):
        folder = args.work / f"r{k}"
        folder.mkdir(parents=True, exist_ok=True)
        text = args.config.read_text()
        for key in ("events", "customers"):
            if key in data:
                copy = folder / Path(data[key]).name
                if not copy.exists():
                    copy_training_customers(Path(data[key]), copy, fraction, f"r{k}")
                text = text.replace(f'"{data[key]}"', f'"{copy}"')
        split_config = folder / f"{tag}.toml"
        split_config.write_text(text)
        out = folder / tag
        command = [args.bin, "train", "--config", str(split_config), "--out", str(out)]
        command += ["--algorithm", args.algorithm] if args.algorithm else []
        command += ["--seed", args.seed] if args.seed else []
        command += ["--export", str(folder / "matrices")] if args.lightgbm else []
        subprocess.run(command, check=True, capture_output=True)
        m = json.loads((out / "metrics.json").read_text())
        row = {"model": m["auc"], "recency": m["recency_baseline_auc"], "bgnbd": m["bgnbd_baseline_auc"]}
        if args.lightgbm:
            script = Path(__file__).with_name("lightgbm_baseline.py")
            command = [sys.executable, str(script), str(folder / "matrices"), "--config", str(split_config)]
            command += ["--seed", args.seed] if args.seed else []
            result = subprocess.run(command, check=True, capture_output=True, text=True)
            row["lightgbm"] = json.loads(result.stdout)["auc"]
        rows.append(row)
        print(f"r{k}: " + " ".join(f"{name} {v:.4f}" for name, v in row.items() if v is not None), flush=True)
    print(f"{tag}, {len(rows)} re-splits of the training customers:")
    for name in rows[0]:
        if rows[0][name] is None:
            continue
        mean, _ = mean_and_se([r[name] for r in rows])
        line = f"  {name:9s} mean AUC {mean:.4f}"
        if name != "bgnbd" and rows[0]["bgnbd"] is not None:
            diff, se = mean_and_se([r[name] - r["bgnbd"] for r in rows])
            wins = sum(r[name] >= r["bgnbd"] for r in rows)
            line += f"  vs BG/NBD {diff:+.4f} ± {se:.4f} (≥ BG/NBD in {wins} of {len(rows)})"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
