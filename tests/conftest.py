import os
import subprocess
import sys

import keras
import numpy as np
import pytest

BACKEND = keras.backend.backend()


def pytest_collection_modifyitems(config, items):
    if BACKEND == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"needs the TensorFlow backend (running {BACKEND})")
    for item in items:
        if "tensorflow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def random_ids(rng, shape, vocabulary_size, lengths=None):
    """Token ids in [7, vocabulary_size) (past the reserved ids), right-padded to `lengths`."""
    ids = rng.integers(7, vocabulary_size, shape).astype("int32")
    if lengths is not None:
        for row, length in enumerate(lengths):
            ids[row, length:] = 0
    return ids


def pad_right(ids, extra):
    return np.concatenate([ids, np.zeros((ids.shape[0], extra), ids.dtype)], axis=1)


def run_python(code, backend, block_tensorflow=False, timeout=600):
    """Runs `code` in a fresh interpreter under `backend`; returns its stdout."""
    prelude = "import sys; sys.modules['tensorflow'] = None\n" if block_tensorflow else ""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", prelude + code], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout
