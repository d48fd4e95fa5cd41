"""A wall-clock budget for `model.fit`."""

import time

import keras


class TimeLimit(keras.callbacks.Callback):
    """Stops `fit` at the first batch that ends after `seconds` of training.

    The interrupted epoch still ends normally: Keras validates it and calls
    the epoch-end callbacks, so a checkpoint that keeps the best epoch sees
    it too. `stopped` says whether the limit ended the run. The clock starts
    at the first `fit` it is given to: a run of several `fit` calls (a
    resumed epoch, then the rest) shares one budget.

    Example:
    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> limit = TimeLimit(0)
    >>> history = model.fit(np.ones((8, 1)), np.ones((8, 1)), batch_size=1, epochs=5, callbacks=[limit], verbose=0)
    >>> limit.stopped, len(history.history["loss"])
    (True, 1)
    """

    def __init__(self, seconds):
        super().__init__()
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise ValueError(f"`seconds` must be a non-negative number, got {seconds!r}.")
        self.seconds = seconds
        self.started, self.stopped = None, False

    def on_train_begin(self, logs=None):
        if self.started is None:
            self.started = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() - self.started >= self.seconds:
            self.stopped = True
            self.model.stop_training = True
