"""The BERT encoder (Devlin et al. 2019) in the sizes of Turc et al. (2019)."""

import keras
from keras import ops

from keras_attn import layers
from keras_attn.models.backbone import Backbone
from keras_attn.validation import check_divisible, check_positive_int, check_rate


@keras.saving.register_keras_serializable(package="keras_attn")
class BertBackbone(Backbone):
    """`{"token_ids" (b, n), "segment_ids" (b, n)}` → `{"sequence_output"
    (b, n, hidden_dim), "pooled_output" (b, hidden_dim)}`: token + learned
    position + segment embeddings, then post-norm encoder blocks; the pooler
    reads the first (`[CLS]`) position. Token id 0 is padding. The weights
    are those of Hugging Face's `BertModel`, one for one
    (`keras_attn.checkpoints.huggingface_bert` converts them both ways).

    Args:
        vocabulary_size: the WordPiece vocabulary's size.
        num_layers: encoder blocks.
        hidden_dim: the hidden width.
        num_heads: attention heads; must divide `hidden_dim`.
        intermediate_dim: the feed-forward width (`4 * hidden_dim` if `None`).
        max_length: the position table.
        num_segments: segment ids accepted.
        dropout: rate after the embeddings and in every block.
        activation: the feed-forward activation, a name in
            `layers.ACTIVATIONS`: `"gelu_tanh"` (the zoo's BERTs), `"gelu"`
            (exact, as Google's checkpoints), `"relu"`.
        layer_norm_epsilon: epsilon of every layer normalisation.
        pooler: with the `[CLS]` pooler (`pooled_output`); without it the
            backbone gives `sequence_output` only (a checkpoint saved without one).
        dtype: the dtype policy of every layer.

    Example:
    >>> import numpy as np
    >>> backbone = BertBackbone(vocabulary_size=50, num_layers=1, hidden_dim=16, num_heads=2, max_length=8)
    >>> ids = np.array([[4, 9, 10, 0]], "int32")
    >>> tuple(backbone({"token_ids": ids, "segment_ids": np.zeros_like(ids)})["pooled_output"].shape)
    (1, 16)
    """

    def __init__(
        self,
        vocabulary_size=30522,
        num_layers=2,
        hidden_dim=128,
        num_heads=2,
        intermediate_dim=None,
        max_length=128,
        num_segments=2,
        dropout=0.1,
        activation="gelu_tanh",
        layer_norm_epsilon=1e-12,
        pooler=True,
        dtype=None,
        **kwargs,
    ):
        intermediate_dim = intermediate_dim or 4 * hidden_dim
        for arg, value in (
            ("vocabulary_size", vocabulary_size),
            ("num_layers", num_layers),
            ("hidden_dim", hidden_dim),
            ("num_heads", num_heads),
            ("intermediate_dim", intermediate_dim),
            ("max_length", max_length),
            ("num_segments", num_segments),
        ):
            check_positive_int(arg, value)
        check_divisible("hidden_dim", hidden_dim, "num_heads", num_heads)
        check_rate("dropout", dropout)
        activation_function = layers.activation(activation)
        if not isinstance(layer_norm_epsilon, (int, float)) or not layer_norm_epsilon > 0:
            raise ValueError(f"`layer_norm_epsilon` must be a positive number, got {layer_norm_epsilon!r}.")
        if not isinstance(pooler, bool):
            raise ValueError(f"`pooler` must be True or False, got {pooler!r}.")

        # === Layers ===
        self.embeddings = layers.TokenAndPositionEmbedding(vocabulary_size, max_length, hidden_dim, name="embeddings",
                                                           dtype=dtype)
        self.segment_embedding = keras.layers.Embedding(num_segments, hidden_dim, name="segment_embedding", dtype=dtype)
        self.embeddings_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, name="embeddings_norm",
                                                               dtype=dtype)
        self.embeddings_dropout = keras.layers.Dropout(dropout, name="embeddings_dropout", dtype=dtype)
        self.blocks = [
            layers.TransformerEncoderBlock(num_heads, intermediate_dim, dropout=dropout, activation=activation_function,
                                           layer_norm_epsilon=layer_norm_epsilon, name=f"encoder_layer_{i}",
                                           dtype=dtype)
            for i in range(num_layers)
        ]
        self.pooler = keras.layers.Dense(hidden_dim, activation="tanh", name="pooler", dtype=dtype) if pooler else None

        # === Functional model ===
        token_ids = keras.Input((None,), dtype="int32", name="token_ids")
        segment_ids = keras.Input((None,), dtype="int32", name="segment_ids")
        x = self.embeddings(token_ids) + self.segment_embedding(segment_ids)
        x = self.embeddings_dropout(self.embeddings_norm(x))
        padding_mask = ops.not_equal(token_ids, 0)
        for block in self.blocks:
            x = block(x, padding_mask=padding_mask)
        outputs = {"sequence_output": x}
        if pooler:
            outputs["pooled_output"] = self.pooler(ops.take(x, 0, axis=1))
        super().__init__(inputs={"token_ids": token_ids, "segment_ids": segment_ids}, outputs=outputs, dtype=dtype,
                         **kwargs)
        self._remember(locals())

    @property
    def activation_function(self):
        return layers.activation(self._settings["activation"])

    @property
    def token_embedding(self):
        return self.embeddings.token_embedding
