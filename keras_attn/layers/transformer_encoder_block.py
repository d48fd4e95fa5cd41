"""One Transformer encoder block: self-attention then feed-forward."""

import keras

from keras_attn.layers.transformer_block import TransformerBlock


@keras.saving.register_keras_serializable(package="keras_attn")
class TransformerEncoderBlock(TransformerBlock):
    """Self-attention and feed-forward sublayers, each with a residual
    connection, dropout and layer normalisation (pre- or post-norm).

    Arguments are those of `TransformerBlock`: `num_heads`,
    `intermediate_dim`, `dropout`, `activation`, `norm_first`,
    `layer_norm_epsilon`.

    Call arguments:
        inputs: `(batch, length, dim)`.
        padding_mask: optional `(batch, length)`, 1 for real tokens.

    Example:
    >>> import numpy as np
    >>> block = TransformerEncoderBlock(num_heads=2, intermediate_dim=32)
    >>> tuple(block(np.ones((2, 5, 8)), padding_mask=np.ones((2, 5))).shape)
    (2, 5, 8)
    """

    def __init__(self, num_heads, intermediate_dim, **kwargs):
        super().__init__(num_heads, intermediate_dim, **kwargs)
        self.self_attention = None
        self.self_attention_norm = self._norm("self_attention_norm")
        self.self_attention_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def build(self, inputs_shape, padding_mask_shape=None):
        self.self_attention = self._attention(inputs_shape[-1], "self_attention")
        self.self_attention.build(inputs_shape, inputs_shape)
        for layer in (self.self_attention_norm, self.feed_forward, self.feed_forward_norm):
            layer.build(inputs_shape)

    def call(self, inputs, padding_mask=None, training=None):
        (x,) = self._residual(
            inputs,
            lambda h: self.self_attention(h, h, padding_mask=padding_mask, training=training),
            self.self_attention_norm,
            self.self_attention_dropout,
            training,
        )
        return self._feed_forward(x, training)

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
        return inputs_shape
