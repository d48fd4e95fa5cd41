"""Loops over a fixed number of steps that export: the length they need, and
how a step is written into a preallocated sequence."""

from keras import ops


def fixed_steps(inputs, what):
    """The static length (axis 1) of `inputs`, or a `ValueError` that names
    `what` needs one: a `while` loop that exports runs a fixed count."""
    steps = inputs.shape[1]
    if steps is None:
        raise ValueError(f"{what} needs inputs of a fixed length (exports fix it).")
    return steps


def write_step(sequence, index, value):
    """`sequence` `(batch, steps, ...)` with step `index` replaced by `value`
    `(batch, ...)`.

    A select over the whole sequence, not a dynamic slice update: under
    TensorFlow `slice_update` lowers to an XLA op (XlaDynamicUpdateSlice)
    that tf2onnx cannot convert, and these loops are exported. At the lengths
    these models take, the select costs little next to the step's own work.

    >>> import numpy as np
    >>> ops.convert_to_numpy(write_step(np.zeros((1, 3)), 1, np.ones((1,)))).tolist()
    [[0.0, 1.0, 0.0]]
    """
    here = ops.equal(ops.arange(ops.shape(sequence)[1]), index)
    return ops.where(ops.reshape(here, (1, -1) + (1,) * (len(sequence.shape) - 2)), ops.expand_dims(value, 1), sequence)
