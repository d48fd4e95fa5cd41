"""The Bahdanau translator: a `BahdanauBackbone` and its output layer, with
an encoder (prefill) and the decoder's own one-step recurrence."""

import keras
import numpy as np
from keras import ops

from keras_attn.models.bahdanau_backbone import BahdanauBackbone
from keras_attn.models.generative_task import GenerativeTask
from keras_attn.models.task import token_ids_spec
from keras_attn.validation import check_rate


@keras.saving.register_keras_serializable(package="keras_attn")
class BahdanauTranslator(GenerativeTask):
    """`{"encoder_token_ids", "decoder_token_ids"}` → logits `(b, t,
    target_vocabulary_size)`, teacher-forced. No position tables: its
    exported pieces take the training task's fixed lengths, and the runtime
    pads to them. Trained with plain Adam (no warm-up).

    Args:
        backbone: a `BahdanauBackbone`.
        output_dropout: rate before the output layer.

    Example:
    >>> import numpy as np
    >>> translator = BahdanauTranslator(BahdanauBackbone(40, 30, embedding_dim=8, units=16))
    >>> translator.generate(np.array([[9, 10, 11]], "int32"), max_length=4).tokens.shape[0]
    1
    """

    backbone_class = BahdanauBackbone
    warmup = False
    source_aligned = {"encoder_outputs": 1}

    def __init__(self, backbone, output_dropout=0.1, name="bahdanau", **kwargs):
        self.check_backbone(backbone)
        check_rate("output_dropout", output_dropout)
        self.backbone = backbone
        self.output_dropout_layer = keras.layers.Dropout(output_dropout, name="output_dropout",
                                                         dtype=backbone.dtype_policy)
        self.logits = keras.layers.Dense(backbone.decoder_embedding.input_dim, name="logits",
                                         dtype=backbone.dtype_policy)
        inputs = backbone.input
        outputs = self.logits(self.output_dropout_layer(backbone(inputs)))
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self.output_dropout = output_dropout

    def get_config(self):
        return {**super().get_config(), "output_dropout": self.output_dropout}

    @property
    def prompt_vocabulary_size(self):
        return self.backbone.encoder_embedding.input_dim

    @property
    def target_vocabulary_size(self):
        return self.backbone.decoder_embedding.input_dim

    def prefill_model(self):
        return BahdanauEncoder(self)

    def step_model(self):
        return BahdanauDecoderStep(self)

    def fixed_length_copy(self, source_length, target_length):
        """This translator with the same weights, at fixed lengths, its
        recurrences run as `while` loops: the form that TFLite's builtin ops
        and ONNX run. Keras's own RNN and `ops.scan` collect their steps in
        tensor lists, which TFLite runs only with Flex ops at a dynamic
        batch, and an unrolled copy grows with the length (20 GB and minutes
        to convert at 64 tokens)."""
        config = {**self.backbone.get_config(), "fixed_lengths": (source_length, target_length)}
        copy = BahdanauTranslator(BahdanauBackbone.from_config(config), output_dropout=self.output_dropout,
                                  name=self.name)
        copy.set_weights(self.get_weights())
        return copy

    def pieces(self, lengths):
        source_length, target_length = lengths["max_source_length"], lengths["max_target_length"]
        copy = self.fixed_length_copy(source_length, target_length)
        prefill, step = copy.generation_models()
        units = copy.backbone.bridge.units
        state = {"encoder_outputs": ((None, source_length, 2 * units), "float32"), "state": ((None, units), "float32")}
        limits = {"encoder_token_ids": source_length, "decoder_token_ids": target_length}
        return self.generation_pieces(prefill, step, token_ids_spec(source_length), token_ids_spec(target_length),
                                      state, limits, forward=copy)

    def weights_kept_float(self):
        """The decoder's matrices: its recurrence (the GRU and the attention)
        and the layers that read its states out to logits. Rounded to int8,
        they changed 6% of a trained model's greedy tokens (the readout most:
        it decides the argmax; the recurrence carries its error on); kept,
        0.4%. The embeddings, the encoder and the bridge are still int8
        (BENCHMARKS.md, session 13)."""
        decoder = self.backbone.decoder.weights + self.backbone.attention_output.weights + self.logits.weights
        return [np.asarray(weight) for weight in decoder if len(weight.shape) == 2]

    def runtime_spec(self, lengths):
        return {**super().runtime_spec(lengths), "fixed_prompt_length": lengths["max_source_length"]}


class BahdanauEncoder(keras.Model):
    """`{"encoder_token_ids"} → {"encoder_outputs", "state"}`: the annotations
    and the first decoder state."""

    def __init__(self, translator, **kwargs):
        super().__init__(name="bahdanau_encoder", **kwargs)
        self.backbone = translator.backbone

    def call(self, inputs):
        annotations, state = self.backbone.encode(inputs["encoder_token_ids"])
        # A copy without the padding mask Keras attached: the step masks with the source ids.
        return {"encoder_outputs": ops.copy(annotations), "state": state}


class BahdanauDecoderStep(keras.Model):
    """One decoder step: `{"token_ids" (b, 1), "step", "encoder_outputs",
    "encoder_token_ids", "state" (b, units)}` → `{"logits" (b, vocab),
    "next_state", "attention" (b, s)}`, where `attention` are the weights
    that `state` (`s_{i-1}`) put on the source to make this step's context."""

    def __init__(self, translator, **kwargs):
        super().__init__(name="bahdanau_decoder_step", **kwargs)
        self.backbone = translator.backbone
        self.projection = translator.logits

    def call(self, inputs):
        hidden, state, weights = self.backbone.decode_step(inputs["token_ids"], inputs["state"],
                                                           inputs["encoder_outputs"], inputs["encoder_token_ids"])
        return {"logits": self.projection(hidden), "next_state": state, "attention": weights}
