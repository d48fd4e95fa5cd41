"""Token embedding plus position information, the input of every Transformer."""

import math

import keras
from keras import ops

from keras_attn.layers.position_embedding import ENCODINGS, PositionEmbedding
from keras_attn.validation import check_choice, check_positive_int


@keras.saving.register_keras_serializable(package="keras_attn")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Embeds token ids and adds their positions.

    Args:
        vocabulary_size: number of token ids.
        sequence_length: the longest sequence the layer can encode.
        embedding_dim: width of the output vectors.
        position_encoding: `"learned"` or `"sinusoidal"`.
        scale_by_sqrt_dim: multiply token vectors by `sqrt(embedding_dim)`
            before adding positions (Vaswani et al., section 3.4).
        token_embedding: optional `keras.layers.Embedding` of
            `vocabulary_size` tokens to read instead of a table of its own
            (an encoder and a decoder that share one). The model that owns
            both shares it again when rebuilt; it is not part of the config.

    Call arguments:
        token_ids: int `(batch, length)`.
        positions: optional int `(batch, length)`, for a decoder step.

    Example:
    >>> import numpy as np
    >>> layer = TokenAndPositionEmbedding(100, 16, 8)
    >>> tuple(layer(np.array([[5, 6, 0]])).shape)
    (1, 3, 8)
    """

    def __init__(
        self,
        vocabulary_size,
        sequence_length,
        embedding_dim,
        position_encoding="learned",
        scale_by_sqrt_dim=False,
        token_embedding=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
        self.sequence_length = check_positive_int("sequence_length", sequence_length)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.position_encoding = check_choice("position_encoding", position_encoding, ENCODINGS)
        self.scale_by_sqrt_dim = bool(scale_by_sqrt_dim)
        if token_embedding is not None and (token_embedding.input_dim, token_embedding.output_dim) != (
                vocabulary_size, embedding_dim):
            raise ValueError(f"`token_embedding` is {token_embedding.input_dim} x {token_embedding.output_dim}, not "
                             f"`vocabulary_size` x `embedding_dim` = {vocabulary_size} x {embedding_dim}.")
        self.token_embedding = token_embedding or keras.layers.Embedding(
            vocabulary_size, embedding_dim, name="token_embedding", dtype=self.dtype_policy
        )
        self.position_embedding = PositionEmbedding(
            sequence_length, encoding=position_encoding, name="position_embedding", dtype=self.dtype_policy
        )

    def build(self, token_ids_shape, positions_shape=None):
        if not self.token_embedding.built:  # a shared table is built once
            self.token_embedding.build(token_ids_shape)
        self.position_embedding.build(tuple(token_ids_shape) + (self.embedding_dim,))

    def call(self, token_ids, positions=None):
        tokens = self.token_embedding(token_ids)
        if self.scale_by_sqrt_dim:
            tokens = tokens * ops.cast(math.sqrt(self.embedding_dim), tokens.dtype)
        return tokens + self.position_embedding(tokens, positions=positions)

    def compute_output_shape(self, token_ids_shape, positions_shape=None):
        return tuple(token_ids_shape) + (self.embedding_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "sequence_length": self.sequence_length,
                "embedding_dim": self.embedding_dim,
                "position_encoding": self.position_encoding,
                "scale_by_sqrt_dim": self.scale_by_sqrt_dim,
            }
        )
        return config
