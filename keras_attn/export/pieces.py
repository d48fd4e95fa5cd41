"""What gets exported for each kind of zoo model: named graphs ("pieces")
with their input signatures. Backend-agnostic Keras; no TensorFlow here.

- classifiers and BERT models: one `forward` piece;
- `transformer`: `forward` (teacher-forced), `encoder` and `decoder_step`
  (one position, fixed-size key/value cache), all with dynamic batch and
  lengths up to the position tables;
- `bahdanau`: the same three roles over a copy of the model whose GRUs are
  unrolled over a fixed source (and target) length, because a masked RNN
  with a dynamic length lowers to a TensorList loop that TFLite runs only
  with Flex ops. Callers right-pad to the lengths the manifest records.
"""

import dataclasses

import keras
import numpy as np

from keras_attn.models import bahdanau, family, transformer


@dataclasses.dataclass
class Piece:
    role: str
    model: keras.Model
    inputs: dict  # name → (shape with None for dynamic dims, dtype)
    max_lengths: dict = dataclasses.field(default_factory=dict)  # input name → longest accepted length


def lengths(model, max_source_length, max_target_length):
    """The longest inputs (and, for seq2seq, outputs) the exported pieces accept."""
    kind = family(model)
    if kind == "bahdanau":
        return {"max_source_length": max_source_length, "max_target_length": max_target_length}
    if kind == "transformer":
        return {
            "max_source_length": model.get_layer("encoder_embedding").sequence_length,
            "max_target_length": model.get_layer("decoder_embedding").sequence_length,
        }
    if kind == "classifier":
        return {"max_length": model.get_layer("embedding").sequence_length}
    return {"max_length": model.backbone.get_layer("embeddings").sequence_length}


def _ids(length=None):
    return ((None, length), "int32")


def unrolled_copy(model, source_length, target_length):
    """A copy of a `bahdanau` training model with fixed lengths and unrolled GRUs."""
    config = model.get_config()
    lengths = {"encoder_token_ids": source_length, "decoder_token_ids": target_length}
    for layer in config["layers"]:
        layer_config = layer["config"]
        if layer["class_name"] == "InputLayer":
            layer_config["batch_shape"] = [None, lengths[layer_config["name"]]]
        elif layer["class_name"] == "GRU":
            layer_config["unroll"] = True
        elif layer["class_name"] == "Bidirectional":
            layer_config["layer"]["config"]["unroll"] = True
            layer_config["backward_layer"]["config"]["unroll"] = True
    copy = keras.Model.from_config(config)
    copy.set_weights(model.get_weights())
    # Keras 3.15's unrolled TensorFlow RNN zeroes the outputs of a backward
    # layer with the mask in forward order, wiping real positions. Outputs
    # at padded positions are never attended to, so they need no zeroing.
    copy.get_layer("encoder_rnn").backward_layer.zero_output_for_mask = False
    return copy


def _build(piece_model, inputs):
    """Runs a subclassed piece once so that Keras considers it built."""
    example = {}
    for name, (shape, dtype) in inputs.items():
        shape = tuple(1 if dim is None else dim for dim in shape)
        example[name] = np.zeros(shape, dtype)
        if name.endswith("token_ids"):
            example[name][..., 0] = 1
    piece_model(example)


def pieces(model, max_source_length=64, max_target_length=64):
    """The pieces to export for `model`. The lengths apply to `bahdanau` only."""
    kind = family(model)
    if kind == "classifier":
        return [Piece("forward", model, {"token_ids": _ids()}, {"token_ids": model.get_layer("embedding").sequence_length})]
    if kind in ("bert", "bert_masked_lm"):
        limit = model.backbone.get_layer("embeddings").sequence_length
        inputs = {"token_ids": _ids(), "segment_ids": _ids()}
        if kind == "bert_masked_lm":
            inputs["mask_positions"] = _ids()
        return [Piece("forward", model, inputs, {"token_ids": limit, "segment_ids": limit})]

    if kind == "bahdanau":
        model = unrolled_copy(model, max_source_length, max_target_length)
        encoder, step = bahdanau.inference_models(model)
        units = model.get_layer("bridge").units
        source, target = _ids(max_source_length), _ids(max_target_length)
        memory = {
            "encoder_outputs": ((None, max_source_length, 2 * units), "float32"),
            "state": ((None, units), "float32"),
        }
        limits = {}
    else:
        encoder, step = transformer.inference_models(model)
        source, target = _ids(), _ids()
        cache = transformer.cache_shape(model)  # cross_cache has the same width
        memory = {
            "cross_cache": ((None, None, cache[1]), "float32"),
            "cache": ((None,) + cache, "float32"),
        }
        limits = {
            "encoder_token_ids": model.get_layer("encoder_embedding").sequence_length,
            "decoder_token_ids": model.get_layer("decoder_embedding").sequence_length,
        }
    step_inputs = {
        "token_ids": ((None, 1), "int32"),
        "step": ((None,), "int32"),
        "encoder_token_ids": source,
        **memory,
    }
    encoder_inputs = {"encoder_token_ids": source}
    _build(encoder, encoder_inputs)
    _build(step, step_inputs)
    source_limit = {"encoder_token_ids": limits["encoder_token_ids"]} if limits else {}
    return [
        Piece("forward", model, {"encoder_token_ids": source, "decoder_token_ids": target}, limits),
        Piece("encoder", encoder, encoder_inputs, source_limit),
        Piece("decoder_step", step, step_inputs, source_limit),
    ]
