#!/usr/bin/env bash
# The test suite: everything under the TensorFlow backend, then the core
# (everything not marked `tensorflow`) again under JAX. Each pass spreads
# its tests over one pytest-xdist worker per core (TEST_WORKERS overrides);
# the tests reading the session-wide exports stay on one worker (`loadgroup`).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
export TF_CPP_MIN_LOG_LEVEL=3
WORKERS=(-n "${TEST_WORKERS:-auto}" --dist loadgroup)
KERAS_BACKEND=tensorflow "$PYTHON" -m pytest -q -p no:cacheprovider "${WORKERS[@]}" "$@"
KERAS_BACKEND=jax "$PYTHON" -m pytest -q -p no:cacheprovider "${WORKERS[@]}" -m "not tensorflow" "$@"
