"""Sequence losses that ignore padding."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_attn")
class MaskedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Cross-entropy averaged over the real (non-padding) tokens of a batch.

    Positions whose label is `pad_id` contribute nothing, and the mean is
    taken over the real tokens only, so a batch's loss does not depend on
    how much padding it carries.

    Example:
    >>> import numpy as np
    >>> loss = MaskedSparseCategoricalCrossentropy()
    >>> logits = np.zeros((1, 3, 4), "float32")
    >>> round(float(loss(np.array([[2, 3, 0]]), logits)), 4)  # log(4)
    1.3863
    """

    def __init__(self, pad_id=0, from_logits=True, name="masked_sparse_categorical_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pad_id = int(pad_id)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        losses = keras.losses.sparse_categorical_crossentropy(
            y_true, ops.cast(y_pred, "float32"), from_logits=self.from_logits
        )
        mask = ops.cast(ops.not_equal(y_true, self.pad_id), losses.dtype)
        # A scalar: Keras leaves it unreduced, so the mean is over real tokens.
        return ops.divide_no_nan(ops.sum(losses * mask), ops.sum(mask))

    def get_config(self):
        config = super().get_config()
        config.update({"pad_id": self.pad_id, "from_logits": self.from_logits})
        return config
