"""Greedy and beam-search decoding for the Keras seq2seq models.

`greedy_decode` and `beam_decode` compile the whole search, the encoder and
every decoder step into one function (`SearchLoop`: XLA under JAX, a
tf.function under TensorFlow), so the key/value cache stays on the device
and no step pays a round trip to the host. `KerasDecoder` instead exposes a
model step by step to the host-side searches of `keras_attn.search`, the ones
that run exported artifacts; the parity checks compare the two.

Example (any Keras backend):
    model = keras_attn.zoo.build("transformer", ...)
    result = keras_attn.decoding.greedy_decode(model, source_ids)
    result.tokens, result.attention
"""

import weakref

import keras
import numpy as np
from keras import ops

from keras_attn import models
from keras_attn.data.batching import pad_rows
from keras_attn.inference import search
from keras_attn.layers import fused_attention_enabled
from keras_attn.tokenizers.vocabulary import END_ID, PAD_ID, START_ID
from keras_attn.training.distribution import batch_multiple
from keras_attn.validation import check_range, check_token_ids


def decoding_kind(model):
    """The kind of `model`, which must decode (a seq2seq kind)."""
    kind = models.kind_of(model)
    if not kind.decodes:
        raise ValueError(f"Model {model.name!r} is a {kind.name} model, which does not decode (not seq2seq).")
    return kind


def inference_models(model):
    """`(encoder, decoder_step)` of a seq2seq training model."""
    return decoding_kind(model).inference_models(model)


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


class SearchLoop(keras.Model):
    """Greedy (`beam_size=1`) or beam search as one Keras model:
    `source_ids (b, s)` → the final beams, `{"steps", "history" (b*k, T),
    "attention_history" (b*k, T, s), "scores", "lengths", "finished" (b, k)}`.

    The search is `keras_attn.search.beam_search` written in `keras.ops`
    inside `ops.while_loop`, which stops once every beam has ended. Memory
    entries that a step updates (`next_<name>`) follow their beam; the
    encoded source stays where it is. A finished beam extends with padding
    at no cost, so with one beam this is exactly greedy search.
    """

    def __init__(self, model, max_length, beam_size=1, **kwargs):
        super().__init__(name="search_loop", **kwargs)
        self.encoder, self.decoder_step = inference_models(model)
        self.max_length, self.beam_size = max_length, beam_size

    def call(self, source_ids):
        k, steps = self.beam_size, self.max_length
        batch, source_length = ops.shape(source_ids)[0], ops.shape(source_ids)[1]
        rows = batch * k
        source_ids = ops.repeat(source_ids, k, axis=0) if k > 1 else source_ids
        memory = dict(self.encoder({"encoder_token_ids": source_ids}))
        memory["encoder_token_ids"] = source_ids
        slots = ops.arange(steps)

        def not_done(step, tokens, scores, finished, lengths, history, attention_history, memory):
            return ops.logical_and(ops.less(step, steps), ops.logical_not(ops.all(finished)))

        def advance(step, tokens, scores, finished, lengths, history, attention_history, memory):
            inputs = dict(memory, token_ids=ops.expand_dims(tokens, 1), step=ops.zeros((rows,), "int32") + step)
            outputs = self.decoder_step(inputs)
            log_probs = ops.log_softmax(ops.cast(outputs["logits"], "float32"), axis=-1)
            vocabulary_size = ops.shape(log_probs)[-1]
            log_probs = ops.reshape(log_probs, (batch, k, vocabulary_size))
            padding_only = ops.where(ops.equal(ops.arange(vocabulary_size), PAD_ID), 0.0, -np.inf)
            log_probs = ops.where(ops.expand_dims(finished, -1), padding_only, log_probs)
            candidates = ops.reshape(ops.expand_dims(scores, -1) + log_probs, (batch, k * vocabulary_size))
            scores, best = ops.top_k(candidates, k)
            best = ops.cast(best, "int32")
            beam, token = best // vocabulary_size, best % vocabulary_size
            order = ops.reshape(ops.expand_dims(ops.arange(batch, dtype="int32") * k, 1) + beam, (-1,))

            def follow(value):  # the rows of each surviving beam's parent
                return ops.take(value, order, axis=0) if k > 1 else value

            was_finished = ops.reshape(follow(ops.reshape(finished, (-1,))), (batch, k))
            lengths = ops.reshape(follow(ops.reshape(lengths, (-1,))), (batch, k)) + ops.cast(
                ops.logical_not(was_finished), "int32"
            )
            finished = ops.logical_or(was_finished, ops.equal(token, END_ID))
            tokens = ops.reshape(token, (-1,))
            at_step = ops.equal(slots, step)
            history = ops.where(at_step, ops.expand_dims(tokens, 1), follow(history))
            attention = follow(ops.cast(outputs["attention"], "float32"))
            attention = ops.where(ops.reshape(was_finished, (-1, 1)), 0.0, attention)
            attention_history = ops.where(
                ops.reshape(at_step, (1, -1, 1)), ops.expand_dims(attention, 1), follow(attention_history)
            )
            memory = {
                name: ops.cast(follow(outputs[f"next_{name}"]), value.dtype) if f"next_{name}" in outputs else value
                for name, value in memory.items()
            }
            return step + 1, tokens, scores, finished, lengths, history, attention_history, memory

        first_scores = ops.where(ops.equal(ops.arange(k), 0), 0.0, -np.inf)  # one live beam at first
        state = ops.while_loop(
            not_done,
            advance,
            (
                ops.convert_to_tensor(0, "int32"),
                ops.full((rows,), START_ID, "int32"),
                ops.zeros((batch, k), "float32") + first_scores,
                ops.zeros((batch, k), "bool"),
                ops.zeros((batch, k), "int32"),
                ops.zeros((rows, steps), "int32"),
                ops.zeros((rows, steps, source_length), "float32"),
                memory,
            ),
        )
        step, _, scores, finished, lengths, history, attention_history, _ = state
        return {
            "steps": ops.zeros((batch,), "int32") + step,
            "history": history,
            "attention_history": attention_history,
            "scores": scores,
            "lengths": lengths,
            "finished": finished,
        }


# One compiled search per model and search shape, reused across calls.
_search_loops = weakref.WeakKeyDictionary()


def _run_search(model, source_ids, max_length, beam_size):
    """The final beams of `SearchLoop`, as numpy `(batch, beams, ...)` arrays
    cut to the steps taken."""
    loops = _search_loops.setdefault(model, {})
    key = (max_length, beam_size, fused_attention_enabled())  # the switch is read when tracing
    if key not in loops:
        loops[key] = SearchLoop(model, max_length, beam_size)
    padded, batch = pad_rows(np.asarray(source_ids, "int32"), batch_multiple())
    outputs = loops[key].predict_on_batch(padded)
    steps = int(outputs["steps"][0])
    history = outputs["history"][: batch * beam_size, :steps].reshape(batch, beam_size, steps)
    attention = outputs["attention_history"][: batch * beam_size, :steps]
    attention = attention.reshape(batch, beam_size, steps, -1)
    return history, attention, outputs["scores"][:batch], outputs["lengths"][:batch], outputs["finished"][:batch]


def checked_inputs(model, source_ids, max_length, beam_size=1):
    """`(source ids, steps, beam size)` for a search, or a `ValueError` that
    names the argument: integer ids of rank 2 within the source vocabulary
    and position table, steps within the target position table."""
    kind = decoding_kind(model)
    source_limit, target_limit = kind.position_limits(model)
    source_ids = check_token_ids("source_ids", source_ids, kind.vocabulary_sizes(model)[0], source_limit)
    steps = kind.default_max_length(model, source_ids.shape[1]) if max_length is None else max_length
    return source_ids, check_range("max_length", steps, 1, target_limit), check_range("beam_size", beam_size, 1)


def greedy_decode(model, source_ids, max_length=None):
    """Greedy decoding; returns a `keras_attn.search.DecodeResult`."""
    source_ids, max_length, _ = checked_inputs(model, source_ids, max_length)
    history, attention, scores, _, _ = _run_search(model, source_ids, max_length, beam_size=1)
    return search.DecodeResult(history[:, 0], attention[:, 0], scores[:, 0].astype("float64"))


def beam_decode(model, source_ids, beam_size=4, alpha=0.6, max_length=None):
    """Beam search with GNMT length normalisation; returns a `DecodeResult`."""
    source_ids, max_length, beam_size = checked_inputs(model, source_ids, max_length, beam_size)
    history, attention, scores, lengths, finished = _run_search(model, source_ids, max_length, beam_size)
    return search.best_hypotheses(history, attention, scores, lengths, finished, alpha)
