"""Silencing what native libraries print straight to the process's stderr.

TensorFlow logs at load through absl (oneDNN, CUDA not found, CPU features),
which `TF_CPP_MIN_LOG_LEVEL` no longer silences in 2.21, and LiteRT
announces its XNNPACK delegate for every interpreter. Neither goes through
Python, so only the file descriptor itself can be muted, around the call.
"""

import contextlib
import os
import sys


@contextlib.contextmanager
def native_stderr_muted():
    """File descriptor 2 goes to /dev/null inside the block (Python exceptions still propagate)."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
