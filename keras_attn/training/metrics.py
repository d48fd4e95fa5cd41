"""Sequence metrics that ignore padding."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_attn")
class MaskedAccuracy(keras.metrics.Metric):
    """Token accuracy over the positions whose label is not `pad_id`.

    Example:
    >>> import numpy as np
    >>> metric = MaskedAccuracy()
    >>> logits = np.eye(4, dtype="float32")[[[1, 2, 2]]]
    >>> metric.update_state(np.array([[1, 3, 0]]), logits)
    >>> float(metric.result())
    0.5
    """

    def __init__(self, pad_id=0, name="masked_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pad_id = int(pad_id)
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "int32")
        predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        mask = ops.cast(ops.not_equal(y_true, self.pad_id), "float32")
        if sample_weight is not None:
            mask = mask * ops.cast(sample_weight, "float32")
        hits = ops.cast(ops.equal(y_true, predicted), "float32") * mask
        self.correct.assign_add(ops.sum(hits))
        self.count.assign_add(ops.sum(mask))

    def result(self):
        return ops.divide_no_nan(self.correct, self.count)

    def get_config(self):
        config = super().get_config()
        config.update({"pad_id": self.pad_id})
        return config
