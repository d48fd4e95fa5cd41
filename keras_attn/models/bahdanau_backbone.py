"""The RNN encoder-decoder with additive attention of Bahdanau, Cho and
Bengio (2015), without its output layer.

Encoder: token embedding → bidirectional GRU, whose outputs are the
annotations `h_j`. Decoder (`layers.BahdanauDecoder`), as in the paper: at
step `i` the previous state `s_{i-1}` queries the annotations
(`e_ij = v^T tanh(W s_{i-1} + U h_j)`, padding masked) for the context
`c_i`, and the GRU reads `[embedding(y_{i-1}); c_i]`, so the context feeds
the recurrence. The hidden output `t_i` reads `s_i`, `c_i` and
`embedding(y_{i-1})` (a `tanh` layer where the paper has maxout). The first
decoder state is a `tanh` projection of the encoder's final states (the
paper projects the backward one).
"""

import keras
from keras import ops

from keras_attn import layers
from keras_attn.models.backbone import Backbone
from keras_attn.validation import check_positive_int, check_rate


@keras.saving.register_keras_serializable(package="keras_attn")
class BahdanauBackbone(Backbone):
    """`{"encoder_token_ids" (b, s), "decoder_token_ids" (b, t)}` → the
    hidden outputs `t_i` `(b, t, units)`, teacher-forced. Token id 0 is
    padding in both languages.

    Args:
        source_vocabulary_size: ids the encoder reads.
        target_vocabulary_size: ids the decoder reads.
        embedding_dim: both embeddings' width.
        units: the GRUs' width (the encoder's per direction).
        dropout: rate on the embeddings.
        fixed_lengths: `None` (any lengths), or `(source, target)` lengths
            that the recurrences run as `while` loops over
            (`layers.WhileLoopBidirectional`, `BahdanauDecoder(loop="while")`):
            the form that TFLite's builtin ops and ONNX run (see
            `BahdanauTranslator.fixed_length_copy`).
        dtype: the dtype policy of every layer.

    Example:
    >>> import numpy as np
    >>> backbone = BahdanauBackbone(40, 30, embedding_dim=8, units=16)
    >>> tuple(backbone({"encoder_token_ids": np.ones((2, 5), "int32"), "decoder_token_ids": np.ones((2, 3), "int32")}).shape)
    (2, 3, 16)
    """

    def __init__(
        self,
        source_vocabulary_size=8000,
        target_vocabulary_size=8000,
        embedding_dim=256,
        units=512,
        dropout=0.1,
        fixed_lengths=None,
        dtype=None,
        **kwargs,
    ):
        for arg, value in (
            ("source_vocabulary_size", source_vocabulary_size),
            ("target_vocabulary_size", target_vocabulary_size),
            ("embedding_dim", embedding_dim),
            ("units", units),
        ):
            check_positive_int(arg, value)
        check_rate("dropout", dropout)
        if fixed_lengths is not None:
            if len(fixed_lengths) != 2:
                raise ValueError(f"`fixed_lengths` must be None or (source, target) lengths, got {fixed_lengths!r}.")
            fixed_lengths = [check_positive_int("fixed_lengths", length) for length in fixed_lengths]

        # === Layers ===
        self.encoder_embedding = keras.layers.Embedding(source_vocabulary_size, embedding_dim,
                                                        name="encoder_embedding", dtype=dtype)
        self.decoder_embedding = keras.layers.Embedding(target_vocabulary_size, embedding_dim,
                                                        name="decoder_embedding", dtype=dtype)
        self.encoder_rnn = keras.layers.Bidirectional(
            keras.layers.GRU(units, return_sequences=True, return_state=True, dtype=dtype), name="encoder_rnn",
            dtype=dtype)
        if fixed_lengths is not None:
            self.encoder_rnn = layers.WhileLoopBidirectional(self.encoder_rnn, name="encoder_rnn", dtype=dtype)
        self.bridge = keras.layers.Dense(units, activation="tanh", name="bridge", dtype=dtype)
        self.decoder = layers.BahdanauDecoder(units, loop="scan" if fixed_lengths is None else "while",
                                              name="decoder_rnn", dtype=dtype)
        self.attention_output = keras.layers.Dense(units, activation="tanh", name="attention_output", dtype=dtype)
        self.source_dropout = keras.layers.Dropout(dropout, name="source_dropout", dtype=dtype)
        self.target_dropout = keras.layers.Dropout(dropout, name="target_dropout", dtype=dtype)

        # === Functional model ===
        source_length, target_length = fixed_lengths or (None, None)
        encoder_ids = keras.Input((source_length,), dtype="int32", name="encoder_token_ids")
        decoder_ids = keras.Input((target_length,), dtype="int32", name="decoder_token_ids")
        padding_mask = ops.not_equal(encoder_ids, 0)
        annotations, initial_state = self.encode(encoder_ids, self.source_dropout)
        # Right padding of the target never reaches earlier positions of a
        # left-to-right recurrence, so the decoder needs no target mask.
        previous = self.target_dropout(self.decoder_embedding(decoder_ids))
        states, contexts = self.decoder(previous, annotations, initial_state, keys_mask=padding_mask)
        hidden = self.attention_output(ops.concatenate([states, contexts, previous], axis=-1))
        super().__init__(inputs={"encoder_token_ids": encoder_ids, "decoder_token_ids": decoder_ids}, outputs=hidden,
                         dtype=dtype, **kwargs)
        self._remember(locals())

    def encode(self, encoder_ids, dropout=None):
        """`(annotations (b, s, 2 * units), the first decoder state (b, units))`."""
        embedded = self.encoder_embedding(encoder_ids)
        annotations, forward_state, backward_state = self.encoder_rnn(
            embedded if dropout is None else dropout(embedded), mask=ops.not_equal(encoder_ids, 0))
        return annotations, self.bridge(ops.concatenate([forward_state, backward_state], axis=-1))

    def decode_step(self, token_ids, state, annotations, encoder_ids):
        """One decoder step: `token_ids (b, 1)` (`y_{i-1}`), `state` `s_{i-1}` →
        `(t_i, s_i, the attention that s_{i-1} put on the source (b, s))`.
        The decoder's own `step`, so teacher forcing and decoding compute the same."""
        previous = ops.squeeze(self.decoder_embedding(token_ids), 1)
        state, context, weights = self.decoder.step(previous, state, annotations, ops.not_equal(encoder_ids, 0))
        return self.attention_output(ops.concatenate([state, context, previous], axis=-1)), state, weights
