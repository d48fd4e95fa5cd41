"""The Transformer encoder-decoder of Vaswani et al. (2017).

`build_transformer` returns the teacher-forced training model:
`{"encoder_token_ids", "decoder_token_ids"} → logits`. `KIND` (a
`TransformerKind`) gives, from the same (trained or reloaded) layers, an encoder and a
one-position decoder step with a fixed-size key/value cache, so decoding
never recomputes the prefix.
"""

import keras
from keras import ops

from keras_attn import layers
from keras_attn.models.kind import Seq2SeqKind, token_ids_spec
from keras_attn.validation import (
    check_choice,
    check_divisible,
    check_positive_int,
    check_rate,
)


def build_transformer(
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
    name="transformer",
):
    """Builds the training model. Token id 0 is padding in both languages."""
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

    block_args = dict(
        num_heads=num_heads,
        intermediate_dim=intermediate_dim,
        dropout=dropout,
        activation=activation,
        norm_first=norm_first,
    )
    embedding_args = dict(embedding_dim=hidden_dim, position_encoding=position_encoding, scale_by_sqrt_dim=True)
    parts = {
        "encoder_embedding": layers.TokenAndPositionEmbedding(
            source_vocabulary_size, max_source_length, name="encoder_embedding", **embedding_args
        ),
        "decoder_embedding": layers.TokenAndPositionEmbedding(
            target_vocabulary_size, max_target_length, name="decoder_embedding", **embedding_args
        ),
        "embedding_dropout": keras.layers.Dropout(dropout, name="embedding_dropout"),
        "logits": keras.layers.Dense(target_vocabulary_size, name="logits"),
    }
    for i in range(num_layers):
        parts[f"encoder_layer_{i}"] = layers.TransformerEncoderBlock(name=f"encoder_layer_{i}", **block_args)
        parts[f"decoder_layer_{i}"] = layers.TransformerDecoderBlock(name=f"decoder_layer_{i}", **block_args)
    if norm_first:  # pre-norm stacks end with a normalisation of their own
        parts["encoder_norm"] = keras.layers.LayerNormalization(name="encoder_norm")
        parts["decoder_norm"] = keras.layers.LayerNormalization(name="decoder_norm")

    encoder_ids = keras.Input((None,), dtype="int32", name="encoder_token_ids")
    decoder_ids = keras.Input((None,), dtype="int32", name="decoder_token_ids")
    encoder_outputs = _encode(
        parts["encoder_embedding"],
        parts["embedding_dropout"],
        [parts[f"encoder_layer_{i}"] for i in range(num_layers)],
        parts.get("encoder_norm"),
        encoder_ids,
    )
    x = parts["embedding_dropout"](parts["decoder_embedding"](decoder_ids))
    for i in range(num_layers):
        x = parts[f"decoder_layer_{i}"](x, encoder_outputs, encoder_padding_mask=ops.not_equal(encoder_ids, 0))
    if norm_first:
        x = parts["decoder_norm"](x)
    logits = parts["logits"](x)
    return keras.Model({"encoder_token_ids": encoder_ids, "decoder_token_ids": decoder_ids}, logits, name=name)


def _num_layers(model):
    names = {layer.name for layer in model.layers}
    return sum(1 for name in names if name.startswith("encoder_layer_"))


def _optional_layer(model, name):
    names = {layer.name for layer in model.layers}
    return model.get_layer(name) if name in names else None


def _encode(embedding, dropout, blocks, norm, encoder_ids):
    padding_mask = ops.not_equal(encoder_ids, 0)
    x = dropout(embedding(encoder_ids))
    for block in blocks:
        x = block(x, padding_mask=padding_mask)
    return x if norm is None else norm(x)


def cache_shape(model):
    """`(max_target_length, num_layers * 2 * hidden_dim)`: the step cache, per example."""
    embedding = model.get_layer("decoder_embedding")
    return (embedding.sequence_length, _num_layers(model) * 2 * embedding.embedding_dim)


class TransformerDecoderStep(keras.Model):
    """Decodes one position with the fixed-size key/value cache.

    Inputs (a dict): `token_ids (b, 1)`, `step (b,)`, `encoder_token_ids
    (b, s)`, `cross_cache (b, s, layers*2*d)` (the cross-attention keys and
    values of the encoder outputs, made once by the encoder) and `cache (b,
    max_target_length, layers*2*d)`. Outputs (a dict): `logits (b, vocab)`,
    the updated cache as `next_cache`, and `attention (b, s)`, the last
    layer's cross-attention averaged over heads.

    Built from a training model's layers (weights shared, nothing copied).
    A subclassed model rather than a functional one: Keras's functional
    graph checks assume a layer returns as many outputs at every call, and
    a decoder block returns one output in training but three here.
    """

    def __init__(self, model, **kwargs):
        super().__init__(name="transformer_decoder_step", **kwargs)
        self.embedding = model.get_layer("decoder_embedding")
        self.blocks = [model.get_layer(f"decoder_layer_{i}") for i in range(_num_layers(model))]
        self.norm = _optional_layer(model, "decoder_norm")
        self.projection = model.get_layer("logits")
        self.cache_shape = cache_shape(model)

    def call(self, inputs):
        step = inputs["step"]
        padding_mask = ops.not_equal(inputs["encoder_token_ids"], 0)
        x = self.embedding(inputs["token_ids"], positions=ops.expand_dims(step, 1))
        width = self.cache_shape[1] // len(self.blocks)
        new_caches = []
        for i, block in enumerate(self.blocks):
            layer_slice = slice(i * width, (i + 1) * width)
            x, layer_cache, attention = block(
                x,
                None,
                encoder_padding_mask=padding_mask,
                encoder_key_value=inputs["cross_cache"][:, :, layer_slice],
                cache=inputs["cache"][:, :, layer_slice],
                cache_index=step,
                return_attention_scores=True,
            )
            new_caches.append(layer_cache)
        if self.norm is not None:
            x = self.norm(x)
        return {
            "logits": ops.squeeze(self.projection(x), 1),
            "next_cache": ops.concatenate(new_caches, axis=-1),
            "attention": ops.mean(ops.squeeze(attention, 2), axis=1),
        }


class TransformerEncoder(keras.Model):
    """`{"encoder_token_ids"} → {"cross_cache", "cache"}`: the memory that
    decoding starts from. `cross_cache (b, s, layers*2*d)` holds every
    decoder layer's cross-attention keys and values of the encoded source,
    projected once here rather than at every step; `cache` is the empty
    self-attention cache."""

    def __init__(self, model, **kwargs):
        super().__init__(name="transformer_encoder", **kwargs)
        self.embedding = model.get_layer("encoder_embedding")
        self.dropout = model.get_layer("embedding_dropout")
        num_layers = _num_layers(model)
        self.blocks = [model.get_layer(f"encoder_layer_{i}") for i in range(num_layers)]
        self.norm = _optional_layer(model, "encoder_norm")
        self.decoder_blocks = [model.get_layer(f"decoder_layer_{i}") for i in range(num_layers)]
        self.cache_shape = cache_shape(model)

    def call(self, inputs):
        encoder_ids = inputs["encoder_token_ids"]
        batch = ops.shape(encoder_ids)[0]
        encoder_outputs = _encode(self.embedding, self.dropout, self.blocks, self.norm, encoder_ids)
        cross_cache = [block.encoder_key_value(encoder_outputs) for block in self.decoder_blocks]
        return {
            "cross_cache": ops.concatenate(cross_cache, axis=-1),
            "cache": ops.zeros((batch,) + self.cache_shape, dtype=self.compute_dtype),
        }


class TransformerKind(Seq2SeqKind):
    """The Transformer encoder-decoder: dynamic batch and lengths up to its
    position tables, and a fixed-size self-attention cache for decoding."""

    name = "transformer"
    source_aligned = ("cross_cache",)

    def owns(self, model):
        return "decoder_layer_0" in {layer.name for layer in model.layers}

    def inference_models(self, model):
        return TransformerEncoder(model), TransformerDecoderStep(model)

    def vocabulary_sizes(self, model):
        return (model.get_layer("encoder_embedding").vocabulary_size,
                model.get_layer("decoder_embedding").vocabulary_size)

    def position_limits(self, model):
        return (model.get_layer("encoder_embedding").sequence_length,
                model.get_layer("decoder_embedding").sequence_length)

    def pieces(self, model, lengths):
        encoder, step = self.inference_models(model)
        cache = cache_shape(model)  # cross_cache has the same width
        memory = {
            "cross_cache": ((None, None, cache[1]), "float32"),
            "cache": ((None,) + cache, "float32"),
        }
        source_limit, target_limit = self.position_limits(model)
        limits = {"encoder_token_ids": source_limit, "decoder_token_ids": target_limit}
        return self.decoding_pieces(model, encoder, step, token_ids_spec(), token_ids_spec(), memory, limits)


KIND = TransformerKind()
