#!/usr/bin/env bash
# Installs what nextbest needs at run time beyond the Rust toolchain: the ONNX Runtime shared
# library for ONNX models (`backend: onnx`). It comes from the PyPI `onnxruntime` wheel, installed
# without its Python dependencies into `.ort/py` (ignored by git); nextbest finds it there by
# itself, or through ORT_DYLIB_PATH.
#
#   ./scripts/setup.sh                 # install (a no-op when already installed); prints the path
#   eval "$(./scripts/setup.sh)"       # same, and exports ORT_DYLIB_PATH into this shell
#
# Progress goes to stderr; stdout is a single `export ORT_DYLIB_PATH=…` line.
set -euo pipefail
cd "$(dirname "$0")/.."

# The ONNX Runtime version nextbest is tested with (ort 2.0.0-rc.15 needs 1.17 or later).
ORT_VERSION=1.32.0
TARGET=.ort/py
LIB="$TARGET/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION"

if [ -f "$LIB" ]; then
  echo "== ONNX Runtime $ORT_VERSION already installed in $TARGET" >&2
else
  if ! python3 -m pip --version >/dev/null 2>&1; then
    echo "setup: python3 with pip is needed to install ONNX Runtime (the PyPI onnxruntime wheel)" >&2
    exit 1
  fi
  echo "== installing ONNX Runtime $ORT_VERSION (PyPI onnxruntime wheel) into $TARGET" >&2
  # Into a temporary folder first, so an interrupted install never looks complete.
  partial="$TARGET.partial"
  rm -rf "$partial"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-input --no-deps \
    --only-binary=:all: --target "$partial" "onnxruntime==$ORT_VERSION" >&2
  if [ ! -f "$partial/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" ]; then
    echo "setup: the onnxruntime $ORT_VERSION wheel has no onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" >&2
    exit 1
  fi
  rm -rf "$TARGET"
  mv "$partial" "$TARGET"
fi

echo "export ORT_DYLIB_PATH=$PWD/$LIB"
