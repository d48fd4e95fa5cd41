"""The `.npz` archives keras-attn writes (task files, pretraining corpora,
held-out examples): written whole or not at all, at exactly the path given;
read without pickled objects, a file that is not such an archive being a
one-line `ValueError` naming it and what is wrong.

    arrays = read_arrays("runs/spa-eng.npz", "keras-attn task file", required=("name",))
"""

import os
import zipfile

import numpy as np


def write_arrays(path, arrays):
    """Writes `{name: array}` compressed to `path` through a file beside it
    that takes its place once complete (a failure leaves what was there)."""
    partial = f"{path}.{os.getpid()}.partial"
    try:
        with open(partial, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def read_arrays(path, what, required=()):
    """`{name: array}` of the archive at `path`, which must hold `required`."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file.")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a {what} (not a .npz archive).")
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except (ValueError, zipfile.BadZipFile, EOFError, OSError) as error:  # damaged, or holding Python objects
        raise ValueError(f"{path}: not a readable {what} ({str(error).splitlines()[0]}).") from None
    return check_holds(path, what, arrays, required)


def check_holds(path, what, arrays, names):
    """`arrays`, if they hold every one of `names`."""
    missing = sorted(set(names) - set(arrays))
    if missing:
        raise ValueError(f"{path}: not a {what} (missing {', '.join(missing)}).")
    return arrays
