#!/usr/bin/env bash
# The test suite: everything under the TensorFlow backend, then the core
# (everything not marked `tensorflow`) again under JAX. Each pass spreads
# its tests over one pytest-xdist worker per core (TEST_WORKERS overrides);
# the tests reading the session-wide exports stay on one worker (`loadgroup`).
#
# `tests/run.sh --quick`: the quick tier for use while working, one
# TensorFlow pass without the tests marked `slow` (the session-wide exports,
# the corpus runs, fresh interpreters); every module is still exercised.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
export TF_CPP_MIN_LOG_LEVEL=3
WORKERS=(-n "${TEST_WORKERS:-auto}" --dist loadgroup)
if [ "${1:-}" = "--quick" ]; then
  shift
  KERAS_BACKEND=tensorflow exec "$PYTHON" -m pytest -q -p no:cacheprovider "${WORKERS[@]}" -m "not slow" "$@"
fi
KERAS_BACKEND=tensorflow "$PYTHON" -m pytest -q -p no:cacheprovider "${WORKERS[@]}" "$@"
KERAS_BACKEND=jax "$PYTHON" -m pytest -q -p no:cacheprovider "${WORKERS[@]}" -m "not tensorflow" "$@"
