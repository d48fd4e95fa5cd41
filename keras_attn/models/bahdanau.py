"""The RNN encoder-decoder with additive attention of Bahdanau, Cho and Bengio (2015).

Encoder: token embedding → bidirectional GRU, whose outputs are the
annotations `h_j`. Decoder (`layers.BahdanauDecoder`), as in the paper: at
step `i` the previous state `s_{i-1}` queries the annotations
(`e_ij = v^T tanh(W s_{i-1} + U h_j)`, padding masked) for the context
`c_i`, and the GRU reads `[embedding(y_{i-1}); c_i]`, so the context feeds
the recurrence. The output layer reads `s_i`, `c_i` and
`embedding(y_{i-1})` (a `tanh` layer where the paper has maxout). The first
decoder state is a `tanh` projection of the encoder's final states (the
paper projects the backward one).

`build_bahdanau` returns the teacher-forced training model
`{"encoder_token_ids", "decoder_token_ids"} → logits`; `KIND` (a
`BahdanauKind`) gives an encoder and a one-step decoder over the same
layers, and everything else specific to this kind.
"""

import keras
from keras import ops

from keras_attn import layers
from keras_attn.models.kind import Seq2SeqKind, token_ids_spec
from keras_attn.validation import check_positive_int, check_rate


def build_bahdanau(
    source_vocabulary_size=8000,
    target_vocabulary_size=8000,
    embedding_dim=256,
    units=512,
    dropout=0.1,
    name="bahdanau",
):
    """Builds the training model. Token id 0 is padding in both languages."""
    for arg, value in (
        ("source_vocabulary_size", source_vocabulary_size),
        ("target_vocabulary_size", target_vocabulary_size),
        ("embedding_dim", embedding_dim),
        ("units", units),
    ):
        check_positive_int(arg, value)
    check_rate("dropout", dropout)

    encoder_ids = keras.Input((None,), dtype="int32", name="encoder_token_ids")
    decoder_ids = keras.Input((None,), dtype="int32", name="decoder_token_ids")
    source_embedding = keras.layers.Embedding(source_vocabulary_size, embedding_dim, name="encoder_embedding")
    target_embedding = keras.layers.Embedding(target_vocabulary_size, embedding_dim, name="decoder_embedding")
    encoder_rnn = keras.layers.Bidirectional(
        keras.layers.GRU(units, return_sequences=True, return_state=True), name="encoder_rnn"
    )
    bridge = keras.layers.Dense(units, activation="tanh", name="bridge")
    decoder_rnn = layers.BahdanauDecoder(units, name="decoder_rnn")
    attention_output = keras.layers.Dense(units, activation="tanh", name="attention_output")
    output_dropout = keras.layers.Dropout(dropout, name="output_dropout")
    projection = keras.layers.Dense(target_vocabulary_size, name="logits")

    padding_mask = ops.not_equal(encoder_ids, 0)
    annotations, forward_state, backward_state = encoder_rnn(
        keras.layers.Dropout(dropout)(source_embedding(encoder_ids)), mask=padding_mask
    )
    initial_state = bridge(ops.concatenate([forward_state, backward_state], axis=-1))
    # Right padding of the target never reaches earlier positions of a
    # left-to-right recurrence, so the decoder needs no target mask.
    previous = keras.layers.Dropout(dropout)(target_embedding(decoder_ids))
    states, contexts = decoder_rnn(previous, annotations, initial_state, keys_mask=padding_mask)
    hidden = attention_output(ops.concatenate([states, contexts, previous], axis=-1))
    logits = projection(output_dropout(hidden))
    return keras.Model({"encoder_token_ids": encoder_ids, "decoder_token_ids": decoder_ids}, logits, name=name)


class BahdanauEncoder(keras.Model):
    """`{"encoder_token_ids"} → {"encoder_outputs", "state"}`: the annotations
    and the first decoder state."""

    def __init__(self, model, **kwargs):
        super().__init__(name="bahdanau_encoder", **kwargs)
        self.embedding = model.get_layer("encoder_embedding")
        self.rnn = model.get_layer("encoder_rnn")
        self.bridge = model.get_layer("bridge")

    def call(self, inputs):
        encoder_ids = inputs["encoder_token_ids"]
        annotations, forward_state, backward_state = self.rnn(
            self.embedding(encoder_ids), mask=ops.not_equal(encoder_ids, 0)
        )
        state = self.bridge(ops.concatenate([forward_state, backward_state], axis=-1))
        # A copy without the padding mask Keras attached: the step masks with the source ids.
        return {"encoder_outputs": ops.copy(annotations), "state": state}


class BahdanauDecoderStep(keras.Model):
    """One decoder step: `{"token_ids" (b, 1), "encoder_outputs",
    "encoder_token_ids", "state" (b, units)}` → `{"logits" (b, vocab),
    "next_state", "attention" (b, s)}`, where `attention` are the weights
    that `state` (`s_{i-1}`) put on the source to make this step's context.
    The decoder's own `step`, so teacher forcing and decoding compute the same."""

    def __init__(self, model, **kwargs):
        super().__init__(name="bahdanau_decoder_step", **kwargs)
        self.embedding = model.get_layer("decoder_embedding")
        self.decoder = model.get_layer("decoder_rnn")
        self.attention_output = model.get_layer("attention_output")
        self.projection = model.get_layer("logits")

    def call(self, inputs):
        previous = ops.squeeze(self.embedding(inputs["token_ids"]), 1)
        state, context, weights = self.decoder.step(
            previous, inputs["state"], inputs["encoder_outputs"], ops.not_equal(inputs["encoder_token_ids"], 0)
        )
        hidden = self.attention_output(ops.concatenate([state, context, previous], axis=-1))
        return {"logits": self.projection(hidden), "next_state": state, "attention": weights}


def export_copy(model, source_length, target_length):
    """A copy of a training model with fixed lengths and recurrences that run
    as `while` loops (`layers.WhileLoopBidirectional` for the encoder,
    `BahdanauDecoder(loop="while")`), the form that TFLite's builtin ops and
    ONNX run. Keras's own RNN and `ops.scan` collect their steps in tensor
    lists, which TFLite runs only with Flex ops at a dynamic batch, and an
    unrolled copy grows with the length (20 GB and minutes to convert at 64)."""
    config = model.get_config()
    lengths = {"encoder_token_ids": source_length, "decoder_token_ids": target_length}
    for layer in config["layers"]:
        layer_config = layer["config"]
        if layer["class_name"] == "InputLayer":
            layer_config["batch_shape"] = [None, lengths[layer_config["name"]]]
        elif layer["class_name"] == "BahdanauDecoder":
            layer_config["loop"] = "while"
        elif layer["class_name"] == "Bidirectional":
            looped = layers.WhileLoopBidirectional(model.get_layer(layer_config["name"]), name=layer_config["name"])
            layer.update({key: value for key, value in keras.saving.serialize_keras_object(looped).items()
                          if key != "build_config"})
    copy = keras.Model.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


class BahdanauKind(Seq2SeqKind):
    """The RNN encoder-decoder: no position tables, so its exported pieces take
    the fixed lengths of the training task (the runtime pads to them)."""

    name = "bahdanau"
    warmup = False  # plain Adam
    source_aligned = ("encoder_outputs",)

    def owns(self, model):
        return "decoder_rnn" in {layer.name for layer in model.layers}

    def inference_models(self, model):
        return BahdanauEncoder(model), BahdanauDecoderStep(model)

    def vocabulary_sizes(self, model):
        return model.get_layer("encoder_embedding").input_dim, model.get_layer("decoder_embedding").input_dim

    def pieces(self, model, lengths):
        source_length, target_length = lengths["max_source_length"], lengths["max_target_length"]
        model = export_copy(model, source_length, target_length)
        encoder, step = self.inference_models(model)
        units = model.get_layer("bridge").units
        memory = {
            "encoder_outputs": ((None, source_length, 2 * units), "float32"),
            "state": ((None, units), "float32"),
        }
        limits = {"encoder_token_ids": source_length, "decoder_token_ids": target_length}
        return self.decoding_pieces(
            model, encoder, step, token_ids_spec(source_length), token_ids_spec(target_length), memory, limits
        )

    def runtime_spec(self, lengths):
        # No position table: decoding has no bound of its own.
        return {**super().runtime_spec(lengths), "fixed_source_length": lengths["max_source_length"], "max_steps": None}


KIND = BahdanauKind()
