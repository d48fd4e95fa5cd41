"""Writing one step of a preallocated sequence inside a loop."""

from keras import ops


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
    steps = sequence.shape[1] if sequence.shape[1] is not None else ops.shape(sequence)[1]
    here = ops.reshape(ops.equal(ops.arange(steps), index), (1, -1) + (1,) * (len(sequence.shape) - 2))
    return ops.where(here, ops.expand_dims(value, 1), sequence)
