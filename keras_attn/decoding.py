"""Greedy and beam-search decoding for the Keras seq2seq models.

Example (any Keras backend):
    model = keras_attn.zoo.build("transformer", ...)
    result = keras_attn.decoding.greedy_decode(model, source_ids)
    result.tokens, result.attention
"""

import numpy as np

from keras_attn import search
from keras_attn.batching import pad_rows
from keras_attn.distribution import batch_multiple
from keras_attn.models import bahdanau, family, transformer


def inference_models(model):
    """`(encoder, decoder_step)` for a `bahdanau` or `transformer` training model."""
    kind = family(model)
    if kind == "bahdanau":
        return bahdanau.inference_models(model)
    if kind == "transformer":
        return transformer.inference_models(model)
    raise ValueError(f"Model {model.name!r} is not a keras-attn seq2seq model (bahdanau or transformer).")


def default_max_length(model, source_length):
    """The Transformer's position table bounds its output; the RNN has no bound,
    so allow twice the source plus a margin."""
    if family(model) == "transformer":
        return model.get_layer("decoder_embedding").sequence_length
    return 2 * source_length + 10


class KerasDecoder(search.PieceDecoder):
    """The `keras_attn.search` decoder protocol over a Keras training model.

    `predict_on_batch` runs each piece as one compiled function (XLA under
    JAX, a tf.function under TensorFlow); the step's shapes do not change
    from one position to the next, so it compiles once per batch shape.
    """

    def __init__(self, model):
        encoder, decoder_step = inference_models(model)
        multiple = batch_multiple()
        super().__init__(_whole_batches(encoder.predict_on_batch, multiple),
                         _whole_batches(decoder_step.predict_on_batch, multiple))


def _whole_batches(predict, multiple):
    """`predict` on inputs padded with empty rows to a multiple of `multiple`
    (under data parallelism a batch splits evenly over the devices)."""
    if multiple == 1:
        return predict

    def call(inputs):
        padded, rows = pad_rows(inputs, multiple)
        return {name: value[:rows] for name, value in predict(padded).items()}

    return call


def greedy_decode(model, source_ids, max_length=None):
    """Greedy decoding; returns a `keras_attn.search.DecodeResult`."""
    source_ids = np.asarray(source_ids, "int32")
    max_length = max_length or default_max_length(model, source_ids.shape[1])
    return search.greedy_search(KerasDecoder(model), source_ids, max_length)


def beam_decode(model, source_ids, beam_size=4, alpha=0.6, max_length=None):
    """Beam search with GNMT length normalisation; returns a `DecodeResult`."""
    source_ids = np.asarray(source_ids, "int32")
    max_length = max_length or default_max_length(model, source_ids.shape[1])
    return search.beam_search(KerasDecoder(model), source_ids, max_length, beam_size=beam_size, alpha=alpha)
