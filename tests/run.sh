#!/usr/bin/env bash
# The test suite: everything under the TensorFlow backend, then the core
# (everything not marked `tensorflow`) again under JAX.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
export TF_CPP_MIN_LOG_LEVEL=3
KERAS_BACKEND=tensorflow "$PYTHON" -m pytest -q -p no:cacheprovider "$@"
KERAS_BACKEND=jax "$PYTHON" -m pytest -q -p no:cacheprovider -m "not tensorflow" "$@"
