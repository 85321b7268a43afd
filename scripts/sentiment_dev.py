#!/usr/bin/env python3
"""Development scores for choosing the sentiment model's settings, without the test sets.

Two sets that are neither the customer-service fixture nor any held-out set:

- ``sim``: every sentence of the simulator's phrase banks (``src/simulator/text.rs``) with every
  topic, labelled by the bank it comes from (negative, positive, neutral). The simulator's texts
  are what the churn model's sentiment features read, so a model that misreads them hurts churn.
- ``lodo``: leave one domain out. Given a model trained *without* a domain (``--lodo-model``),
  its accuracy on that whole domain's file — how well the model transfers to text it has never
  seen the like of, which is what customer text is to it.

Per-domain holdout accuracy is in the model's own ``metrics.json`` and is printed too.

    scripts/sentiment_dev.py --model DIR [--lodo-model DIR:domain_csv ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def banks() -> dict[str, list[str]]:
    src = (REPO / "src/simulator/text.rs").read_text(encoding="utf-8")
    out = {}
    for name in ("TOPICS", "NEGATIVE", "POSITIVE", "NEUTRAL"):
        body = re.search(rf"const {name}: &\[&str\] = &\[(.*?)\];", src, re.S)
        if body is None:
            sys.exit(f"no {name} bank in src/simulator/text.rs")
        out[name] = re.findall(r'"((?:[^"\\]|\\.)*)"', body.group(1))
    return out


def sim_set() -> tuple[list[str], list[str]]:
    b = banks()
    texts, labels = [], []
    for bank, label in (("NEGATIVE", "0"), ("POSITIVE", "1"), ("NEUTRAL", "neutral")):
        for template in b[bank]:
            for topic in b["TOPICS"]:
                t = template.replace("{topic}", topic)
                texts.append(t[0].upper() + t[1:])
                labels.append(label)
    return texts, labels


def scores(binary: str, model: str, texts: list[str]) -> list[float]:
    data = "\n".join(" ".join(t.splitlines()) for t in texts) + "\n"
    out = subprocess.run([binary, "sentiment", "--model", model], input=data, text=True,
                         capture_output=True, check=True).stdout.split()
    assert len(out) == len(texts), (len(out), len(texts))
    return [float(x) for x in out]


def summary(s: list[float], labels: list[str]) -> str:
    polar = [(p, l == "1") for p, l in zip(s, labels) if l in ("0", "1")]
    neutral = [p for p, l in zip(s, labels) if l == "neutral"]
    acc = sum((p >= 0.5) == y for p, y in polar) / max(len(polar), 1)
    text = f"acc {acc:.3f} (n={len(polar)})"
    if neutral:
        near = sum(0.25 <= p <= 0.75 for p in neutral) / len(neutral)
        text += f", neutral mean {sum(neutral) / len(neutral):.3f}, within .25-.75 {near:.2f}"
    return text


def read_csv(path: str) -> tuple[list[str], list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nextbest", default=str(REPO / "target/release/nextbest"))
    ap.add_argument("--model", default=str(REPO / "models/sentiment"))
    ap.add_argument("--lodo-model", action="append", default=[],
                    help="DIR:CSV — a model trained without the domain in CSV")
    ap.add_argument("--probe", action="append", default=[], help="a text to print the score of")
    args = ap.parse_args()
    metrics = json.loads((Path(args.model) / "metrics.json").read_text())
    for d in metrics.get("domains", []):
        print(f"holdout {d['domain']:<16} acc {d['model']['accuracy']:.3f} "
              f"auc {d['model']['auc']:.3f}")
    texts, labels = sim_set()
    print(f"sim     {summary(scores(args.nextbest, args.model, texts), labels)}")
    for spec in args.lodo_model:
        model, path = spec.rsplit(":", 1)
        t, l = read_csv(path)
        print(f"lodo    {Path(path).parent.name:<16} {summary(scores(args.nextbest, model, t), l)}")
    if args.probe:
        for t, p in zip(args.probe, scores(args.nextbest, args.model, args.probe)):
            print(f"probe   {p:.3f}  {t}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
