"""The encoder of the Keras example "Text classification with Transformer"
(Nandan, 2020), with real masking: padding is excluded from attention and
from the average pooling."""

import keras
from keras import ops

from keras_attn import layers
from keras_attn.models.backbone import Backbone
from keras_attn.validation import check_divisible, check_positive_int, check_rate


@keras.saving.register_keras_serializable(package="keras_attn")
class TransformerEncoderBackbone(Backbone):
    """`token_ids (b, n)` → the masked average of one Transformer block's
    outputs `(b, embedding_dim)`. Token id 0 is padding. Takes a plain array,
    as the Keras example feeds it.

    Args:
        vocabulary_size: ids it reads.
        max_length: the position table.
        embedding_dim: the hidden width.
        num_heads: attention heads; must divide `embedding_dim`.
        intermediate_dim: the feed-forward width.
        dropout: rate in the block.
        dtype: the dtype policy of every layer.

    Example:
    >>> import numpy as np
    >>> tuple(TransformerEncoderBackbone(vocabulary_size=50, max_length=8)(np.array([[4, 9, 0]], "int32")).shape)
    (1, 32)
    """

    def __init__(
        self,
        vocabulary_size=20000,
        max_length=200,
        embedding_dim=32,
        num_heads=2,
        intermediate_dim=32,
        dropout=0.1,
        dtype=None,
        **kwargs,
    ):
        for arg, value in (
            ("vocabulary_size", vocabulary_size),
            ("max_length", max_length),
            ("embedding_dim", embedding_dim),
            ("num_heads", num_heads),
            ("intermediate_dim", intermediate_dim),
        ):
            check_positive_int(arg, value)
        check_divisible("embedding_dim", embedding_dim, "num_heads", num_heads)
        check_rate("dropout", dropout)

        # === Layers ===
        self.embedding = layers.TokenAndPositionEmbedding(vocabulary_size, max_length, embedding_dim,
                                                          name="embedding", dtype=dtype)
        self.block = layers.TransformerEncoderBlock(num_heads, intermediate_dim, dropout=dropout,
                                                    name="encoder_layer_0", dtype=dtype)
        self.pooling = layers.MaskedAveragePooling(name="pooling", dtype=dtype)

        # === Functional model ===
        token_ids = keras.Input((None,), dtype="int32", name="token_ids")
        padding_mask = ops.not_equal(token_ids, 0)
        pooled = self.pooling(self.block(self.embedding(token_ids), padding_mask=padding_mask), padding_mask)
        super().__init__(inputs=token_ids, outputs=pooled, dtype=dtype, **kwargs)
        self._remember(locals())
