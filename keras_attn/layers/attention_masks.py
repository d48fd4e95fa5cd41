"""Mask helpers shared by every attention layer.

Masks are turned into an additive float bias with `reshape` and arithmetic
only: no boolean strided slices, which TFLite's builtin op set rejects.
Scores are normalised in float32 so that -1e9 stays finite under mixed
precision and masked positions get exactly zero weight.
"""

import warnings

from keras import ops

_MASKED_SCORE = -1e9


def key_padding_mask(padding_mask):
    """(batch, keys) 0/1 or bool mask → (batch, 1, keys), broadcastable over queries."""
    padding_mask = ops.cast(padding_mask, "float32")
    return ops.expand_dims(padding_mask, axis=1)


def causal_mask(query_length, key_length):
    """(query_length, key_length) float mask: query i sees keys j <= i."""
    rows = ops.reshape(ops.arange(query_length), (-1, 1))
    columns = ops.reshape(ops.arange(key_length), (1, -1))
    return ops.cast(ops.greater_equal(rows, columns), "float32")


def masked_softmax(scores, mask=None):
    """Softmax over the last axis where `mask` (1 = attend) broadcasts to `scores`.

    Returns float32 weights; masked positions are exactly zero.
    """
    scores = ops.cast(scores, "float32")
    if mask is not None:
        scores = scores + (1.0 - ops.cast(mask, "float32")) * _MASKED_SCORE
    with warnings.catch_warnings():
        # One key (a one-token source) is a real case, whose weight is 1; Keras warns of any size-1 softmax.
        warnings.filterwarnings("ignore", message="You are using a softmax over axis")
        return ops.softmax(scores, axis=-1)
