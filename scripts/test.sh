#!/usr/bin/env bash
# The whole test suite: formatting, lints, then every unit and integration test (debug profile).
# CI (.ci/run) calls exactly this script, then scripts/fuzz.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

if cargo fmt --version >/dev/null 2>&1; then
  echo "== cargo fmt --check"
  cargo fmt --all -- --check
elif [ -n "${CI:-}" ]; then
  echo "rustfmt is missing on a CI machine" >&2; exit 1
else
  echo "== rustfmt is not installed; skipping the format check"
fi

if cargo clippy --version >/dev/null 2>&1; then
  echo "== cargo clippy -D warnings"
  cargo clippy --all-targets --locked -- -D warnings
elif [ -n "${CI:-}" ]; then
  echo "clippy is missing on a CI machine" >&2; exit 1
else
  echo "== clippy is not installed; skipping lints"
fi

echo "== cargo test"
# The store's tests run on SQLite and on PostgreSQL: each test binary that needs PostgreSQL
# starts a throwaway server of its own (initdb and postgres from PATH or
# /usr/lib/postgresql/*/bin; NEXTBEST_TEST_POSTGRES_URL names an existing server instead) and
# stops it when it exits.
cargo test --locked

# No throwaway server may outlive the tests (their data folders are /tmp/nextbest-pg-<pid>).
if command -v pgrep >/dev/null 2>&1; then
  sleep 1
  if stray=$(pgrep -a -f '/nextbest-pg-[0-9]+/'); then
    echo "PostgreSQL servers left behind by the tests:" >&2
    echo "$stray" >&2
    exit 1
  fi
fi
