"""The mean of a sequence over its real (unmasked) positions."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_attn")
class MaskedAveragePooling(keras.layers.Layer):
    """`(batch, length, dim)` and a `(batch, length)` mask → `(batch, dim)`: the
    mean over the positions where the mask is true.

    A row with no real position (all padding) gives zeros, in every runtime:
    Keras's `GlobalAveragePooling1D` divides by zero there (NaN), which TFLite
    and ONNX Runtime then turn into different numbers.

    Example:
    >>> import numpy as np
    >>> x = np.array([[[1.0], [3.0], [100.0]], [[5.0], [7.0], [9.0]]], "float32")
    >>> mask = np.array([[True, True, False], [False, False, False]])
    >>> np.asarray(MaskedAveragePooling()(x, mask)).tolist()
    [[2.0], [0.0]]
    """

    def call(self, inputs, mask):
        weights = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        total = ops.sum(inputs * weights, axis=1)
        return total / ops.maximum(ops.sum(weights, axis=1), 1.0)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])
