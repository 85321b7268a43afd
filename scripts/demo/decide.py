#!/usr/bin/env python3
"""The demo's client of `nextbest serve` (standard library only).

    decide.py wait URL PID            wait until URL/readyz answers 200 (fails if PID dies)
    decide.py run URL customers.json  send each customer's events to POST /v1/events, ask
                                      POST /v1/decisions with "explain": true, print the answers

customers.json is written by pick_customers.py: the customers picked from datasets/sample, with
their attributes and full histories, and the decision instant (the sample's end).
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request

# How many runners-up, ineligible candidates and top features to print per answer.
SHOW_PASSED_OVER = 4
SHOW_FEATURES = 3


def call(url, body=None):
    """GET (no body) or POST JSON; returns (status, parsed JSON)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    request.add_header("content-type", "application/json")
    token = os.environ.get("NEXTBEST_API_TOKEN")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def wait(base, pid, seconds=60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            sys.exit(f"nextbest serve (pid {pid}) exited before it was ready")
        try:
            status, body = call(f"{base}/readyz")
            if status == 200:
                versions = ", ".join(f"{k} {v}" for k, v in body["models"].items())
                print(f"ready: {versions}")
                return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)
    sys.exit(f"nextbest serve did not become ready within {seconds:.0f} s")


def expect(what, status, body, ok=(200,)):
    if status not in ok:
        sys.exit(f"{what}: HTTP {status}: {json.dumps(body)}")
    return body


def fmt(x, digits=3):
    return "–" if x is None else f"{x:.{digits}f}"


def describe_history(h):
    last_purchase = h["days_since_last_purchase"]
    complaint = h["days_since_last_complaint"]
    return (
        f"{h['events']} events in 2025; {h['purchases_365d']} purchases "
        f"({h['purchases_last_90d']} in the last 90 days), revenue {h['revenue_365d']:.0f}; "
        f"last purchase {fmt(last_purchase, 0)} days ago; "
        + (f"complained {complaint:.0f} days ago" if complaint is not None else "no complaint")
    )


def describe_exploration(exploration):
    # Serialised as {"strategy": "epsilon_greedy", "epsilon": 0.05} (or a bare string).
    if not isinstance(exploration, dict):
        return str(exploration)
    settings = ", ".join(f"{k} {v}" for k, v in exploration.items() if k != "strategy")
    return exploration.get("strategy", "?") + (f" ({settings})" if settings else "")


def print_answer(answer):
    decision = answer["decision"]
    sentiment = answer["sentiment"]
    print(f"  models     P(churn) {fmt(answer['p_churn'])}; recent sentiment "
          + (f"{sentiment:.3f} (P(positive) of the customer's recent texts)"
             if sentiment is not None else "– (no recent text)"))
    print(f"  policy     {decision['policy']}: {decision['formula']}, "
          f"{describe_exploration(decision['exploration'])}; "
          f"decision {answer['decision_id']} in {answer['latency_us']} µs")
    print("  ranked answer:")
    for action in decision["actions"]:
        explored = "  (picked by exploration)" if action["explored"] else ""
        print(f"   {action['rank']}. {action['action_id']:<24} kind {action['kind']:<9} "
              f"channel {action['channel']:<11} score {action['score']:8.2f}{explored}")
        for reason in action["reasons"]:
            print(f"        - {reason}")
    if not decision["actions"]:
        print("   (no eligible candidate)")
    passed = decision["passed_over"][:SHOW_PASSED_OVER]
    if passed:
        print("  passed over: " + ", ".join(f"{p['action_id']} {p['score']:.2f}" for p in passed))
    for item in decision["ineligible"]:
        print(f"  not eligible: {item['action_id']} — {item['reason_code']}: {item['message']}")
    for explanation in answer.get("explanations", []):
        top = explanation["top_features"][:SHOW_FEATURES]
        if top:
            features = ", ".join(
                f"{f['feature']}={f['value']:.4g} ({f['contribution']:+.3f})" for f in top
            )
            print(f"  why {explanation['model']} = {explanation['prediction']:.3f}: {features}")


def run(base, path):
    with open(path, encoding="utf-8") as file:
        picked = json.load(file)
    instant = picked["decision_instant"]

    # The orchestration engine's way: stream the journey into the profile store, then ask by id.
    events = [e for c in picked["customers"] for e in c["events"]]
    stored = expect("POST /v1/events", *call(f"{base}/v1/events", {"events": events}))
    print(f"POST /v1/events: stored {stored['accepted']} events of {stored['customers']} customers "
          f"(their whole 2025 histories from datasets/sample)")

    for index, customer in enumerate(picked["customers"]):
        request = {
            "customer_id": customer["customer_id"],
            "context": {"channel": "web", "placement": "homepage", "timestamp": instant},
            "customer": {"attributes": customer["attributes"]},
            "max_actions": 3,
            "explain": True,
        }
        answer = expect("POST /v1/decisions", *call(f"{base}/v1/decisions", request))
        traits = customer["hidden_traits_for_reference"]
        print()
        print(f"== {customer['customer_id']}: {customer['label']}, deciding at {instant}")
        print(f"  picked by  {customer['picked_by']}")
        print(f"  history    {describe_history(customer['history'])}")
        print("  (hidden)   simulator's latent traits, never seen by the engine: "
              + ", ".join(f"{k} {v:.2f}" for k, v in traits.items()))
        if index == 0:
            print(f"  asked      POST /v1/decisions {json.dumps(request)}")
        else:
            print("  asked      the same, with this customer's id and attributes")
        print_answer(answer)


def main(argv):
    if len(argv) == 4 and argv[1] == "wait":
        wait(argv[2].rstrip("/"), int(argv[3]))
    elif len(argv) == 4 and argv[1] == "run":
        run(argv[2].rstrip("/"), argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
