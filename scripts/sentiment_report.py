#!/usr/bin/env python3
"""Per-domain accuracy and AUC of nextbest's sentiment model beside VADER's.

Reads the holdout the trainer wrote (`holdout_output` in training/sentiment.toml: `text,label,domain`)
and the customer-service fixture (tests/fixtures/customer_service/utterances.tsv), scores every text
with `nextbest sentiment` (one P(positive) per line) and with VADER (the `vaderSentiment` package,
compound >= 0 counts as positive, the usual binary reading), and prints a Markdown table:
accuracy and ROC AUC on the positive and negative texts of each domain, and for neutral texts the
mean P(positive) and the share within 0.35..0.65.

    python3 -m venv .venv-sentiment && .venv-sentiment/bin/pip install vaderSentiment==3.3.2
    .venv-sentiment/bin/python scripts/sentiment_report.py [--nextbest target/release/nextbest]
    .venv-sentiment/bin/python scripts/sentiment_report.py --dev   # the development sets only
    .venv-sentiment/bin/python scripts/sentiment_report.py --transfer   # real text never trained on

`--transfer` reads real product reviews the committed model never trains on (`datasets/fetch.py
--only clothing_reviews`: headlines and bodies, 1-2 stars against 4-5) and reports balanced
accuracy (the mean of the two classes' recalls: nearly nine in ten are positive) beside accuracy.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Written for tuning (`--dev`); the customer-service *test* set is never among them.
DEV_SETS = {
    "customer service (dev set)": REPO / "tests/fixtures/customer_service_dev/messages.tsv",
    "review sentences (dev set)": REPO / "tests/fixtures/review_sentences_dev/sentences.tsv",
}
# Real labelled text the committed model never trains on (`--transfer`).
TRANSFER_SETS = {
    "clothing review titles": REPO / "datasets/real/clothing_reviews/titles.csv",
    "clothing review bodies": REPO / "datasets/real/clothing_reviews/reviews.csv",
}


def auc(scores: list[float], labels: list[bool]) -> float | None:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties counted half."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    rank_sum = sum(r for r, y in zip(ranks, labels) if y)
    return (rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def nextbest_scores(binary: str, model: str, texts: list[str]) -> list[float]:
    # One text per line: line breaks inside a text become spaces (the tokenizer reads both alike).
    data = "\n".join(" ".join(t.splitlines()) for t in texts) + "\n"
    out = subprocess.run([binary, "sentiment", "--model", model], input=data, text=True,
                         capture_output=True, check=True).stdout.split()
    if len(out) != len(texts):
        sys.exit(f"nextbest sentiment printed {len(out)} scores for {len(texts)} texts")
    return [float(x) for x in out]


def summary(scores: list[float], labels: list[str]) -> dict:
    polar = [(s, l == "1") for s, l in zip(scores, labels) if l in ("0", "1")]
    neutral = [s for s, l in zip(scores, labels) if l == "neutral"]
    out = {"n": len(polar), "neutral_n": len(neutral)}
    if polar:
        out["accuracy"] = sum((s >= 0.5) == y for s, y in polar) / len(polar)
        pos = [s >= 0.5 for s, y in polar if y]
        neg = [s < 0.5 for s, y in polar if not y]
        if pos and neg:
            out["balanced"] = (sum(pos) / len(pos) + sum(neg) / len(neg)) / 2
        out["auc"] = auc([s for s, _ in polar], [y for _, y in polar])
    if neutral:
        out["neutral_mean"] = sum(neutral) / len(neutral)
        out["neutral_near"] = sum(0.35 <= s <= 0.65 for s in neutral) / len(neutral)
    return out


def fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nextbest", default=str(REPO / "target/release/nextbest"))
    ap.add_argument("--model", default=str(REPO / "models/sentiment"))
    ap.add_argument("--holdout", type=Path, default=REPO / "datasets/real/sentiment_holdout.csv")
    ap.add_argument("--fixture", type=Path,
                    default=REPO / "tests/fixtures/customer_service/utterances.tsv")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--dev", action="store_true",
                    help="score the two development sets only (never the test set or holdouts)")
    mode.add_argument("--transfer", action="store_true",
                    help="score real reviews the committed model never trains on (clothing_reviews)")
    args = ap.parse_args()
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    vader = SentimentIntensityAnalyzer()

    sets: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    if args.transfer:
        for name, path in TRANSFER_SETS.items():
            if not path.is_file():
                sys.exit(f"{path} is missing: python3 datasets/fetch.py --only clothing_reviews")
            with path.open(newline="", encoding="utf-8") as f:
                for row in csv.DictReader(f):
                    sets[name][0].append(row["text"])
                    sets[name][1].append(row["label"])
    elif args.dev:
        for name, path in DEV_SETS.items():
            with path.open(newline="", encoding="utf-8") as f:
                for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                    label = {"positive": "1", "negative": "0"}.get(row["label"], "neutral")
                    sets[name][0].append(row["text"])
                    sets[name][1].append(label)
    elif args.holdout.is_file():
        with args.holdout.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                sets[row["domain"] + " (holdout)"][0].append(row["text"])
                sets[row["domain"] + " (holdout)"][1].append(row["label"])
    else:
        print(f"(no holdout at {args.holdout}: train with training/sentiment.toml first)")
    if not (args.dev or args.transfer):
        with args.fixture.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                label = {"positive": "1", "negative": "0"}.get(row["label"], "neutral")
                sets["customer service (fixture)"][0].append(row["text"])
                sets["customer service (fixture)"][1].append(label)

    def summaries(texts: list[str], labels: list[str]) -> tuple[dict, dict]:
        """nextbest's and VADER's summaries of one set."""
        nb = summary(nextbest_scores(args.nextbest, args.model, texts), labels)
        vd = summary([(vader.polarity_scores(t)["compound"] + 1) / 2 for t in texts], labels)
        return nb, vd

    if args.transfer:
        print("| set | texts (pos+neg) | nextbest balanced accuracy | accuracy | AUC "
              "| VADER balanced accuracy | accuracy | AUC |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for name, (texts, labels) in sets.items():
            nb, vd = summaries(texts, labels)
            print(f"| {name} | {nb['n']:,} | **{fmt(nb.get('balanced'))}** "
                  f"| {fmt(nb.get('accuracy'))} | {fmt(nb.get('auc'))} "
                  f"| {fmt(vd.get('balanced'))} | {fmt(vd.get('accuracy'))} | {fmt(vd.get('auc'))} |")
        return 0
    print("| set | texts (pos+neg / neutral) | nextbest accuracy | AUC | VADER accuracy | AUC "
          "| neutral: nextbest mean P, share in 0.35–0.65 | VADER |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, (texts, labels) in sets.items():
        nb, vd = summaries(texts, labels)
        neutral = (f"{fmt(nb.get('neutral_mean'))}, {fmt(nb.get('neutral_near'))}"
                   if nb["neutral_n"] else "–")
        vneutral = (f"{fmt(vd.get('neutral_mean'))}, {fmt(vd.get('neutral_near'))}"
                    if vd["neutral_n"] else "–")
        print(f"| {name} | {nb['n']:,} / {nb['neutral_n']:,} | **{fmt(nb.get('accuracy'))}** "
              f"| {fmt(nb.get('auc'))} | {fmt(vd.get('accuracy'))} | {fmt(vd.get('auc'))} "
              f"| {neutral} | {vneutral} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
