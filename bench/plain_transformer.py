"""The baseline of `bench/training.py`: a Transformer built the TensorFlow
tutorial way from `keras.layers` only (`Embedding(mask_zero=True)` masks,
`keras.layers.MultiHeadAttention`, post-norm `Add` + `LayerNormalization`),
with the shapes of keras-attn's `build_transformer`: same widths, depths,
vocabularies and so the same analytic FLOP count."""

import keras
from keras import ops


class PositionalEmbedding(keras.layers.Layer):
    """The tutorial's embedding: tokens (mask_zero=True) scaled by sqrt(width), plus positions."""

    def __init__(self, vocabulary_size, max_length, width, **kwargs):
        super().__init__(**kwargs)
        self.tokens = keras.layers.Embedding(vocabulary_size, width, mask_zero=True)
        self.max_length, self.width = max_length, width

    def build(self, input_shape):
        self.tokens.build(input_shape)
        self.positions = self.add_weight(shape=(self.max_length, self.width), name="positions")

    def compute_mask(self, inputs, mask=None):
        return self.tokens.compute_mask(inputs, mask)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.width,)

    def call(self, ids):
        return self.tokens(ids) * (self.width**0.5) + self.positions[: ops.shape(ids)[1]]


def _embed(ids, vocabulary_size, max_length, width, name):
    return PositionalEmbedding(vocabulary_size, max_length, width, name=f"{name}_embedding")(ids)


def _residual(x, sublayer_output, dropout, name):
    sublayer_output = keras.layers.Dropout(dropout)(sublayer_output)
    return keras.layers.LayerNormalization(name=name)(keras.layers.Add()([x, sublayer_output]))


def _feed_forward(x, width, intermediate_dim, activation, dropout, name):
    h = keras.layers.Dense(intermediate_dim, activation=activation, name=f"{name}_ffn_in")(x)
    return _residual(x, keras.layers.Dense(width, name=f"{name}_ffn_out")(h), dropout, f"{name}_ffn_norm")


def build_plain_transformer(
    source_vocabulary_size,
    target_vocabulary_size,
    max_source_length,
    max_target_length,
    hidden_dim,
    num_layers,
    num_heads,
    intermediate_dim,
    dropout,
    activation="relu",
    **unused,
):
    encoder_ids = keras.Input((None,), dtype="int32", name="encoder_token_ids")
    decoder_ids = keras.Input((None,), dtype="int32", name="decoder_token_ids")
    key_dim = hidden_dim // num_heads

    x = _embed(encoder_ids, source_vocabulary_size, max_source_length, hidden_dim, "encoder")
    for i in range(num_layers):
        name = f"encoder_{i}"
        attended = keras.layers.MultiHeadAttention(num_heads, key_dim, dropout=dropout, name=f"{name}_attention")(x, x)
        x = _residual(x, attended, dropout, f"{name}_attention_norm")
        x = _feed_forward(x, hidden_dim, intermediate_dim, activation, dropout, name)
    memory = x

    y = _embed(decoder_ids, target_vocabulary_size, max_target_length, hidden_dim, "decoder")
    for i in range(num_layers):
        name = f"decoder_{i}"
        attended = keras.layers.MultiHeadAttention(num_heads, key_dim, dropout=dropout, name=f"{name}_self")(
            y, y, use_causal_mask=True
        )
        y = _residual(y, attended, dropout, f"{name}_self_norm")
        attended = keras.layers.MultiHeadAttention(num_heads, key_dim, dropout=dropout, name=f"{name}_cross")(y, memory)
        y = _residual(y, attended, dropout, f"{name}_cross_norm")
        y = _feed_forward(y, hidden_dim, intermediate_dim, activation, dropout, name)
    logits = keras.layers.Dense(target_vocabulary_size, name="logits")(y)
    return keras.Model({"encoder_token_ids": encoder_ids, "decoder_token_ids": decoder_ids}, logits)
