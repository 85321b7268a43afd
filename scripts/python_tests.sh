#!/usr/bin/env bash
# The Python package (python/: PyO3 + maturin) and its Spark recipe, tested against the
# `nextbest` binary: a venv in .venv-py/ (maturin, pytest, pyarrow, pandas, pyspark from PyPI), the
# package built into it in debug mode (sharing ./target with cargo's own builds), then pytest.
# Spark runs on local[2] and needs Java 17 (`java` on the PATH or JAVA_HOME).
#
#   ./scripts/python_tests.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-py
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV (maturin, pytest, pyarrow, pandas, pyspark from PyPI)"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    "maturin>=1.7,<2" "pytest>=8" "pyarrow>=14" "pandas>=2.2,<3" "pyspark>=3.5"
fi
if ! command -v java >/dev/null 2>&1 && [ -z "${JAVA_HOME:-}" ]; then
  echo "== installing Java 17 (apt) for Spark"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
fi
# The binary the test suite builds (after ./scripts/test.sh, nothing to do; see scripts/fuzz.sh).
cargo test --locked --quiet --no-run
echo "== building the Python package (maturin develop)"
CARGO_TARGET_DIR="$PWD/target" VIRTUAL_ENV="$PWD/$VENV" PATH="$PWD/$VENV/bin:$PATH" \
  "$VENV/bin/python" -m maturin develop --quiet -m python/Cargo.toml
echo "== pytest python/tests"
NEXTBEST_BIN="$PWD/target/debug/nextbest" "$VENV/bin/python" -m pytest -q python/tests
