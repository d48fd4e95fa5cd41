"""A token table row held at zero: Marian's decoder starts from a zero vector."""

import keras
from keras import ops

from keras_attn.validation import check_range


@keras.saving.register_keras_serializable(package="keras_attn")
class ZeroRow(keras.constraints.Constraint):
    """Sets row `row` of a 2-D weight to zero after every update.

    Marian (and CTranslate2, which runs its models) starts the decoder from
    a zero vector; Hugging Face's Marian gives that vector an id, its
    padding token, and keeps the row at zero. A translator whose start id
    is its padding id holds that row at zero with this constraint, so a
    model trained here computes what those runtimes compute.

    Example:
    >>> import numpy as np
    >>> np.asarray(ZeroRow(1)(np.ones((3, 2), "float32"))).tolist()
    [[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]]
    """

    def __init__(self, row):
        self.row = check_range("row", row, 0)

    def __call__(self, weight):
        keep = ops.not_equal(ops.arange(ops.shape(weight)[0]), self.row)
        return weight * ops.cast(ops.expand_dims(keep, -1), weight.dtype)

    def get_config(self):
        return {"row": self.row}
