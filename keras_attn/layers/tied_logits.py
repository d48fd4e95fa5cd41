"""Logits from a token embedding's own matrix (tied input and output embeddings)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_attn")
class TiedLogits(keras.layers.Layer):
    """`hidden @ embedding^T + bias`: the logits over a vocabulary whose
    output projection is its input embedding (Press & Wolf 2017; Marian's
    `tie_word_embeddings`, with its final logits bias).

    Args:
        token_embedding: the `keras.layers.Embedding` whose matrix is the
            projection. The model that owns both (`TransformerTranslator`)
            ties them again when it is rebuilt from its config; the
            embedding is not part of this layer's config.

    Example:
    >>> import numpy as np
    >>> embedding = keras.layers.Embedding(50, 8)
    >>> embedding.build((None,))
    >>> tuple(TiedLogits(embedding)(np.ones((2, 3, 8))).shape)
    (2, 3, 50)
    """

    def __init__(self, token_embedding, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(token_embedding, keras.layers.Embedding):
            raise ValueError(f"`token_embedding` must be a keras.layers.Embedding, got {type(token_embedding).__name__}.")
        self.token_embedding = token_embedding

    def build(self, inputs_shape):
        if inputs_shape[-1] != self.token_embedding.output_dim:
            raise ValueError(f"Inputs of width {inputs_shape[-1]} cannot use `token_embedding` of width "
                             f"{self.token_embedding.output_dim}.")
        self.bias = self.add_weight(name="bias", shape=(self.token_embedding.input_dim,), initializer="zeros")

    def call(self, inputs):
        matrix = ops.cast(self.token_embedding.embeddings, inputs.dtype)
        return ops.matmul(inputs, ops.transpose(matrix)) + ops.cast(self.bias, inputs.dtype)

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape[:-1]) + (self.token_embedding.input_dim,)
