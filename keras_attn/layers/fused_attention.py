"""The switch between plain and fused attention, and the fused computation.

Plain attention (the default) is written out with `matmul` and a float
additive mask: it returns the attention weights and lowers to the builtin
ops of TFLite and ONNX, so exports always use it. Fused attention calls
`keras.ops.dot_product_attention`, which on a recent NVIDIA GPU under JAX
runs cuDNN's flash-attention kernel (in bfloat16 or float16) and elsewhere
XLA's own fused computation.

The switch is read when a model is traced, so set it before the first
`fit`/`predict` of a model:

>>> from keras_attn import layers
>>> with layers.fused_attention():
...     layers.fused_attention_enabled()
True
>>> layers.fused_attention_enabled()
False

Two differences, both by design of the fused kernels: attention-weight
dropout is not applied (residual and feed-forward dropout still are), and
no weights are returned (a call that asks for them computes plain).
"""

import contextlib

from keras import ops

_enabled = [False]


def set_fused_attention(enabled):
    """Turns fused attention on or off for models traced from now on."""
    _enabled[0] = bool(enabled)


def fused_attention_enabled():
    return _enabled[0]


@contextlib.contextmanager
def fused_attention(enabled=True):
    """Fused attention (or not) inside the `with` block."""
    previous = _enabled[0]
    set_fused_attention(enabled)
    try:
        yield
    finally:
        set_fused_attention(previous)


def dot_product_attention(query, key, value, padding_mask=None, causal=False, scale=None):
    """`softmax(scale * q k^T + mask) v` through `keras.ops.dot_product_attention`.

    Args:
        query: `(batch, queries, heads, head_dim)`.
        key, value: `(batch, keys, heads, head_dim)`.
        padding_mask: optional `(batch, keys)`, 1 for real keys.
        causal: query `i` only sees keys `<= i`.

    The padding mask is broadcast to `(batch, 1, queries, keys)`: cuDNN's
    fused kernel takes a mask only in that full form and silently falls
    back to the unfused path for the compact `(batch, 1, 1, keys)` one.
    """
    mask = None
    if padding_mask is not None:
        batch, queries, keys = ops.shape(query)[0], ops.shape(query)[1], ops.shape(key)[1]
        mask = ops.reshape(ops.cast(padding_mask, "bool"), (batch, 1, 1, keys))
        mask = ops.broadcast_to(mask, (batch, 1, queries, keys))
    return ops.dot_product_attention(query, key, value, mask=mask, scale=scale, is_causal=causal)
