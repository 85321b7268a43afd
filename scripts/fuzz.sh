#!/usr/bin/env bash
# Schema-driven fuzzing of the decision service: schemathesis (pinned in
# scripts/fuzz/requirements.txt, installed into .venv-fuzz/) reads `GET /openapi.json` of a live
# `nextbest serve` and sends generated requests, valid and invalid, to every operation. It fails
# on a 5xx, a status or body the document does not declare, an invalid request that is accepted,
# a valid one that is refused, an unknown method not answered 405, or auth not enforced.
#
#   ./scripts/fuzz.sh                    # debug build (reuses CARGO_TARGET_DIR), about 2 minutes
#   FUZZ_EXAMPLES=200 ./scripts/fuzz.sh  # more cases per operation
#   FUZZ_SEED=42 ./scripts/fuzz.sh       # replay one run (the seed is printed)
#
# Two passes over one service, with a throwaway database and configuration:
#   1. a token with every scope: all phases (examples, coverage, fuzzing, stateful), every check;
#   2. a token with the `decide` scope only: the routes it may not use answer 403, before the body
#      is read, and that is declared.
# CI (.ci/run) runs it after scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

EXAMPLES=${FUZZ_EXAMPLES:-40}
SEED=${FUZZ_SEED:-$RANDOM$RANDOM}
# A hard stop per pass, whatever schemathesis does.
PASS_TIMEOUT=${FUZZ_PASS_TIMEOUT:-150}
VENV=.venv-fuzz
REQUIREMENTS=scripts/fuzz/requirements.txt
SCHEMATHESIS="$VENV/bin/schemathesis"

# The virtual environment, made again when the pinned set changes.
if ! cmp -s "$REQUIREMENTS" "$VENV/requirements.txt" 2>/dev/null || [ ! -x "$SCHEMATHESIS" ]; then
  echo "== installing schemathesis into $VENV (PyPI; pinned in $REQUIREMENTS)"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$REQUIREMENTS"
  cp "$REQUIREMENTS" "$VENV/requirements.txt"
fi
"$SCHEMATHESIS" --version

# The binary the test suite builds (its dev-dependencies change some dependencies' features, so
# a plain `cargo build` would recompile them): after ./scripts/test.sh this builds nothing.
echo "== cargo test --no-run (debug binary)"
cargo test --locked --quiet --no-run
NB="${CARGO_TARGET_DIR:-target}/debug/nextbest"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nextbest-fuzz.XXXXXX")
SERVE_PID=
stop_service() {
  if [ -n "$SERVE_PID" ] && kill -0 "$SERVE_PID" 2>/dev/null; then
    kill -TERM "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
  fi
  SERVE_PID=
}
cleanup() {
  stop_service
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ADMIN_TOKEN="fuzz-admin-$RANDOM$RANDOM"
DECIDE_TOKEN="fuzz-decide-$RANDOM$RANDOM"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
cat >"$WORK/serve.toml" <<EOF
bind = "127.0.0.1:$PORT"
workers = 2
database = "$WORK/nextbest.db"

[[tokens]]
name = "fuzz-everything"
token = "$ADMIN_TOKEN"
scopes = ["decide", "ingest", "admin", "results"]

[[tokens]]
name = "fuzz-decide-only"
token = "$DECIDE_TOKEN"
scopes = ["decide"]
EOF

RUST_LOG=${RUST_LOG:-warn} "$NB" serve --config "$WORK/serve.toml" >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
fail_with_log() {
  echo "fuzz: $1; the service's log (last 40 lines):" >&2
  tail -n 40 "$WORK/serve.log" >&2
  exit 1
}
for _ in $(seq 1 300); do
  curl -fsS "$URL/readyz" >/dev/null 2>&1 && break
  kill -0 "$SERVE_PID" 2>/dev/null || fail_with_log "the service stopped before it was ready"
  sleep 0.1
done
curl -fsS "$URL/readyz" >/dev/null || fail_with_log "the service is not ready after 30 s"
echo "== nextbest serve on $URL (pid $SERVE_PID)"

# The deployment's vocabulary for schemathesis' dictionaries (see scripts/fuzz/schemathesis.toml).
cp scripts/fuzz/schemathesis.toml "$WORK/"
python3 - "$URL" "$ADMIN_TOKEN" "$WORK" <<'EOF'
import json, os, sys, tomllib, urllib.request
url, token, work = sys.argv[1:]
def get(path):
    request = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)
def write(name, values):
    with open(os.path.join(work, name), "w") as out:
        out.writelines(json.dumps(v) + "\n" for v in sorted(set(values)))
with open("datasets/sample/catalog.toml", "rb") as f:
    write("actions.dict", [a["id"] for a in tomllib.load(f)["action"]])
write("policies.dict", [p["name"] for p in get("/v1/policies")["policies"]])
write("model_folders.dict", [d for d in os.listdir("models") if os.path.isdir(os.path.join("models", d))])
models = get("/v1/models")["models"]
write("treatments.dict", [t for m in models for t in (m.get("treatments") or [])] or ["no_action"])
EOF

# One pass of schemathesis; its exit status is the pass's.
fuzz_pass() {
  local name=$1 token=$2 examples=$3
  shift 3
  echo "== schemathesis: $name (seed $SEED, at most $examples cases per operation and phase)"
  SCHEMATHESIS_HOOKS="$PWD/scripts/fuzz/hooks.py" timeout --signal=INT --kill-after=10 "$PASS_TIMEOUT" \
    "$SCHEMATHESIS" --config-file "$WORK/schemathesis.toml" run "$URL/openapi.json" \
    --url "$URL" -H "Authorization: Bearer $token" \
    --seed "$SEED" --max-examples "$examples" --workers 2 --request-timeout 20 \
    --generation-database none --no-color --continue-on-failure --suppress-health-check too_slow \
    --report junit --report-dir "$WORK/report-$name" "$@"
}

status=0
fuzz_pass everything "$ADMIN_TOKEN" "$EXAMPLES" --checks all || status=1
# Its warnings (most answers are 403, outcomes name no real decision) are the point of the pass.
fuzz_pass decide-only "$DECIDE_TOKEN" "$(( EXAMPLES / 4 + 1 ))" --checks all --phases coverage,fuzzing \
  --warnings off || status=1

kill -0 "$SERVE_PID" 2>/dev/null || fail_with_log "the service died during the run"
if grep -q 'panicked' "$WORK/serve.log"; then
  fail_with_log "the service panicked"
fi
if [ "$status" -ne 0 ]; then
  fail_with_log "schemathesis found failures (replay with FUZZ_SEED=$SEED)"
fi
echo "fuzz: no failures (seed $SEED)"
