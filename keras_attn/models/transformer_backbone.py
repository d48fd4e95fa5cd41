"""The Transformer encoder-decoder of Vaswani et al. (2017), without its output layer."""

import keras
from keras import ops

from keras_attn import layers
from keras_attn.models.backbone import Backbone
from keras_attn.validation import check_choice, check_divisible, check_positive_int, check_range, check_rate


@keras.saving.register_keras_serializable(package="keras_attn")
class TransformerBackbone(Backbone):
    """`{"encoder_token_ids" (b, s), "decoder_token_ids" (b, t)}` → the
    decoder's last hidden states `(b, t, hidden_dim)`, teacher-forced.
    Source ids equal to `pad_id` are padding; the decoder is causal, so
    its right padding needs no mask.

    Args:
        source_vocabulary_size: ids the encoder reads.
        target_vocabulary_size: ids the decoder reads.
        max_source_length: the encoder's position table.
        max_target_length: the decoder's position table.
        hidden_dim: `d_model`.
        num_layers: blocks in the encoder, and as many in the decoder.
        num_heads: attention heads; must divide `hidden_dim`.
        intermediate_dim: the feed-forward width.
        dropout: rate after embeddings and in every block.
        activation: the feed-forward activation, a name in
            `keras_attn.layers.ACTIVATIONS` (Marian's is `"swish"`).
        position_encoding: `"sinusoidal"` (the paper's), `"sinusoidal_halves"`
            (Marian's layout of the same table) or `"learned"`.
        norm_first: pre-norm blocks (each stack then ends with a
            normalisation of its own); `False` is the paper's post-norm.
        scale_embedding: multiply token vectors by `sqrt(hidden_dim)`
            (the paper's section 3.4; Marian's `scale_embedding`).
        share_embeddings: one token table for the encoder and the decoder
            (Marian's `share_encoder_decoder_embeddings`); the two
            vocabulary sizes must then be equal.
        pad_id: the source id that is padding (0 in the zoo's vocabularies;
            the last id in Marian's).
        dtype: the dtype policy of every layer (e.g. `"mixed_bfloat16"`).

    Example:
    >>> import numpy as np
    >>> backbone = TransformerBackbone(40, 30, hidden_dim=16, num_layers=1, num_heads=2, intermediate_dim=32)
    >>> tuple(backbone({"encoder_token_ids": np.ones((2, 5), "int32"), "decoder_token_ids": np.ones((2, 3), "int32")}).shape)
    (2, 3, 16)
    """

    def __init__(
        self,
        source_vocabulary_size=8000,
        target_vocabulary_size=8000,
        max_source_length=64,
        max_target_length=64,
        hidden_dim=256,
        num_layers=3,
        num_heads=8,
        intermediate_dim=1024,
        dropout=0.1,
        activation="relu",
        position_encoding="sinusoidal",
        norm_first=False,
        scale_embedding=True,
        share_embeddings=False,
        pad_id=0,
        dtype=None,
        **kwargs,
    ):
        for arg, value in (
            ("source_vocabulary_size", source_vocabulary_size),
            ("target_vocabulary_size", target_vocabulary_size),
            ("max_source_length", max_source_length),
            ("max_target_length", max_target_length),
            ("hidden_dim", hidden_dim),
            ("num_layers", num_layers),
            ("num_heads", num_heads),
            ("intermediate_dim", intermediate_dim),
        ):
            check_positive_int(arg, value)
        check_divisible("hidden_dim", hidden_dim, "num_heads", num_heads)
        check_rate("dropout", dropout)
        check_choice("position_encoding", position_encoding, layers.position_embedding.ENCODINGS)
        check_range("pad_id", pad_id, 0, source_vocabulary_size - 1)
        if share_embeddings and source_vocabulary_size != target_vocabulary_size:
            raise ValueError(f"`share_embeddings` needs equal vocabularies; `source_vocabulary_size` is "
                             f"{source_vocabulary_size} and `target_vocabulary_size` {target_vocabulary_size}.")
        self.pad_id = pad_id

        # === Layers ===
        embedding_args = dict(embedding_dim=hidden_dim, position_encoding=position_encoding,
                              scale_by_sqrt_dim=scale_embedding, dtype=dtype)
        block_args = dict(num_heads=num_heads, intermediate_dim=intermediate_dim, dropout=dropout,
                          activation=layers.activation(activation), norm_first=norm_first, dtype=dtype)
        self.encoder_embedding = layers.TokenAndPositionEmbedding(
            source_vocabulary_size, max_source_length, name="encoder_embedding", **embedding_args)
        self.decoder_embedding = layers.TokenAndPositionEmbedding(
            target_vocabulary_size, max_target_length, name="decoder_embedding",
            token_embedding=self.encoder_embedding.token_embedding if share_embeddings else None, **embedding_args)
        self.embedding_dropout = keras.layers.Dropout(dropout, name="embedding_dropout", dtype=dtype)
        self.encoder_blocks = [layers.TransformerEncoderBlock(name=f"encoder_layer_{i}", **block_args)
                               for i in range(num_layers)]
        self.decoder_blocks = [layers.TransformerDecoderBlock(name=f"decoder_layer_{i}", **block_args)
                               for i in range(num_layers)]
        # Pre-norm stacks end with a normalisation of their own.
        self.encoder_norm = keras.layers.LayerNormalization(name="encoder_norm", dtype=dtype) if norm_first else None
        self.decoder_norm = keras.layers.LayerNormalization(name="decoder_norm", dtype=dtype) if norm_first else None

        # === Functional model ===
        encoder_ids = keras.Input((None,), dtype="int32", name="encoder_token_ids")
        decoder_ids = keras.Input((None,), dtype="int32", name="decoder_token_ids")
        encoder_outputs = self.encode(encoder_ids)
        x = self.embedding_dropout(self.decoder_embedding(decoder_ids))
        for block in self.decoder_blocks:
            x = block(x, encoder_outputs, encoder_padding_mask=self.padding_mask(encoder_ids))
        if self.decoder_norm is not None:
            x = self.decoder_norm(x)
        super().__init__(inputs={"encoder_token_ids": encoder_ids, "decoder_token_ids": decoder_ids}, outputs=x,
                         dtype=dtype, **kwargs)
        self._remember(locals())

    def padding_mask(self, encoder_ids):
        """`(b, s)`: true at the real (not `pad_id`) source positions."""
        return ops.not_equal(encoder_ids, self.pad_id)

    def encode(self, encoder_ids):
        """The encoder's outputs `(b, s, hidden_dim)` for source ids."""
        padding_mask = self.padding_mask(encoder_ids)
        x = self.embedding_dropout(self.encoder_embedding(encoder_ids))
        for block in self.encoder_blocks:
            x = block(x, padding_mask=padding_mask)
        return x if self.encoder_norm is None else self.encoder_norm(x)

    @property
    def decoder_heads(self):
        """`(num_heads, key_dim)` of the decoder's attention: the layout of its caches."""
        block = self.decoder_blocks[0]
        return block.num_heads, self.decoder_embedding.embedding_dim // block.num_heads
