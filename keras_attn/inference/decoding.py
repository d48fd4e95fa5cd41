"""Greedy and beam search compiled with a Keras generative model.

`greedy_decode` and `beam_decode` compile the whole search, the prefill and
every step into one function (`SearchLoop`, `BeamSearchLoop`: XLA under JAX,
a tf.function under TensorFlow), so the key/value cache stays on the device
and no step pays a round trip to the host. `KerasGenerator` instead exposes
a model step by step to the host-side searches of
`keras_attn.inference.search`, the ones that run exported artifacts; the
parity checks compare the two. Both follow the rules written once in
`search` (length penalty, stopping, state update).

A model here is any object with the generation protocol of
`keras_attn.models.GenerativeTask`: `generation_models()`, `prompt_name`,
`start_id`, `end_id`, `pad_id`, `prompt_vocabulary_size`, `position_limits()` and
`default_max_length()`. Its `generate` and `beam_generate` call these.

Example (any Keras backend):
    model = keras_attn.zoo.build("transformer", ...)
    result = model.generate(source_ids)      # keras_attn.inference.decoding.greedy_decode(model, source_ids)
    result.tokens, result.attention
"""

import weakref

import keras
import numpy as np
from keras import ops

from keras_attn.data.batching import pad_rows
from keras_attn.inference import search
from keras_attn.layers import fused_attention_enabled
from keras_attn.layers.fixed_length_loop import write_step
from keras_attn.training.distribution import batch_multiple
from keras_attn.validation import (MAX_UNBOUNDED_STEPS, check_beam_size, check_non_negative, check_range,
                                   check_token_ids)


def generation_models(model):
    """`(prefill, step)` of a generative model; `ValueError` for any other."""
    if not callable(getattr(model, "generation_models", None)):
        raise ValueError(f"Model {getattr(model, 'name', model)!r} ({type(model).__name__}) does not generate "
                         "(it has no prefill and step).")
    return model.generation_models()


class KerasGenerator(search.PieceGenerator):
    """The `keras_attn.inference.search` generator protocol over a Keras generative model.

    `predict_on_batch` runs each piece as one compiled function (XLA under
    JAX, a tf.function under TensorFlow); the step's shapes do not change
    from one position to the next, so it compiles once per batch shape.
    """

    def __init__(self, model):
        prefill, step = generation_models(model)
        multiple = batch_multiple()
        super().__init__(_whole_batches(prefill.predict_on_batch, multiple),
                         _whole_batches(step.predict_on_batch, multiple), model.prompt_name)


def _whole_batches(predict, multiple):
    """`predict` on inputs padded with empty rows to a multiple of `multiple`
    (under data parallelism a batch splits evenly over the devices)."""
    if multiple == 1:
        return predict

    def call(inputs):
        padded, rows = pad_rows(inputs, multiple)
        return {name: value[:rows] for name, value in predict(padded).items()}

    return call


class _CompiledSearch(keras.Model):
    """What both compiled searches share: the model's pieces and its protocol.

    Called on `{prompt_name: prompt ids (b, s)}`. Each search setting
    (`max_length`; `beam_size` and `alpha` for beam search) is fixed when
    given to the constructor, as XLA needs its shapes static; one given as
    `None` is read from the inputs instead, as a scalar: the exported
    searches (TensorFlow graphs) take them at run time.
    """

    def __init__(self, model, max_length, **kwargs):
        super().__init__(**kwargs)
        self.prefill, self.step = generation_models(model)
        self.prompt_name, self.start_id, self.end_id, self.pad_id = (model.prompt_name, model.start_id, model.end_id,
                                                                      model.pad_id)
        self.per_step_state = model.per_step_state
        self.max_length = max_length
        self.built = True  # no weights of its own: the pieces it runs are the model's

    def setting(self, inputs, name):
        """The search setting `name`: fixed at construction, else from `inputs`."""
        value = getattr(self, name)
        return inputs[name] if value is None else value

    def _prefill(self, prompt_ids, steps):
        """The state after the prompt, its per-step entries cut to `steps` slots."""
        state = dict(self.prefill({self.prompt_name: prompt_ids}))
        for name, axis in self.per_step_state.items():
            state[name] = state[name][(slice(None),) * axis + (slice(None, steps),)]
        state[self.prompt_name] = prompt_ids
        return state

    def _step(self, state, tokens, step):
        batch = ops.shape(tokens)[0]
        return self.step(dict(state, token_ids=ops.expand_dims(tokens, 1), step=ops.zeros((batch,), "int32") + step))


class SearchLoop(_CompiledSearch):
    """Greedy search as one Keras model: `prompt_ids (b, s)` →
    `{"steps", "history" (b, T), "attention_history" (b, T, s), "scores" (b,)}`.

    `keras_attn.inference.search.greedy_search` written in `keras.ops` inside
    `ops.while_loop`, which stops once every row has ended; a row that ended
    continues with padding at no cost. State entries that a step updates
    (`next_<name>`) are carried; the prefilled prompt stays where it is.
    """

    def __init__(self, model, max_length, **kwargs):
        super().__init__(model, max_length, name="search_loop", **kwargs)

    def call(self, inputs):
        source_ids, steps, end_id = inputs[self.prompt_name], self.setting(inputs, "max_length"), self.end_id
        batch, source_length = ops.shape(source_ids)[0], ops.shape(source_ids)[1]
        memory = self._prefill(source_ids, steps)

        def not_done(step, tokens, scores, finished, history, attention_history, memory):
            return ops.logical_and(ops.less(step, steps), ops.logical_not(ops.all(finished)))

        def advance(step, tokens, scores, finished, history, attention_history, memory):
            outputs = self._step(memory, tokens, step)
            log_probs = search.token_log_probs(outputs["logits"], self.pad_id, xp=ops)
            # top_k, not argmax: under TensorFlow `ops.argmax` tests the sign bit of
            # zeros (Bitcast, BitwiseAnd), which neither ONNX nor LiteRT runs.
            best_log_prob, best = ops.top_k(log_probs, 1)
            tokens = ops.where(finished, self.pad_id, ops.cast(best[:, 0], "int32"))
            scores = scores + ops.where(finished, 0.0, best_log_prob[:, 0])
            attention = ops.where(ops.expand_dims(finished, 1), 0.0, ops.cast(outputs["attention"], "float32"))
            history = write_step(history, step, tokens)
            attention_history = write_step(attention_history, step, attention)
            finished = ops.logical_or(finished, ops.equal(tokens, end_id))
            return step + 1, tokens, scores, finished, history, attention_history, search.next_state(
                memory, outputs, xp=ops)

        step, _, scores, _, history, attention_history, _ = ops.while_loop(
            not_done,
            advance,
            (
                ops.convert_to_tensor(0, "int32"),
                ops.full((batch,), self.start_id, "int32"),
                ops.zeros((batch,), "float32"),
                ops.zeros((batch,), "bool"),
                ops.full((batch, steps), self.pad_id, "int32"),
                ops.zeros((batch, steps, source_length), "float32"),
                memory,
            ),
        )
        return {"steps": ops.zeros((batch,), "int32") + step, "history": history,
                "attention_history": attention_history, "scores": scores}


class BeamSearchLoop(_CompiledSearch):
    """Beam search as one Keras model: `keras_attn.inference.search.beam_search`
    (alive and finished hypotheses, the GNMT length penalty applied to the
    finished ones during the search, and its stopping rule) written in
    `keras.ops` inside `ops.while_loop`. `source_ids (b, s)` → the final
    sets, `{"steps", "finished_scores" (b, k), "finished_history" (b, k, T),
    "finished_attention" (b, k, T, s), "alive_scores" (b, k),
    "alive_history" (b*k, T), "alive_attention" (b*k, T, s)}`.
    """

    def __init__(self, model, max_length, beam_size, alpha, **kwargs):
        super().__init__(model, max_length, name="beam_search_loop", **kwargs)
        self.beam_size, self.alpha = beam_size, alpha

    def call(self, inputs):
        source_ids, end_id = inputs[self.prompt_name], self.end_id
        k, steps, alpha = (self.setting(inputs, name) for name in ("beam_size", "max_length", "alpha"))
        batch, source_length = ops.shape(source_ids)[0], ops.shape(source_ids)[1]
        memory = self._prefill(ops.repeat(source_ids, k, axis=0), steps)
        row_starts = ops.expand_dims(ops.arange(batch, dtype="int32"), 1)

        def not_done(step, tokens, alive_scores, alive_history, alive_attention, finished_scores, finished_history,
                     finished_attention, memory):
            can_win = search.can_improve(alive_scores, finished_scores, ops.cast(steps, "float32"), alpha, xp=ops)
            return ops.logical_and(ops.less(step, steps), ops.any(can_win))

        def advance(step, tokens, alive_scores, alive_history, alive_attention, finished_scores, finished_history,
                    finished_attention, memory):
            outputs = self._step(memory, tokens, step)
            log_probs = search.token_log_probs(outputs["logits"], self.pad_id, xp=ops)
            vocabulary_size = ops.shape(log_probs)[-1]
            log_probs = ops.reshape(log_probs, (batch, k, vocabulary_size))
            candidates = ops.reshape(ops.expand_dims(alive_scores, -1) + log_probs, (batch, k * vocabulary_size))
            scores, top = ops.top_k(candidates, 2 * k)
            top = ops.cast(top, "int32")
            parent, token = top // vocabulary_size, top % vocabulary_size
            parent_rows = ops.reshape(row_starts * k + parent, (-1,))  # (b * 2k,)
            history = write_step(ops.take(alive_history, parent_rows, axis=0), step, ops.reshape(token, (-1,)))
            step_attention = ops.take(ops.cast(outputs["attention"], "float32"), parent_rows, axis=0)
            attention = write_step(ops.take(alive_attention, parent_rows, axis=0), step, step_attention)
            ends = ops.equal(token, end_id)

            # Finished: the k best of the old and the newly ended, by normalised score.
            penalty = search.length_penalty(ops.cast(step + 1, "float32"), alpha)
            pool_scores = ops.concatenate([finished_scores, ops.where(ends, scores / penalty, -np.inf)], axis=1)
            pool_history = ops.concatenate([finished_history, ops.reshape(history, (batch, 2 * k, steps))], axis=1)
            pool_attention = ops.concatenate(
                [finished_attention, ops.reshape(attention, (batch, 2 * k, steps, source_length))], axis=1
            )
            finished_scores, keep = ops.top_k(pool_scores, k)
            keep = ops.cast(keep, "int32")
            finished_history = ops.take_along_axis(pool_history, ops.expand_dims(keep, -1), axis=1)
            finished_attention = ops.take_along_axis(pool_attention, ops.reshape(keep, (batch, k, 1, 1)), axis=1)

            # Alive: the k best that did not end.
            alive_scores, pick = ops.top_k(ops.where(ends, -np.inf, scores), k)
            picked = ops.reshape(row_starts * (2 * k) + ops.cast(pick, "int32"), (-1,))  # (b * k,) of (b * 2k)
            tokens = ops.take(ops.reshape(token, (-1,)), picked, axis=0)
            order = ops.take(parent_rows, picked, axis=0)
            return (step + 1, tokens, alive_scores, ops.take(history, picked, axis=0),
                    ops.take(attention, picked, axis=0), finished_scores, finished_history, finished_attention,
                    search.next_state(memory, outputs, order, xp=ops))

        first = ops.where(ops.equal(ops.arange(k), 0), 0.0, -np.inf)  # one live beam at first
        state = ops.while_loop(
            not_done,
            advance,
            (
                ops.convert_to_tensor(0, "int32"),
                ops.full((batch * k,), self.start_id, "int32"),
                ops.zeros((batch, k), "float32") + first,
                ops.full((batch * k, steps), self.pad_id, "int32"),
                ops.zeros((batch * k, steps, source_length), "float32"),
                ops.full((batch, k), -np.inf, "float32"),
                ops.full((batch, k, steps), self.pad_id, "int32"),
                ops.zeros((batch, k, steps, source_length), "float32"),
                memory,
            ),
        )
        step, _, alive_scores, alive_history, alive_attention, finished_scores, finished_history, finished_attention, _ = state
        return {"steps": ops.zeros((batch,), "int32") + step, "alive_scores": alive_scores,
                "alive_history": alive_history, "alive_attention": alive_attention, "finished_scores": finished_scores,
                "finished_history": finished_history, "finished_attention": finished_attention}


# One compiled search per model and search shape, reused across calls.
_search_loops = weakref.WeakKeyDictionary()


def _run(model, loop_class, source_ids, arguments, beam_size=None, alpha=None):
    """The `DecodeResult` of the compiled search `loop_class(model,
    *arguments)` on `source_ids` (greedy's, or beam search's when
    `beam_size` is given)."""
    loops = _search_loops.setdefault(model, {})
    key = (loop_class, *arguments, fused_attention_enabled())  # the switch is read when tracing
    if key not in loops:
        loops[key] = loop_class(model, *arguments)

    def run(prompt):
        padded, batch = pad_rows(prompt, batch_multiple())
        outputs = loops[key].predict_on_batch({model.prompt_name: padded})
        return {name: value[: batch * len(value) // len(padded)] for name, value in outputs.items()}

    return search.whole_search_result(run, source_ids, source_ids.shape[1], model.pad_id, beam_size, alpha)


def checked_inputs(model, source_ids, max_length, beam_size=1):
    """`(prompt ids, steps, beam size)` for a search, or a `ValueError` that
    names the argument: integer ids of rank 2 within the prompt vocabulary
    and position table, steps within the target position table (at most
    `MAX_UNBOUNDED_STEPS` without one), a beam within `check_beam_size`."""
    generation_models(model)
    source_limit, target_limit = model.position_limits()
    source_ids = check_token_ids("source_ids", source_ids, model.prompt_vocabulary_size, source_limit)
    steps = model.default_max_length(source_ids.shape[1]) if max_length is None else max_length
    steps = check_range("max_length", steps, 1, target_limit or MAX_UNBOUNDED_STEPS)
    return source_ids, steps, check_beam_size(beam_size, len(source_ids), model.target_vocabulary_size)


def greedy_decode(model, source_ids, max_length=None):
    """Greedy decoding; returns a `keras_attn.inference.search.DecodeResult`."""
    source_ids, max_length, _ = checked_inputs(model, source_ids, max_length)
    return _run(model, SearchLoop, source_ids, (max_length,))


def beam_decode(model, source_ids, beam_size=4, alpha=0.6, max_length=None):
    """Beam search with GNMT length normalisation; returns a `DecodeResult`."""
    source_ids, max_length, beam_size = checked_inputs(model, source_ids, max_length, beam_size)
    alpha = check_non_negative("alpha", alpha)
    return _run(model, BeamSearchLoop, source_ids, (max_length, beam_size, alpha), beam_size, alpha)
