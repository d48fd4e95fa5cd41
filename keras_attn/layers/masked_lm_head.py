"""The masked-language-model head of BERT."""

import keras
from keras import ops

from keras_attn.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_attn")
class MaskedLMHead(keras.layers.Layer):
    """Predicts the original tokens at the masked positions.

    Gathers the hidden states at `mask_positions`, transforms them
    (`Dense → activation → LayerNorm`, as in BERT) and projects them onto
    the vocabulary, plus a per-token bias.

    Args:
        vocabulary_size: number of token ids.
        token_embedding: optional `keras.layers.Embedding` whose matrix is
            reused (transposed) as the output projection, tying input and
            output embeddings. The layer that owns both (`BertMaskedLM`)
            re-ties them after loading; the embedding is not part of this
            layer's config.
        activation: activation of the transform.
        layer_norm_epsilon: epsilon of the layer normalisation.

    Call arguments:
        inputs: `(batch, length, hidden)`.
        mask_positions: int `(batch, predictions)`.

    Returns logits `(batch, predictions, vocabulary_size)`.

    Example:
    >>> import numpy as np
    >>> head = MaskedLMHead(vocabulary_size=50)
    >>> tuple(head(np.ones((2, 7, 16)), np.array([[1, 3], [0, 6]])).shape)
    (2, 2, 50)
    """

    def __init__(
        self,
        vocabulary_size,
        token_embedding=None,
        activation="gelu",
        layer_norm_epsilon=1e-12,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
        if token_embedding is not None and token_embedding.input_dim != vocabulary_size:
            raise ValueError(
                f"`token_embedding` has {token_embedding.input_dim} tokens but "
                f"`vocabulary_size` is {vocabulary_size}."
            )
        self.token_embedding = token_embedding
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.dense = None
        self.norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, name="norm", dtype=self.dtype_policy)
        self.output_dense = None

    def build(self, inputs_shape, mask_positions_shape=None):
        hidden = inputs_shape[-1]
        self.dense = keras.layers.Dense(hidden, activation=self.activation, name="dense", dtype=self.dtype_policy)
        self.dense.build(inputs_shape)
        self.norm.build(inputs_shape)
        if self.token_embedding is None:
            self.output_dense = keras.layers.Dense(self.vocabulary_size, name="output", dtype=self.dtype_policy)
            self.output_dense.build(inputs_shape)
        else:
            self.output_bias = self.add_weight(
                name="output_bias", shape=(self.vocabulary_size,), initializer="zeros"
            )

    def call(self, inputs, mask_positions):
        # A one-hot matmul gathers the masked positions with ops that every
        # export target runs.
        selector = ops.one_hot(mask_positions, ops.shape(inputs)[1], dtype=inputs.dtype)
        hidden = self.norm(self.dense(ops.matmul(selector, inputs)))
        if self.token_embedding is None:
            return self.output_dense(hidden)
        matrix = ops.cast(self.token_embedding.embeddings, hidden.dtype)
        return ops.matmul(hidden, ops.transpose(matrix)) + ops.cast(self.output_bias, hidden.dtype)

    def compute_output_shape(self, inputs_shape, mask_positions_shape):
        return tuple(mask_positions_shape) + (self.vocabulary_size,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "activation": keras.activations.serialize(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config
