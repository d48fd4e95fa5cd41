"""One Transformer decoder block: causal self-attention, cross-attention, feed-forward."""

import keras

from keras_attn.layers.transformer_block import TransformerBlock


@keras.saving.register_keras_serializable(package="keras_attn")
class TransformerDecoderBlock(TransformerBlock):
    """Causal self-attention, attention over the encoder outputs, and a
    feed-forward sublayer, each with residual, dropout and layer norm.

    Arguments are those of `TransformerBlock`.

    Call arguments:
        inputs: `(batch, target_length, dim)`.
        encoder_outputs: `(batch, source_length, dim)`; may be None when
            `encoder_key_value` is given.
        encoder_padding_mask: optional `(batch, source_length)`.
        encoder_key_value: optional `encoder_key_value(encoder_outputs)`,
            computed once before decoding so that a step does not project
            the whole source again.
        cache, cache_index: decode one position with the fixed-size
            self-attention `(keys, values)` cache of `MultiHeadAttention`;
            the updated pair is returned after the output.
        return_attention_scores: also return the cross-attention weights
            `(batch, num_heads, target_length, source_length)`.

    Self-attention is always causal, so right padding of the target never
    reaches a real position and needs no mask of its own.

    Example:
    >>> import numpy as np
    >>> block = TransformerDecoderBlock(num_heads=2, intermediate_dim=32)
    >>> tuple(block(np.ones((2, 4, 8)), np.ones((2, 6, 8))).shape)
    (2, 4, 8)
    """

    def __init__(self, num_heads, intermediate_dim, **kwargs):
        super().__init__(num_heads, intermediate_dim, **kwargs)
        self.self_attention = None
        self.cross_attention = None
        self.self_attention_norm = self._norm("self_attention_norm")
        self.self_attention_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.cross_attention_norm = self._norm("cross_attention_norm")
        self.cross_attention_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def build(self, inputs_shape, encoder_outputs_shape, *args, **kwargs):
        self.self_attention = self._attention(inputs_shape[-1], "self_attention")
        self.self_attention.build(inputs_shape, inputs_shape)
        self.cross_attention = self._attention(inputs_shape[-1], "cross_attention")
        self.cross_attention.build(inputs_shape, encoder_outputs_shape)
        for layer in (self.self_attention_norm, self.cross_attention_norm, self.feed_forward, self.feed_forward_norm):
            layer.build(inputs_shape)

    def encoder_key_value(self, encoder_outputs):
        """The cross-attention `(keys, values)` of `encoder_outputs`, in
        `MultiHeadAttention.project_key_value`'s layout."""
        return self.cross_attention.project_key_value(encoder_outputs)

    def call(
        self,
        inputs,
        encoder_outputs,
        encoder_padding_mask=None,
        cache=None,
        cache_index=None,
        return_attention_scores=False,
        training=None,
        encoder_key_value=None,
    ):
        def self_attend(h):
            return self.self_attention(
                h, h, use_causal_mask=cache is None, cache=cache, cache_index=cache_index, training=training
            )

        def cross_attend(h):
            return self.cross_attention(
                h,
                encoder_outputs,
                padding_mask=encoder_padding_mask,
                return_attention_scores=return_attention_scores,
                training=training,
                key_value=encoder_key_value,
            )

        x, *new_cache = self._residual(
            inputs, self_attend, self.self_attention_norm, self.self_attention_dropout, training
        )
        x, *weights = self._residual(
            x, cross_attend, self.cross_attention_norm, self.cross_attention_dropout, training
        )
        outputs = (self._feed_forward(x, training), *new_cache, *weights)
        return outputs[0] if len(outputs) == 1 else outputs

    def compute_output_spec(self, inputs, encoder_outputs, encoder_padding_mask=None, cache=None,
                            cache_index=None, return_attention_scores=False, training=None,
                            encoder_key_value=None):
        outputs = (keras.KerasTensor(inputs.shape, self.compute_dtype),)
        if cache is not None:
            outputs += (tuple(keras.KerasTensor(x.shape, x.dtype) for x in cache),)
        if return_attention_scores:
            source_length = encoder_outputs.shape[1] if encoder_key_value is None else encoder_key_value[1].shape[2]
            outputs += (
                keras.KerasTensor(
                    (inputs.shape[0], self.num_heads, inputs.shape[1], source_length),
                    self.compute_dtype,
                ),
            )
        return outputs[0] if len(outputs) == 1 else outputs
