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
cargo test --locked
