"""The Transformer translator: a `TransformerBackbone` and its output layer,
with an encoder (prefill) and a one-position decoder step that keeps a
fixed-size key/value cache, so generation never recomputes the prefix."""

import keras
from keras import ops

from keras_attn import layers
from keras_attn.models.generative_task import GenerativeTask
from keras_attn.models.task import token_ids_spec
from keras_attn.models.transformer_backbone import TransformerBackbone
from keras_attn.tokenizers.vocabulary import END_ID, START_ID
from keras_attn.validation import check_range


@keras.saving.register_keras_serializable(package="keras_attn")
class TransformerTranslator(GenerativeTask):
    """`{"encoder_token_ids", "decoder_token_ids"}` → logits `(b, t,
    target_vocabulary_size)`, teacher-forced.

    Args:
        backbone: a `TransformerBackbone`.
        tied_logits: the logits are the decoder's token table transposed,
            plus a bias (Marian's `tie_word_embeddings` and final logits
            bias), rather than a projection of their own.
        start_id: the token generation starts from (Marian starts from
            its padding token). Where it is the backbone's `pad_id`, that
            row of the decoder's token table is zero and stays zero in
            training (`layers.ZeroRow`): Marian and CTranslate2 start the
            decoder from a zero vector.
        end_id: the token that ends a generated sequence.

    Example:
    >>> import numpy as np
    >>> backbone = TransformerBackbone(40, 30, hidden_dim=16, num_layers=1, num_heads=2, intermediate_dim=32)
    >>> translator = TransformerTranslator(backbone)
    >>> translator.generate(np.array([[9, 10, 11]], "int32"), max_length=4).tokens.shape[0]
    1
    """

    backbone_class = TransformerBackbone
    source_aligned = ("cross_cache",)
    per_step_state = ("cache",)

    def __init__(self, backbone, tied_logits=False, start_id=START_ID, end_id=END_ID, name="transformer", **kwargs):
        self.check_backbone(backbone)
        vocabulary_size = backbone.decoder_embedding.vocabulary_size
        self.start_id = check_range("start_id", start_id, 0, vocabulary_size - 1)
        self.end_id = check_range("end_id", end_id, 0, vocabulary_size - 1)
        self.tied_logits = bool(tied_logits)
        self.backbone = backbone
        if self.start_id == backbone.pad_id:
            table = backbone.decoder_embedding.token_embedding.embeddings
            table.constraint = layers.ZeroRow(self.start_id)
            table.assign(table.constraint(table))
        if self.tied_logits:
            self.logits = layers.TiedLogits(backbone.decoder_embedding.token_embedding, name="logits",
                                            dtype=backbone.dtype_policy)
        else:
            self.logits = keras.layers.Dense(vocabulary_size, name="logits", dtype=backbone.dtype_policy)
        inputs = backbone.input
        super().__init__(inputs=inputs, outputs=self.logits(backbone(inputs)), name=name, **kwargs)

    def get_config(self):
        return {**super().get_config(), "tied_logits": self.tied_logits, "start_id": self.start_id,
                "end_id": self.end_id}

    @property
    def prompt_vocabulary_size(self):
        return self.backbone.encoder_embedding.vocabulary_size

    @property
    def target_vocabulary_size(self):
        return self.backbone.decoder_embedding.vocabulary_size

    def position_limits(self):
        return self.backbone.encoder_embedding.sequence_length, self.backbone.decoder_embedding.sequence_length

    def prefill_model(self):
        return TransformerEncoder(self)

    def step_model(self):
        return TransformerDecoderStep(self)

    def pieces(self, lengths):
        prefill, step = self.generation_models()
        cache = self.backbone.cache_shape  # the cross cache has the same width
        state = {"cross_cache": ((None, None, cache[1]), "float32"), "cache": ((None,) + cache, "float32")}
        source_limit, target_limit = self.position_limits()
        limits = {"encoder_token_ids": source_limit, "decoder_token_ids": target_limit}
        return self.generation_pieces(prefill, step, token_ids_spec(), token_ids_spec(), state, limits)


class TransformerEncoder(keras.Model):
    """`{"encoder_token_ids"} → {"cross_cache", "cache"}`: the state that
    generation starts from. `cross_cache (b, s, layers*2*d)` holds every
    decoder layer's cross-attention keys and values of the encoded source,
    projected once here rather than at every step; `cache` is the empty
    self-attention cache. Shares the translator's layers."""

    def __init__(self, translator, **kwargs):
        super().__init__(name="transformer_encoder", **kwargs)
        self.backbone = translator.backbone

    def call(self, inputs):
        encoder_ids = inputs["encoder_token_ids"]
        encoder_outputs = self.backbone.encode(encoder_ids)
        cross_cache = [block.encoder_key_value(encoder_outputs) for block in self.backbone.decoder_blocks]
        batch = ops.shape(encoder_ids)[0]
        return {"cross_cache": ops.concatenate(cross_cache, axis=-1),
                "cache": ops.zeros((batch,) + self.backbone.cache_shape, dtype=self.compute_dtype)}


class TransformerDecoderStep(keras.Model):
    """Decodes one position with the fixed-size key/value cache.

    Inputs (a dict): `token_ids (b, 1)`, `step (b,)`, `encoder_token_ids
    (b, s)`, `cross_cache` and `cache (b, slots, layers*2*d)`, with as many
    slots as the steps to decode (at most `max_target_length`, what the
    encoder allocates).
    Outputs (a dict): `logits (b, vocab)`, the updated cache as
    `next_cache`, and `attention (b, s)`, the last layer's cross-attention
    averaged over heads.

    A subclassed model rather than a functional one: Keras's functional
    graph checks assume a layer returns as many outputs at every call, and
    a decoder block returns one output in training but three here.
    """

    def __init__(self, translator, **kwargs):
        super().__init__(name="transformer_decoder_step", **kwargs)
        self.backbone = translator.backbone
        self.projection = translator.logits

    def call(self, inputs):
        backbone = self.backbone
        step = inputs["step"]
        padding_mask = backbone.padding_mask(inputs["encoder_token_ids"])
        x = backbone.decoder_embedding(inputs["token_ids"], positions=ops.expand_dims(step, 1))
        width = backbone.cache_shape[1] // len(backbone.decoder_blocks)
        new_caches = []
        for i, block in enumerate(backbone.decoder_blocks):
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
        if backbone.decoder_norm is not None:
            x = backbone.decoder_norm(x)
        return {
            "logits": ops.squeeze(self.projection(x), 1),
            "next_cache": ops.concatenate(new_caches, axis=-1),
            "attention": ops.mean(ops.squeeze(attention, 2), axis=1),
        }
