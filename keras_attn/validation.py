"""Argument checks shared by layers, model builders and the zoo.

Each check raises `ValueError` with a message that names the argument, so a
bad configuration fails before anything is built.
"""

import numbers

import numpy as np


def check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return int(value)


def check_rate(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"`{name}` must be a number in [0, 1), got {value!r}.")
    return float(value)


def check_non_negative(name, value):
    """A finite real `value` >= 0, as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < float("inf"):
        raise ValueError(f"`{name}` must be a finite number >= 0, got {value!r}.")
    return float(value)


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {sorted(choices)}, got {value!r}."
        )
    return value


def check_divisible(name, value, divisor_name, divisor):
    if value % divisor:
        raise ValueError(
            f"`{name}`={value} is not divisible by `{divisor_name}`={divisor}."
        )


def check_token_ids(name, ids, vocabulary_size=None, max_length=None):
    """`ids` as an int32 array of shape `(batch, length)`, refusing what no
    model can take: a non-integer dtype, another rank, no rows or columns,
    ids outside `[0, vocabulary_size)`, more than `max_length` columns."""
    array = np.asarray(ids)
    if array.dtype.kind not in "iu":
        raise ValueError(f"`{name}` must hold integer token ids, got dtype {array.dtype}.")
    if array.ndim != 2:
        raise ValueError(f"`{name}` must be 2-D (batch, length), got shape {array.shape}.")
    if 0 in array.shape:
        raise ValueError(f"`{name}` needs at least one row and one column, got shape {array.shape}.")
    if vocabulary_size is not None and (array.min() < 0 or array.max() >= vocabulary_size):
        raise ValueError(f"`{name}` holds ids outside [0, {vocabulary_size}) (from {array.min()} to {array.max()}).")
    if max_length is not None and array.shape[1] > max_length:
        raise ValueError(f"`{name}` has {array.shape[1]} columns; the model takes at most {max_length}.")
    return array.astype("int32")


# A search scores batch x beam x vocabulary candidates at each step; past
# this many (1 GiB of float32 scores, before the softmax's and top-k's own
# copies) one step alone outgrows a phone or a small CPU machine.
MAX_SCORES_PER_STEP = 2**28
# The steps of a model without a position table (an RNN's): its search keeps
# a token and an attention row per step, for every beam.
MAX_UNBOUNDED_STEPS = 1024


# The longest sequence any length setting may ask for (a position table,
# packed rows, a fixed exported length): 65,536 positions of a 1,024-wide
# model are 256 MB of float32, past what the zoo's models are built for.
MAX_SEQUENCE_LENGTH = 65_536


def check_length(name, value):
    """A sequence length in `[1, MAX_SEQUENCE_LENGTH]`."""
    return check_range(name, value, 1, MAX_SEQUENCE_LENGTH)


def check_search_rows(batch, vocabulary_size):
    """Refuses a batch whose rows alone score more than `MAX_SCORES_PER_STEP` a step."""
    if batch * vocabulary_size > MAX_SCORES_PER_STEP:
        raise ValueError(f"`source_ids` has {batch:,d} rows; at most {MAX_SCORES_PER_STEP // vocabulary_size:,d} fit "
                         f"{MAX_SCORES_PER_STEP:,} scores per step over a target vocabulary of {vocabulary_size:,d}: "
                         "decode in smaller batches.")


def check_beam_size(beam_size, batch, vocabulary_size):
    """A beam width of at least 1 and at most the target vocabulary (a wider
    beam holds copies) and `MAX_SCORES_PER_STEP` scores per step for `batch`
    rows (`check_search_rows`: the rows alone may be too many)."""
    check_search_rows(batch, vocabulary_size)
    high = max(1, min(vocabulary_size, MAX_SCORES_PER_STEP // (batch * vocabulary_size)))
    if isinstance(beam_size, bool) or not isinstance(beam_size, numbers.Integral) or not 1 <= beam_size <= high:
        raise ValueError(f"`beam_size` must be an integer in [1, {high}] (at most the target vocabulary, "
                         f"{vocabulary_size}, and {MAX_SCORES_PER_STEP:,} scores per step for {batch} rows), "
                         f"got {beam_size!r}.")
    return int(beam_size)


def check_range(name, value, low, high=None):
    """An integer `value` in `[low, high]` (no upper bound when `high` is None)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low or (high is not None and value > high):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"`{name}` must be an integer {bound}, got {value!r}.")
    return int(value)
