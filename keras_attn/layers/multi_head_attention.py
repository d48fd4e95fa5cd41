"""Scaled dot-product multi-head attention with an export-friendly key/value cache."""

import math

import keras
from keras import ops

from keras_attn.layers.attention_masks import causal_mask, key_padding_mask, masked_softmax
from keras_attn.layers.fused_attention import dot_product_attention, fused_attention_enabled
from keras_attn.validation import check_positive_int, check_rate


@keras.saving.register_keras_serializable(package="keras_attn")
class MultiHeadAttention(keras.layers.Layer):
    """Multi-head attention of Vaswani et al. (2017).

    Written out with `matmul` and a float additive mask rather than using
    `keras.layers.MultiHeadAttention`, whose boolean mask handling lowers to
    ops that TFLite's builtin set rejects.

    Incremental decoding uses a fixed-size cache of shape
    `(batch, max_length, 2 * num_heads * key_dim)` (keys, then values,
    before the head split). A step writes its key/value at `cache_index`
    with `where` over a one-hot slot, and attends to slots `<= cache_index`.
    Static shapes keep the step graph the same at every step, for XLA,
    TFLite and ONNX alike.

    Under `keras_attn.layers.fused_attention()` the attention itself runs
    through `keras.ops.dot_product_attention` (cuDNN flash attention on a
    GPU); the weights and the cache are the same.

    Cross-attention over a fixed memory (the encoder outputs, during
    decoding) projects that memory to keys and values once with
    `project_key_value` and passes the result as `key_value` at every step,
    instead of re-projecting it per generated token.

    Args:
        num_heads: number of attention heads.
        key_dim: width of each head.
        output_dim: width of the output; defaults to the query's width.
        dropout: dropout rate on the attention weights.

    Call arguments:
        query: `(batch, queries, dim)`.
        value: `(batch, keys, dim)`; keys are projected from it too. Unused
            (may be None) when `key_value` is given.
        padding_mask: optional `(batch, keys)`, 1 for real keys.
        use_causal_mask: query `i` only sees keys `<= i`.
        cache: optional cache (see above), for self-attention of one
            new position; the layer then returns the updated cache.
        cache_index: int `(batch,)`, the position being decoded.
        key_value: optional `project_key_value(value)`, computed once (the
            layer must already be built).
        return_attention_scores: also return the weights
            `(batch, num_heads, queries, keys)`.

    Returns `output`, followed by the new cache if `cache` was given and the
    weights if `return_attention_scores`.

    Example:
    >>> import numpy as np
    >>> attention = MultiHeadAttention(num_heads=2, key_dim=4)
    >>> x = np.ones((2, 5, 8), "float32")
    >>> tuple(attention(x, x, use_causal_mask=True).shape)
    (2, 5, 8)
    """

    def __init__(self, num_heads, key_dim, output_dim=None, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.key_dim = check_positive_int("key_dim", key_dim)
        self.output_dim = None if output_dim is None else check_positive_int("output_dim", output_dim)
        self.dropout = check_rate("dropout", dropout)
        inner_dim = num_heads * key_dim
        self.query_dense = keras.layers.Dense(inner_dim, name="query", dtype=self.dtype_policy)
        self.key_dense = keras.layers.Dense(inner_dim, name="key", dtype=self.dtype_policy)
        self.value_dense = keras.layers.Dense(inner_dim, name="value", dtype=self.dtype_policy)
        self.output_dense = None
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy)

    def build(self, query_shape, value_shape, *args, **kwargs):
        self.query_dense.build(query_shape)
        self.key_dense.build(value_shape)
        self.value_dense.build(value_shape)
        self.output_dense = keras.layers.Dense(
            self.output_dim or query_shape[-1], name="output", dtype=self.dtype_policy
        )
        self.output_dense.build(tuple(query_shape[:-1]) + (self.num_heads * self.key_dim,))

    def _split_heads(self, x, batch, length):
        # (batch, length, heads * key_dim) → (batch, heads, length, key_dim).
        # Dims come from the layer's inputs, not from `x`: explicit dims
        # keep a static length (1 in a decoder step), and tf2onnx rewrites
        # 3-D matmuls as 2-D ones, so the shape of a Dense output is wrong
        # in the converted graph.
        x = ops.reshape(x, (batch, length, self.num_heads, self.key_dim))
        return ops.transpose(x, (0, 2, 1, 3))

    def _merge_heads(self, x, batch, length):
        x = ops.transpose(x, (0, 2, 1, 3))
        return ops.reshape(x, (batch, length, self.num_heads * self.key_dim))

    def project_key_value(self, value):
        """`(batch, keys, 2 * num_heads * key_dim)`: the keys, then the values,
        projected from `value`; the layout of the cache and of `key_value`."""
        return ops.concatenate([self.key_dense(value), self.value_dense(value)], axis=-1)

    def _write_cache(self, cache, value, cache_index):
        """Stores this step's key/value in slot `cache_index`; returns cache and key mask."""
        slots = ops.reshape(ops.arange(ops.shape(cache)[1]), (1, -1))
        index = ops.reshape(ops.cast(cache_index, slots.dtype), (-1, 1))
        step_kv = self.project_key_value(value)
        is_slot = ops.expand_dims(ops.equal(slots, index), -1)
        cache = ops.where(is_slot, ops.cast(step_kv, cache.dtype), cache)
        return cache, ops.less_equal(slots, index)

    def _plain_attention(self, query, key, value, padding_mask, use_causal_mask, scale, training):
        batch, query_length, key_length = ops.shape(query)[0], ops.shape(query)[1], ops.shape(key)[1]
        query_heads = self._split_heads(query, batch, query_length)
        key_heads = self._split_heads(key, batch, key_length)
        value_heads = self._split_heads(value, batch, key_length)
        scores = ops.matmul(query_heads * ops.cast(scale, query_heads.dtype), ops.transpose(key_heads, (0, 1, 3, 2)))
        mask = None
        if padding_mask is not None:
            mask = ops.expand_dims(key_padding_mask(padding_mask), 1)  # (b, 1, 1, k)
        if use_causal_mask:
            causal = causal_mask(query_length, key_length)
            mask = causal if mask is None else mask * causal
        weights = ops.cast(masked_softmax(scores, mask), self.compute_dtype)
        attended = ops.matmul(self.dropout_layer(weights, training=training), value_heads)
        return self.output_dense(self._merge_heads(attended, batch, query_length)), weights

    def call(
        self,
        query,
        value,
        padding_mask=None,
        use_causal_mask=False,
        cache=None,
        cache_index=None,
        return_attention_scores=False,
        training=None,
        key_value=None,
    ):
        inner_dim = self.num_heads * self.key_dim
        if cache is not None:
            if cache_index is None:
                raise ValueError("`cache_index` is required when `cache` is given.")
            if key_value is not None:
                raise ValueError("Pass `cache` (self-attention) or `key_value` (fixed memory), not both.")
            cache, padding_mask = self._write_cache(cache, value, cache_index)
            key_value = cache
        if key_value is not None:
            key = ops.cast(key_value[..., :inner_dim], self.compute_dtype)
            value_states = ops.cast(key_value[..., inner_dim:], self.compute_dtype)
        else:
            key = self.key_dense(value)
            value_states = self.value_dense(value)

        batch, query_length = ops.shape(query)[0], ops.shape(query)[1]
        # From an input, not a Dense output (see _split_heads).
        key_length = ops.shape(value if key_value is None else key_value)[1]
        projected_query = self.query_dense(query)
        scale = 1.0 / math.sqrt(self.key_dim)
        if fused_attention_enabled() and not return_attention_scores:
            heads = (self.num_heads, self.key_dim)
            attended = dot_product_attention(
                ops.reshape(projected_query, (batch, query_length) + heads),
                ops.reshape(key, (batch, key_length) + heads),
                ops.reshape(value_states, (batch, key_length) + heads),
                padding_mask=padding_mask,
                causal=use_causal_mask,
                scale=scale,
            )
            output = self.output_dense(ops.reshape(attended, (batch, query_length, inner_dim)))
        else:
            output, weights = self._plain_attention(
                projected_query, key, value_states, padding_mask, use_causal_mask, scale, training
            )

        outputs = (output,)
        if cache is not None:
            outputs += (cache,)
        if return_attention_scores:
            outputs += (weights,)
        return outputs[0] if len(outputs) == 1 else outputs

    def compute_output_spec(self, query, value, padding_mask=None, use_causal_mask=False,
                            cache=None, cache_index=None, return_attention_scores=False,
                            training=None, key_value=None):
        width = self.output_dim or query.shape[-1]
        outputs = (keras.KerasTensor(tuple(query.shape[:-1]) + (width,), self.compute_dtype),)
        if cache is not None:
            outputs += (keras.KerasTensor(cache.shape, cache.dtype),)
        if return_attention_scores:
            keys = next(x for x in (cache, key_value, value) if x is not None).shape[1]
            outputs += (
                keras.KerasTensor((query.shape[0], self.num_heads, query.shape[1], keys), self.compute_dtype),
            )
        return outputs[0] if len(outputs) == 1 else outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "output_dim": self.output_dim,
                "dropout": self.dropout,
            }
        )
        return config
