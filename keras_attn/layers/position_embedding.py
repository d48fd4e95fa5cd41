"""Position information for Transformers: learned or fixed sinusoidal."""

import keras
import numpy as np
from keras import ops

from keras_attn.validation import check_choice, check_length

ENCODINGS = ("learned", "sinusoidal", "sinusoidal_halves")


def sinusoidal_table(sequence_length, dim):
    """The fixed encoding of Vaswani et al. (2017), section 3.5.

    `PE[pos, 2i] = sin(pos / 10000^(2i/dim))`, `PE[pos, 2i+1] = cos(...)`.
    """
    positions = np.arange(sequence_length, dtype="float64")[:, None]
    rates = 1.0 / np.power(10000.0, np.arange(0, dim, 2, dtype="float64") / dim)
    table = np.zeros((sequence_length, dim), dtype="float64")
    table[:, 0::2] = np.sin(positions * rates)
    table[:, 1::2] = np.cos(positions * rates[: dim // 2])
    return table.astype("float32")


def sinusoidal_halves_table(sequence_length, dim):
    """The same frequencies, not interleaved: every sine first, then every
    cosine (Marian's and fairseq's layout). Computed as Hugging Face's
    `MarianSinusoidalPositionalEmbedding` computes it (float64 division, then
    float32), so an imported opus-mt model gets the same bits.

    Example:
    >>> table = sinusoidal_halves_table(4, 6)
    >>> bool(abs(table[1, 3] - np.cos(1.0)) < 1e-7), float(table[0, 0])
    (True, 0.0)
    """
    angles = np.arange(sequence_length)[:, None] / np.power(10000, 2 * (np.arange(dim) // 2) / dim)
    return np.concatenate([np.sin(angles[:, 0::2]), np.cos(angles[:, 1::2])], axis=1).astype("float32")


TABLES = {"sinusoidal": sinusoidal_table, "sinusoidal_halves": sinusoidal_halves_table}


@keras.saving.register_keras_serializable(package="keras_attn")
class PositionEmbedding(keras.layers.Layer):
    """Returns the position vectors for a batch of sequences.

    Args:
        sequence_length: the longest sequence the layer can encode.
        encoding: `"learned"` (a trained table, as in BERT),
            `"sinusoidal"` (the fixed encoding of Vaswani et al.) or
            `"sinusoidal_halves"` (its sines then its cosines, as in Marian).

    Call arguments:
        inputs: `(batch, length, dim)`; only its shape is used.
        positions: optional int `(batch, length)` of explicit positions (a
            decoder step passes its index); defaults to `0 .. length-1`.

    Returns `(batch or 1, length, dim)`, to be added to the inputs.

    Example:
    >>> import numpy as np
    >>> layer = PositionEmbedding(sequence_length=10, encoding="sinusoidal")
    >>> tuple(layer(np.zeros((2, 4, 8))).shape)
    (1, 4, 8)
    """

    def __init__(self, sequence_length, encoding="learned", initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = check_length("sequence_length", sequence_length)
        self.encoding = check_choice("encoding", encoding, ENCODINGS)
        self.initializer = keras.initializers.get(initializer)

    def build(self, inputs_shape, positions_shape=None):
        dim = inputs_shape[-1]
        # The fixed table is a non-trainable weight rather than a captured
        # constant, so graph exporters freeze it like any other weight.
        learned = self.encoding == "learned"
        self.table = self.add_weight(
            name="embeddings",
            shape=(self.sequence_length, dim),
            initializer=self.initializer if learned else keras.initializers.Constant(
                TABLES[self.encoding](self.sequence_length, dim)),
            trainable=learned,
        )

    def call(self, inputs, positions=None):
        table = ops.cast(self.table, self.compute_dtype)
        if positions is None:
            # `take` with a range, not `table[:length]`: a dynamic-length
            # strided slice needs a Flex op in TFLite.
            positions = ops.expand_dims(ops.arange(ops.shape(inputs)[1]), 0)
        return ops.take(table, positions, axis=0)

    def compute_output_shape(self, inputs_shape, positions_shape=None):
        if positions_shape is None:
            return (1, inputs_shape[1], inputs_shape[-1])
        return tuple(positions_shape) + (inputs_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "encoding": self.encoding,
                "initializer": keras.initializers.serialize(self.initializer),
            }
        )
        return config
