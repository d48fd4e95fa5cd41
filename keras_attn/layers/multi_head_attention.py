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

    Incremental decoding uses a fixed-size cache, a pair `(keys, values)`
    laid out as the step's matmuls read them: keys `(batch, num_heads,
    key_dim, max_length)` (already transposed), values `(batch, num_heads,
    max_length, key_dim)`. A step writes its key/value at `cache_index`
    with `where` over a one-hot slot, and attends to slots `<= cache_index`.
    Static shapes keep the step graph the same at every step, for XLA,
    TFLite and ONNX alike, and the layout means a step never splits,
    transposes or copies the cache other than to write its slot.

    Cross-attention over a fixed memory (the encoder outputs, during
    decoding) projects that memory to keys and values once with
    `project_key_value`, in the same layout, and passes the pair as
    `key_value` at every step, instead of re-projecting it per token.

    Under `keras_attn.layers.fused_attention()` attention without a cache
    runs through `keras.ops.dot_product_attention` (cuDNN flash attention on
    a GPU); a cached or projected step (one query) always computes plain.

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
        cache: optional `(keys, values)` cache (see above), for
            self-attention of one new position; the layer then returns the
            updated pair.
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
        """`(keys (batch, num_heads, key_dim, length), values (batch,
        num_heads, length, key_dim))` projected from `value`: the layout of
        the cache and of `key_value`."""
        batch, length = ops.shape(value)[0], ops.shape(value)[1]
        keys = ops.reshape(self.key_dense(value), (batch, length, self.num_heads, self.key_dim))
        return ops.transpose(keys, (0, 2, 3, 1)), self._split_heads(self.value_dense(value), batch, length)

    def _write_cache(self, cache, value, cache_index):
        """Stores this step's key/value in slot `cache_index`; returns the
        cache and the mask of the slots written so far `(batch, 1, 1, slots)`."""
        keys, values = cache
        slots = ops.arange(ops.shape(values)[2])
        index = ops.reshape(ops.cast(cache_index, slots.dtype), (-1, 1, 1, 1))
        step_keys, step_values = self.project_key_value(value)
        keys = ops.where(ops.equal(ops.reshape(slots, (1, 1, 1, -1)), index), ops.cast(step_keys, keys.dtype), keys)
        values = ops.where(ops.equal(ops.reshape(slots, (1, 1, -1, 1)), index), ops.cast(step_values, values.dtype),
                           values)
        written = ops.cast(ops.less_equal(ops.reshape(slots, (1, 1, 1, -1)), index), "float32")
        return (keys, values), written

    def _attend(self, query, keys, values, mask, training):
        """`softmax(q k / sqrt(key_dim) + mask) v` over heads: `query (b, q,
        inner)`, `keys (b, h, key_dim, k)`, `values (b, h, k, key_dim)`;
        `mask` broadcasts to `(b, h, q, k)`, 1 where a key is seen. Returns
        the output and the weights `(b, h, q, k)`."""
        batch, query_length = ops.shape(query)[0], ops.shape(query)[1]
        query_heads = self._split_heads(query, batch, query_length)
        scale = ops.cast(1.0 / math.sqrt(self.key_dim), query_heads.dtype)
        scores = ops.matmul(query_heads * scale, ops.cast(keys, query_heads.dtype))
        weights = ops.cast(masked_softmax(scores, mask), self.compute_dtype)
        attended = ops.matmul(self.dropout_layer(weights, training=training), ops.cast(values, self.compute_dtype))
        return self.output_dense(self._merge_heads(attended, batch, query_length)), weights

    def _uncached_attention(self, query, value, padding_mask, use_causal_mask, return_attention_scores, training):
        """Attention of every query over keys and values projected from `value` here."""
        if fused_attention_enabled() and not return_attention_scores:
            batch, query_length, key_length = ops.shape(query)[0], ops.shape(query)[1], ops.shape(value)[1]
            heads = (self.num_heads, self.key_dim)
            attended = dot_product_attention(
                ops.reshape(self.query_dense(query), (batch, query_length) + heads),
                ops.reshape(self.key_dense(value), (batch, key_length) + heads),
                ops.reshape(self.value_dense(value), (batch, key_length) + heads),
                padding_mask=padding_mask,
                causal=use_causal_mask,
                scale=1.0 / math.sqrt(self.key_dim),
            )
            return self.output_dense(ops.reshape(attended, (batch, query_length, self.num_heads * self.key_dim))), None
        mask = _key_mask(padding_mask)
        if use_causal_mask:
            causal = causal_mask(ops.shape(query)[1], ops.shape(value)[1])
            mask = causal if mask is None else mask * causal
        return self._attend(self.query_dense(query), *self.project_key_value(value), mask, training)

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
        if cache is not None:
            if cache_index is None:
                raise ValueError("`cache_index` is required when `cache` is given.")
            if key_value is not None:
                raise ValueError("Pass `cache` (self-attention) or `key_value` (fixed memory), not both.")
            cache, mask = self._write_cache(cache, value, cache_index)
            output, weights = self._attend(self.query_dense(query), *cache, mask, training)
        elif key_value is not None:
            output, weights = self._attend(self.query_dense(query), *key_value, _key_mask(padding_mask), training)
        else:
            output, weights = self._uncached_attention(query, value, padding_mask, use_causal_mask,
                                                       return_attention_scores, training)

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
            outputs += (tuple(keras.KerasTensor(x.shape, x.dtype) for x in cache),)
        if return_attention_scores:
            keys = (cache or key_value)[1].shape[2] if (cache or key_value) is not None else value.shape[1]
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


def _key_mask(padding_mask):
    """`(batch, 1, 1, keys)` of a `(batch, keys)` padding mask, or None."""
    return None if padding_mask is None else ops.expand_dims(key_padding_mask(padding_mask), 1)
