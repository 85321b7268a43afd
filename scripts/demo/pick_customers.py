#!/usr/bin/env python3
"""Pick the demo's customers from the bundled sample by their histories, and write their
attributes and events to scripts/demo/customers.json for scripts/demo.sh.

Run once, by hand, whenever datasets/sample changes (the sample is fixed: `nextbest generate
--customers 2000 --days 365 --seed 42`, checked by a test). It needs pyarrow, which the demo
itself does not, so the output is committed:

    python3 -m venv /tmp/pyarrow-venv && /tmp/pyarrow-venv/bin/pip install pyarrow
    /tmp/pyarrow-venv/bin/python scripts/demo/pick_customers.py

How each customer is picked (only the observable history counts; the simulator's hidden traits
are copied beside each pick as a check, never used to choose):
- happy loyal buyer: customer since before the sample started, never complained, no support
  contact in the last 90 days, bought in the last 14 days; the most purchases over the year wins.
- just complained: a complaint in the last 7 days before the decision instant and no cancel;
  among those, the most purchases over the year wins (a customer worth keeping).
- lapsing: bought at least 5 times until 120 days before the decision instant, then not once in
  the last 90 days, yet still seen (an event of their own, not a contact of ours) in the last
  60 days, never cancelled; the most purchases before the lull wins.
Ties go to the smaller customer id. Nobody who cancelled is picked. The decision instant is the
sample's end, 2026-01-01T00:00:00Z; each customer's events are their whole history.
"""

import datetime as dt
import json
import pathlib
import sys

import pyarrow.parquet as pq

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "datasets" / "sample"
OUT = pathlib.Path(__file__).resolve().parent / "customers.json"

# The sample simulates 2025-01-01 .. 2025-12-31 (datasets/sample/world.json): decide at its end.
DECISION_INSTANT = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)
CONTACT_TYPES = {"support_ticket", "chat", "complaint"}


def rfc3339(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def days_before(t):
    return (DECISION_INSTANT - t) / DAY


def load_histories():
    histories = {}
    for row in pq.read_table(SAMPLE / "events.parquet").to_pylist():
        histories.setdefault(row["customer_id"], []).append(row)
    for events in histories.values():
        events.sort(key=lambda e: e["timestamp"])
    return histories


def summary(events):
    purchases = [e for e in events if e["event_type"] == "purchase"]
    complaints = [e for e in events if e["event_type"] == "complaint"]
    contacts = [e for e in events if e["event_type"] in CONTACT_TYPES]
    return {
        "events": len(events),
        "purchases_365d": len(purchases),
        "purchases_last_90d": sum(days_before(e["timestamp"]) <= 90 for e in purchases),
        "purchases_until_120d_before": sum(days_before(e["timestamp"]) > 120 for e in purchases),
        "revenue_365d": round(sum(e["value"] or 0.0 for e in purchases), 2),
        "days_since_last_purchase": round(days_before(purchases[-1]["timestamp"]), 1)
        if purchases
        else None,
        # The customer's own last sign of life: our `action` events (contacts) do not count.
        "days_since_last_seen": min(
            (round(days_before(e["timestamp"]), 1) for e in events if e["event_type"] != "action"),
            default=None,
        ),
        "complaints_365d": len(complaints),
        "days_since_last_complaint": round(days_before(complaints[-1]["timestamp"]), 1)
        if complaints
        else None,
        "support_contacts_last_90d": sum(days_before(e["timestamp"]) <= 90 for e in contacts),
        "cancelled": any(e["event_type"] == "cancel" for e in events),
    }


def best(candidates, key):
    # Highest key first; ties to the smaller id.
    ranked = sorted(candidates, key=lambda c: (-key(c[1]), c[0]))
    if not ranked:
        sys.exit("no customer of the sample fits the rule; was datasets/sample regenerated?")
    return ranked[0][0]


def render(document):
    """JSON with one event per line: readable in a diff, and a fifth of the size of indented."""
    dump = lambda value: json.dumps(value, ensure_ascii=False)
    lines = ["{"]
    lines += [f" {dump(k)}: {dump(v)}," for k, v in document.items() if k != "customers"]
    lines.append(' "customers": [')
    for i, customer in enumerate(document["customers"]):
        lines.append("  {")
        lines += [f"   {dump(k)}: {dump(v)}," for k, v in customer.items() if k != "events"]
        lines.append('   "events": [')
        lines.append(",\n".join("    " + dump(e) for e in customer["events"]))
        lines.append("   ]")
        lines.append("  }" + ("," if i + 1 < len(document["customers"]) else ""))
    lines += [" ]", "}"]
    return "\n".join(lines) + "\n"


def main():
    histories = load_histories()
    customers = {r["customer_id"]: r for r in pq.read_table(SAMPLE / "customers.parquet").to_pylist()}
    traits = {r["customer_id"]: r for r in pq.read_table(SAMPLE / "customer_traits.parquet").to_pylist()}
    start = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    stats = {cid: summary(events) for cid, events in histories.items()}
    active = [(cid, s) for cid, s in stats.items() if not s["cancelled"]]

    loyal = best(
        [
            (cid, s)
            for cid, s in active
            if customers[cid]["signup_date"] is not None
            and customers[cid]["signup_date"] < start
            and s["complaints_365d"] == 0
            and s["support_contacts_last_90d"] == 0
            and s["days_since_last_purchase"] is not None
            and s["days_since_last_purchase"] <= 14
        ],
        key=lambda s: s["purchases_365d"],
    )
    complained = best(
        [
            (cid, s)
            for cid, s in active
            if s["days_since_last_complaint"] is not None and s["days_since_last_complaint"] <= 7
        ],
        key=lambda s: s["purchases_365d"],
    )
    lapsing = best(
        [
            (cid, s)
            for cid, s in active
            if s["purchases_until_120d_before"] >= 5
            and s["purchases_last_90d"] == 0
            and s["days_since_last_seen"] is not None
            and s["days_since_last_seen"] <= 60
        ],
        key=lambda s: s["purchases_until_120d_before"],
    )

    picks = [
        (
            "happy loyal buyer",
            loyal,
            "never complained, no support contact in 90 days, bought in the last 14 days; "
            "most purchases over the year",
        ),
        (
            "just complained",
            complained,
            "a complaint in the last 7 days, not cancelled; most purchases over the year",
        ),
        (
            "lapsing",
            lapsing,
            "5+ purchases until 120 days ago, none in the last 90, still seen in the last 60 days; "
            "most purchases before the lull",
        ),
    ]
    out = {
        "generated_by": "scripts/demo/pick_customers.py (see its docstring for how to rerun it)",
        "source": "datasets/sample (nextbest generate --customers 2000 --days 365 --seed 42)",
        "decision_instant": rfc3339(DECISION_INSTANT).replace(".000000", ""),
        "customers": [],
    }
    for label, cid, rule in picks:
        row = customers[cid]
        attributes = {
            k: (rfc3339(v) if isinstance(v, dt.datetime) else v)
            for k, v in row.items()
            if k != "customer_id" and v is not None
        }
        events = [
            {
                k: (rfc3339(v) if isinstance(v, dt.datetime) else v)
                for k, v in e.items()
                if v is not None
            }
            for e in histories[cid]
        ]
        hidden = traits[cid]
        out["customers"].append(
            {
                "label": label,
                "picked_by": rule,
                "customer_id": cid,
                "history": stats[cid],
                "hidden_traits_for_reference": {
                    k: round(hidden[k], 2)
                    for k in ("engagement", "price_sensitivity", "contact_aversion", "final_satisfaction")
                },
                "attributes": attributes,
                "events": events,
            }
        )
        print(f"{label:18} {cid}: {stats[cid]}", file=sys.stderr)
    OUT.write_text(render(out))
    print(f"wrote {OUT.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
