"""The Transformer translator: a `TransformerBackbone` and its output layer,
with an encoder (prefill) and a one-position decoder step that keeps a
fixed-size key/value cache, so generation never recomputes the prefix.

The generation state is one tensor per decoder layer and role, in the
layout the step's matmuls read (`MultiHeadAttention`'s): `keys_{i}` `(b,
heads, key_dim, slots)` and `values_{i}` `(b, heads, slots, key_dim)` for
layer `i`'s self-attention, `cross_keys_{i}` and `cross_values_{i}` the same
over the source for its cross-attention, projected once by the prefill. A
step reads each whole and writes one slot of the first two: no slicing,
splitting or transposing of a cache per token."""

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

    @property
    def per_step_state(self):
        return {name: axis for i in range(len(self.backbone.decoder_blocks))
                for name, axis in ((f"keys_{i}", 3), (f"values_{i}", 2))}

    @property
    def source_aligned(self):
        return {name: axis for i in range(len(self.backbone.decoder_blocks))
                for name, axis in ((f"cross_keys_{i}", 3), (f"cross_values_{i}", 2))}

    def prefill_model(self):
        return TransformerEncoder(self)

    def step_model(self):
        return TransformerDecoderStep(self)

    def pieces(self, lengths):
        prefill, step = self.generation_models()
        heads, key_dim = self.backbone.decoder_heads
        source_limit, target_limit = self.position_limits()
        state = {}
        for i in range(len(self.backbone.decoder_blocks)):
            for prefix, slots in (("", target_limit), ("cross_", None)):
                state[f"{prefix}keys_{i}"] = ((None, heads, key_dim, slots), "float32")
                state[f"{prefix}values_{i}"] = ((None, heads, slots, key_dim), "float32")
        limits = {"encoder_token_ids": source_limit, "decoder_token_ids": target_limit}
        return self.generation_pieces(prefill, step, token_ids_spec(), token_ids_spec(), state, limits)


class TransformerEncoder(keras.Model):
    """`{"encoder_token_ids"}` → the state that generation starts from (see
    the module's docstring): every decoder layer's cross-attention keys and
    values of the encoded source, projected once here rather than at every
    step, and its empty self-attention cache of `max_target_length` slots.
    Shares the translator's layers."""

    def __init__(self, translator, **kwargs):
        super().__init__(name="transformer_encoder", **kwargs)
        self.backbone = translator.backbone

    def call(self, inputs):
        encoder_ids = inputs["encoder_token_ids"]
        encoder_outputs = self.backbone.encode(encoder_ids)
        batch, (heads, key_dim) = ops.shape(encoder_ids)[0], self.backbone.decoder_heads
        slots = self.backbone.decoder_embedding.sequence_length
        state = {}
        for i, block in enumerate(self.backbone.decoder_blocks):
            state[f"cross_keys_{i}"], state[f"cross_values_{i}"] = block.encoder_key_value(encoder_outputs)
            state[f"keys_{i}"] = ops.zeros((batch, heads, key_dim, slots), self.compute_dtype)
            state[f"values_{i}"] = ops.zeros((batch, heads, slots, key_dim), self.compute_dtype)
        return state


class TransformerDecoderStep(keras.Model):
    """Decodes one position with the fixed-size key/value cache.

    Inputs (a dict): `token_ids (b, 1)`, `step (b,)`, `encoder_token_ids
    (b, s)`, and the state of the module's docstring, its caches with as
    many slots as the steps to decode (at most `max_target_length`, what the
    encoder allocates).
    Outputs (a dict): `logits (b, vocab)`, the updated caches as
    `next_keys_{i}` and `next_values_{i}`, and `attention (b, s)`, the last
    layer's cross-attention averaged over heads.

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
        outputs = {}
        for i, block in enumerate(backbone.decoder_blocks):
            x, (outputs[f"next_keys_{i}"], outputs[f"next_values_{i}"]), attention = block(
                x,
                None,
                encoder_padding_mask=padding_mask,
                encoder_key_value=(inputs[f"cross_keys_{i}"], inputs[f"cross_values_{i}"]),
                cache=(inputs[f"keys_{i}"], inputs[f"values_{i}"]),
                cache_index=step,
                return_attention_scores=True,
            )
        if backbone.decoder_norm is not None:
            x = backbone.decoder_norm(x)
        return {"logits": ops.squeeze(self.projection(x), 1),
                "attention": ops.mean(ops.squeeze(attention, 2), axis=1), **outputs}
