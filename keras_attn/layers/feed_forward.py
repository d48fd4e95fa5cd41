"""The position-wise feed-forward sublayer of a Transformer block."""

import keras

from keras_attn.validation import check_positive_int, check_rate


@keras.saving.register_keras_serializable(package="keras_attn")
class FeedForward(keras.layers.Layer):
    """`Dense(intermediate_dim, activation) → Dropout → Dense(input width)`.

    Example:
    >>> import numpy as np
    >>> tuple(FeedForward(32)(np.ones((2, 3, 8))).shape)
    (2, 3, 8)
    """

    def __init__(self, intermediate_dim, activation="relu", dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.intermediate_dim = check_positive_int("intermediate_dim", intermediate_dim)
        self.activation = keras.activations.get(activation)
        self.dropout = check_rate("dropout", dropout)
        self.intermediate_dense = keras.layers.Dense(
            intermediate_dim, activation=self.activation, name="intermediate", dtype=self.dtype_policy
        )
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy)
        self.output_dense = None

    def build(self, inputs_shape):
        self.intermediate_dense.build(inputs_shape)
        self.output_dense = keras.layers.Dense(inputs_shape[-1], name="output", dtype=self.dtype_policy)
        self.output_dense.build(tuple(inputs_shape[:-1]) + (self.intermediate_dim,))

    def call(self, inputs, training=None):
        hidden = self.dropout_layer(self.intermediate_dense(inputs), training=training)
        return self.output_dense(hidden)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "intermediate_dim": self.intermediate_dim,
                "activation": keras.activations.serialize(self.activation),
                "dropout": self.dropout,
            }
        )
        return config

