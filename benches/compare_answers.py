#!/usr/bin/env python3
"""Do two builds of nextbest answer the same? Starts each binary on its own port and database,
sends benches/load/decision.json (with and without `explain`) under every policy in policies/,
and compares the answers apart from what must differ (decision ids, timings).

Exploration draws from the decision id, so under an exploring policy one answer in ~20 differs
by chance: each request is sent REPEAT times and the most common answer is compared.

    python3 benches/compare_answers.py OLD_BINARY NEW_BINARY

Exits non-zero when an answer differs. Standard library only.
"""
import collections
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
REPEAT = int(os.environ.get("REPEAT", "15"))
VOLATILE = {"decision_id", "latency_us"}


def start(binary, port, workdir):
    process = subprocess.Popen(
        [binary, "serve", "--bind", f"127.0.0.1:{port}", "--database", str(workdir / f"{port}.db")],
        cwd=ROOT,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                return process
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    process.kill()
    sys.exit(f"{binary} did not become ready")


def post(port, body):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/decisions",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as error:
        answer = {"http_status": error.code, "error": json.load(error)}
    for key in VOLATILE:
        answer.pop(key, None)
    return json.dumps(answer, sort_keys=True)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    old, new = sys.argv[1:]
    base = json.loads((ROOT / "benches/load/decision.json").read_text())
    policies = sorted(p.stem for p in (ROOT / "policies").glob("*.toml"))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = pathlib.Path(tmp)
        servers = [start(old, 18181, workdir), start(new, 18182, workdir)]
        differences = 0
        try:
            for policy in policies:
                for explain in (False, True):
                    body = {**base, "policy": policy, "explain": explain}
                    modal = []
                    for port in (18181, 18182):
                        counts = collections.Counter(post(port, body) for _ in range(REPEAT))
                        modal.append(counts.most_common(1)[0][0])
                    same = modal[0] == modal[1]
                    differences += not same
                    print(f"{policy:12} explain={explain!s:5} {'same' if same else 'DIFFERENT'}")
                    if not same:
                        print("  old:", modal[0][:2000])
                        print("  new:", modal[1][:2000])
        finally:
            for server in servers:
                server.terminate()
                server.wait()
    sys.exit(1 if differences else 0)


if __name__ == "__main__":
    main()
