"""Training output fit for a file: one line per epoch where the output is not
a terminal, and a JSON-lines log of every epoch.

    model.fit(batches, epochs=3, verbose=fit_verbosity("auto"), callbacks=[EpochLog("log.jsonl", batches)])
"""

import json
import sys
import time

import keras


def fit_verbosity(verbose):
    """Keras's `verbose` for `fit`: `"auto"` is the progress bar on a terminal,
    one line per epoch otherwise (a redrawn bar written to a file is mostly
    escape codes); anything else is passed through."""
    if verbose != "auto":
        return verbose
    return 1 if sys.stdout.isatty() else 2


class EpochLog(keras.callbacks.Callback):
    """Writes one JSON object per epoch to `path`: the epoch, its losses and
    metrics (validation included), its seconds (validation included) and the
    training examples per second.

    Args:
        path: the file to write; started anew unless `append`.
        batches: the training batches (a `keras.utils.PyDataset` of
            `LengthBucketedBatches`): their row count gives the examples.
        append: add to the file (a resumed run continues its log).

    Example:
    >>> import keras, numpy as np, tempfile, os
    >>> from keras_attn.data.batching import LengthBucketedBatches
    >>> batches = LengthBucketedBatches(np.ones((8, 3), "int32"), np.ones((8, 1)), batch_size=4)
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> path = os.path.join(tempfile.mkdtemp(), "log.jsonl")
    >>> history = model.fit(batches, epochs=2, verbose=0, callbacks=[EpochLog(path, batches)])
    >>> [sorted(json.loads(line)) for line in open(path)][1]
    ['epoch', 'examples_per_second', 'loss', 'seconds']
    """

    def __init__(self, path, batches, append=False):
        super().__init__()
        self.path = path
        # Rows a batch holds on average (the last batch of an epoch is short).
        self.rows_per_batch = sum(map(len, batches.batches)) / len(batches.batches)
        open(self.path, "a" if append else "w").close()

    def on_epoch_begin(self, epoch, logs=None):
        self.started, self.trained_batches = time.monotonic(), 0

    def on_train_batch_end(self, batch, logs=None):
        self.trained_batches += 1

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.monotonic() - self.started
        examples = self.trained_batches * self.rows_per_batch
        record = {"epoch": epoch + 1, "seconds": round(seconds, 3),
                  "examples_per_second": round(examples / seconds, 1) if seconds > 0 else None,
                  **{name: float(value) for name, value in (logs or {}).items()}}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
