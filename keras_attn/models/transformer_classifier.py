"""The encoder-only Transformer text classifier of the Keras example
"Text classification with Transformer" (Nandan, 2020), with real masking:
padding is excluded from attention and from the average pooling."""

import keras
from keras import ops

from keras_attn import layers
from keras_attn.models.kind import ClassifierKind
from keras_attn.validation import check_divisible, check_positive_int, check_rate


def build_transformer_classifier(
    vocabulary_size=20000,
    max_length=200,
    embedding_dim=32,
    num_heads=2,
    intermediate_dim=32,
    hidden_units=20,
    num_classes=2,
    dropout=0.1,
    name="transformer_classifier",
):
    """`{"token_ids": (batch, length)} → logits (batch, num_classes)`; token id 0 is padding."""
    for arg, value in (
        ("vocabulary_size", vocabulary_size),
        ("max_length", max_length),
        ("embedding_dim", embedding_dim),
        ("num_heads", num_heads),
        ("intermediate_dim", intermediate_dim),
        ("hidden_units", hidden_units),
        ("num_classes", num_classes),
    ):
        check_positive_int(arg, value)
    check_divisible("embedding_dim", embedding_dim, "num_heads", num_heads)
    check_rate("dropout", dropout)

    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    padding_mask = ops.not_equal(token_ids, 0)
    x = layers.TokenAndPositionEmbedding(vocabulary_size, max_length, embedding_dim, name="embedding")(token_ids)
    x = layers.TransformerEncoderBlock(num_heads, intermediate_dim, dropout=dropout, name="encoder_layer_0")(
        x, padding_mask=padding_mask
    )
    x = layers.MaskedAveragePooling(name="pooling")(x, padding_mask)
    x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Dense(hidden_units, activation="relu", name="hidden")(x)
    x = keras.layers.Dropout(dropout)(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model({"token_ids": token_ids}, logits, name=name)


class TransformerClassifierKind(ClassifierKind):
    name = "transformer_classifier"

    def owns(self, model):
        return "pooling" in {layer.name for layer in model.layers}

    def vocabulary_size(self, model):
        return model.get_layer("embedding").vocabulary_size

    def max_length(self, model):
        return model.get_layer("embedding").sequence_length


KIND = TransformerClassifierKind()
