"""Length-bucketed batches without trailing padding: the input pipeline of `train`.

Padding never changes a model's outputs at real positions (the masks are
real; the tests prove it), so a batch of short sentences need not carry the
columns of the longest sentence in the corpus. `LengthBucketedBatches`
groups rows of similar length, cuts each batch to its longest row (rounded
up to a multiple of `width_multiple`, so XLA compiles only a few shapes) and
reshuffles every epoch (`EpochOrder`). On the SST-2 training split (rows of 64, mostly
short phrases) a model computes 3.8x fewer token positions at batch 64.

Example:

>>> import numpy as np
>>> ids = np.array([[4, 9, 0, 0, 0, 0, 0, 0], [4, 8, 7, 0, 0, 0, 0, 0]])
>>> batches = LengthBucketedBatches(ids, np.array([0, 1]), batch_size=2, width_multiple=4)
>>> x, y = batches[0]
>>> x.shape
(2, 4)
"""

import keras
import numpy as np

from keras_attn.validation import check_positive_int


def _sequence_arrays(structure):
    """The 2-D arrays of `structure` (an array or a dict of arrays)."""
    arrays = structure.values() if isinstance(structure, dict) else [structure]
    return [a for a in arrays if a is not None and np.ndim(a) == 2]


def row_lengths(*structures, pad_id=0):
    """Per row, one past the last id that is not `pad_id` over every 2-D array given."""
    lengths = None
    for array in (a for s in structures for a in _sequence_arrays(s)):
        real = np.asarray(array) != pad_id
        last = np.where(real.any(axis=1), array.shape[1] - np.argmax(real[:, ::-1], axis=1), 0)
        lengths = last if lengths is None else np.maximum(lengths, last)
    if lengths is None:
        raise ValueError("No 2-D token-id array to measure lengths from.")
    return lengths


def bucketed_batches(lengths, batch_size, rng, pool_batches=32):
    """Row indices of each batch: the rows are shuffled, cut into pools of
    `pool_batches` batches, sorted by length inside each pool, cut into
    batches, and the batches shuffled. Only the last batch can be short
    (it stays last), so the batch shapes stay few."""
    order = rng.permutation(len(lengths))
    pool = batch_size * pool_batches
    batches = []
    for start in range(0, len(order), pool):
        rows = order[start : start + pool]
        rows = rows[np.argsort(lengths[rows], kind="stable")]
        batches += [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]
    last = batches.pop()
    batches = [batches[i] for i in rng.permutation(len(batches))] + [last]
    return batches


def trim(structure, width):
    """Cuts every 2-D array of `structure` to its first `width` columns."""
    if isinstance(structure, dict):
        return {key: trim(value, width) for key, value in structure.items()}
    if structure is None or np.ndim(structure) != 2:
        return structure
    return structure[:, :width]


def pad_rows(structure, multiple):
    """Appends all-padding rows to every array of `structure` up to a multiple
    of `multiple` rows; returns `(padded, original row count)`.

    >>> padded, rows = pad_rows(np.ones((5, 3), "int32"), 4)
    >>> padded.shape, rows
    ((8, 3), 5)
    """
    arrays = list(structure.values()) if isinstance(structure, dict) else [structure]
    rows = len(arrays[0])
    extra = -rows % multiple

    def pad(array):
        return np.concatenate([array, np.zeros((extra,) + array.shape[1:], array.dtype)]) if extra else array

    if isinstance(structure, dict):
        return {key: pad(value) for key, value in structure.items()}, rows
    return pad(structure), rows


def take_rows(structure, rows):
    """Rows `rows` of every array of `structure` (an array, a dict of arrays, or None)."""
    if isinstance(structure, dict):
        return {key: value[rows] for key, value in structure.items()}
    return None if structure is None else structure[rows]


def _check_shard(shard, row_multiple):
    if not (isinstance(shard, tuple) and len(shard) == 2 and all(isinstance(v, int) for v in shard)
            and 0 <= shard[0] < shard[1] and row_multiple % shard[1] == 0):
        raise ValueError(f"`shard` must be (index, count) with 0 <= index < count and count dividing `row_multiple` "
                         f"({row_multiple}), got {shard!r}.")
    return shard


class LengthBucketedBatches(keras.utils.PyDataset):
    """`(x, y)` batches of rows of similar length, trailing padding cut.

    Args:
        x: a right-padded int array `(rows, length)` or a dict of arrays
            (2-D ones are token ids sharing the length axis; 1-D ones are
            per-row values), right-padded with `pad_id`.
        y: targets; a 2-D `y` (e.g. the labels of a seq2seq model) is cut
            like `x`, a 1-D `y` (class labels) is left as it is.
        batch_size: rows per batch.
        width_multiple: batch widths are rounded up to a multiple of it.
        shuffle: a shuffled order for each epoch (training: see
            `EpochOrder`); `False` keeps one length-sorted order
            (evaluation).
        seed: the shuffles' seed.
        row_multiple: every batch has a multiple of this many rows (the
            devices of data-parallel training; see
            `keras_attn.distribution.batch_multiple`); up to
            `row_multiple - 1` rows an epoch are left out.
        shard: `(index, count)`: this process feeds block `index` of each
            batch's rows cut in `count` equal blocks, the other processes of
            a data-parallel run the others (see
            `keras_attn.training.distribution.process_shard`); `count` must
            divide `row_multiple`. Every process sees the same batches and
            widths, so together they train on the batches one process would.
        pad_id: the padding id of `x` and a 2-D `y` (a Marian vocabulary
            pads with its last id; its 0 is `</s>`, a real token).

    Arrays of different lengths (a seq2seq source and target) are cut to
    the longest of them: each batch's width covers every array's real ids.
    """

    def __init__(self, x, y=None, batch_size=64, width_multiple=8, shuffle=True, seed=0, row_multiple=1, shard=(0, 1),
                 pad_id=0, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y = x, y
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.width_multiple = check_positive_int("width_multiple", width_multiple)
        self.row_multiple = check_positive_int("row_multiple", row_multiple)
        if batch_size % row_multiple:
            raise ValueError(f"`batch_size` ({batch_size}) must be a multiple of `row_multiple` ({row_multiple}).")
        self.shard = _check_shard(shard, row_multiple)
        self.shuffle = shuffle
        self.seed = seed
        self.epoch, self.first, self.in_epoch = 0, 0, False
        self.lengths = row_lengths(x, y, pad_id=pad_id)
        self._shuffle()

    def start_at(self, epoch, batch=0):
        """Starts epoch `epoch` (0-based) at its batch `batch`: the epoch's
        order is its own (a function of `seed` and `epoch`), so a resumed run
        sees the batches an uninterrupted one would; indices count from
        `batch`. `EpochOrder` calls it as `fit` starts each epoch."""
        self.epoch = epoch
        self._shuffle()
        if not 0 <= batch < len(self.batches):
            raise ValueError(f"`batch` must be in [0, {len(self.batches) - 1}], got {batch}.")
        self.first = batch

    def _shuffle(self):
        if self.shuffle:
            rng = np.random.default_rng((self.seed, self.epoch))
            self.batches = bucketed_batches(self.lengths, self.batch_size, rng)
        else:
            order = np.argsort(self.lengths, kind="stable")
            self.batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        # The short last batch keeps a multiple of `row_multiple` rows (the
        # devices of a data-parallel run); the few rows left over change with
        # the shuffle, so no row is left out for good.
        last = self.batches.pop()
        last = last[: len(last) - len(last) % self.row_multiple]
        self.batches += [last] if len(last) else []
        # Keras's TensorFlow backend takes the input signature from the first
        # two batches: a different width there keeps the width dynamic.
        other = self._other_width(0)
        if other is not None and other != 1:
            self.batches[1], self.batches[other] = self.batches[other], self.batches[1]

    def __len__(self):
        return len(self.batches) - self.first

    def width(self, rows):
        """The batch width: its longest row, rounded up, within the arrays' own widths."""
        longest = max(1, int(self.lengths[rows].max()))
        return -(-longest // self.width_multiple) * self.width_multiple

    def __getitem__(self, index):
        if index == 1 and self.first and not self.in_epoch:
            index = self._signature_index()
        batch = self.batch(self.first + index)
        shard, count = self.shard
        if count == 1:
            return batch
        block = len(self.batches[self.first + index]) // count
        return tuple(take_rows(part, slice(shard * block, (shard + 1) * block)) for part in batch)

    def _signature_index(self):
        """What Keras reads as item 1 before an epoch starts (the TensorFlow
        backend's input signature, from items 0 and 1): in an epoch resumed
        mid-way, a later batch of another width than item 0 if there is one,
        so that the widths stay dynamic. Training still reads item 1."""
        return self._other_width(self.first) or 1

    def _other_width(self, start):
        """How many batches after batch `start` the first one of another width is; `None` if none is."""
        widths = [self.width(rows) for rows in self.batches[start:]]
        return next((i for i, w in enumerate(widths) if w != widths[0]), None)

    def batch(self, index):
        """Batch `index` of the epoch, counted from its first batch."""
        rows = self.batches[index]
        width = self.width(rows)
        x, y = trim(take_rows(self.x, rows), width), trim(take_rows(self.y, rows), width)
        return (x, y) if y is not None else (x,)



class EpochOrder(keras.callbacks.Callback):
    """Gives `batches` (`LengthBucketedBatches`) the epoch `fit` starts, whose
    order they take; pass it to every `fit` over them that should reshuffle.

    The batches do not count epochs themselves: Keras calls a dataset's
    `on_epoch_end` also after looking at its first items, before fitting,
    so a count kept there would be off by one and would skip a resumed
    epoch's start. An epoch started with `start_at(epoch, batch)` before
    `fit` keeps its first batch.

    Example:
    >>> import keras, numpy as np
    >>> batches = LengthBucketedBatches(np.arange(1, 9).reshape(8, 1), np.ones((8, 1)), batch_size=2)
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> history = model.fit(batches, epochs=3, verbose=0, shuffle=False, callbacks=[EpochOrder(batches)])
    >>> batches.epoch
    2
    """

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        if epoch != self.batches.epoch:
            self.batches.start_at(epoch, 0)
        self.batches.in_epoch = True

    def on_epoch_end(self, epoch, logs=None):
        self.batches.in_epoch = False
