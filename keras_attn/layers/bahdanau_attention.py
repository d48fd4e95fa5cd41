"""Additive attention of Bahdanau, Cho and Bengio (2015)."""

import keras
from keras import ops

from keras_attn.layers.attention_masks import key_padding_mask, masked_softmax
from keras_attn.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_attn")
class BahdanauAttention(keras.layers.Layer):
    """Additive attention: `score(q, k) = v^T tanh(W1 q + W2 k)`.

    Each query attends over the keys (the encoder annotations); the context
    is the attention-weighted sum of the keys. Unlike
    `keras.layers.AdditiveAttention`, the query and keys are projected by
    learned matrices `W1` and `W2` into a space of `units` dimensions before
    the `tanh`, as in the paper.

    Args:
        units: width of the hidden layer of the score network.

    Call arguments:
        query: `(batch, queries, query_dim)`.
        keys: `(batch, keys, key_dim)`.
        keys_mask: optional `(batch, keys)`, 1 (or True) for real keys.
        return_attention_scores: also return the weights
            `(batch, queries, keys)`.
        projected_keys: optional `project_keys(keys)`. A decoder attends
            over the same keys at every step, so it projects them once.

    Example:
    >>> import numpy as np
    >>> attention = BahdanauAttention(units=16)
    >>> query, keys = np.ones((2, 3, 8)), np.ones((2, 5, 6))
    >>> context, weights = attention(
    ...     query, keys, keys_mask=np.array([[1] * 5, [1, 1, 0, 0, 0]]),
    ...     return_attention_scores=True)
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 3, 6), (2, 3, 5))
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        self.query_projection = keras.layers.Dense(units, use_bias=False, name="W1", dtype=self.dtype_policy)
        self.key_projection = keras.layers.Dense(units, use_bias=False, name="W2", dtype=self.dtype_policy)
        self.score_projection = keras.layers.Dense(1, use_bias=False, name="v", dtype=self.dtype_policy)

    def build(self, query_shape, keys_shape):
        self.query_projection.build(query_shape)
        self.key_projection.build(keys_shape)
        self.score_projection.build((None, self.units))

    def project_keys(self, keys):
        """`W2 k`: `(batch, keys, key_dim)` → `(batch, keys, units)`."""
        return self.key_projection(keys)

    def call(self, query, keys, keys_mask=None, return_attention_scores=False, projected_keys=None):
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        projected_query = ops.expand_dims(self.query_projection(query), 2)
        # (batch, queries, keys, 1) → (batch, queries, keys)
        scores = ops.squeeze(
            self.score_projection(ops.tanh(projected_query + ops.expand_dims(projected_keys, 1))), -1
        )
        mask = None if keys_mask is None else key_padding_mask(keys_mask)
        weights = ops.cast(masked_softmax(scores, mask), self.compute_dtype)
        context = ops.matmul(weights, keys)
        if return_attention_scores:
            return context, weights
        return context

    def compute_output_spec(self, query, keys, keys_mask=None, return_attention_scores=False, projected_keys=None):
        batch, queries = query.shape[0], query.shape[1]
        context = keras.KerasTensor((batch, queries, keys.shape[-1]), self.compute_dtype)
        if return_attention_scores:
            weights = keras.KerasTensor((batch, queries, keys.shape[1]), self.compute_dtype)
            return context, weights
        return context

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config
