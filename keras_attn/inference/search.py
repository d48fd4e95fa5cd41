"""Greedy and beam search over any step-wise generator. numpy only.

A generator is any object with
- `prefill(prompt_ids) → state`: a dict of arrays whose first axis is the
  batch (encoder outputs, recurrent state, key/value caches, the prompt, ...);
- `step(token_ids (b,), step: int, state) → outputs`: a dict with `logits
  (b, vocab)`, `attention (b, prompt_length)` and `next_<name>` for every
  state entry the step updates (inputs and outputs of one exported graph
  cannot share a name). Entries it does not update are never copied or
  reordered: all beams of a row share them.

The Keras models (`keras_attn.inference.decoding`) and the exported ONNX and
TFLite pieces (`keras_attn.runtime`) implement it (`PieceGenerator`), so one
search serves all. The rules every search follows (the length penalty, when
beam search stops, how the state advances, that padding is never generated)
are written once here, over an
array namespace (`NUMPY`, or `keras.ops` in the compiled searches).
"""

import dataclasses
import types

import numpy as np

from keras_attn.tokenizers.vocabulary import END_ID, PAD_ID, START_ID

# The array functions the rules use, as numpy provides them (keras.ops has the same names).
NUMPY = types.SimpleNamespace(take=np.take, max=np.max, min=np.min, any=np.any,
                              cast=lambda x, dtype: np.asarray(x).astype(dtype, copy=False))


@dataclasses.dataclass
class DecodeResult:
    """`tokens (batch, steps)` padded with the model's padding id after its end id; `attention
    (batch, steps, prompt_length)`; `scores (batch,)` the log-probability
    (length-normalised for beam search)."""

    tokens: np.ndarray
    attention: np.ndarray
    scores: np.ndarray


def token_log_probs(logits, pad_id, xp=NUMPY):
    """Log-probabilities `(b, vocab)` of the next token, normalised over every
    token, then with padding made impossible: a search never generates
    `pad_id` (opus-mt's generation config forbids it as well)."""
    if xp is NUMPY:
        log_probs = _log_softmax(np.asarray(logits))
        log_probs[:, pad_id] = -np.inf
        return log_probs
    log_probs = xp.log_softmax(xp.cast(logits, "float32"), axis=-1)
    return xp.where(xp.equal(xp.arange(xp.shape(log_probs)[-1]), pad_id), -np.inf, log_probs)


def length_penalty(length, alpha):
    """GNMT's `((5 + length) / 6) ** alpha` (Wu et al. 2016); alpha 0 turns it off.
    Numbers, numpy arrays and Keras tensors alike."""
    return ((5.0 + length) / 6.0) ** alpha


def can_improve(alive_scores, finished_scores, max_length, alpha, xp=NUMPY):
    """Per row `(batch,)`: whether its best alive hypothesis `(batch, k)` may
    still beat its worst finished one. An alive score can only fall, so its
    best normalised score is its score over the penalty at `max_length`."""
    return xp.max(alive_scores, axis=1) / length_penalty(max_length, alpha) >= xp.min(finished_scores, axis=1)


def next_state(state, outputs, order=None, xp=NUMPY):
    """`state` with each entry the step updated replaced by its `next_<name>`
    output, taken in `order` (the parent rows of the surviving beams) when
    given; the entries it did not update stay as they are."""
    updated = {}
    for name, value in state.items():
        new = outputs.get(f"next_{name}")
        if new is None:
            updated[name] = value
        else:
            updated[name] = xp.cast(new if order is None else xp.take(new, order, axis=0), value.dtype)
    return updated


class PieceGenerator:
    """The generator protocol over two callables that take and return dicts
    of arrays: `prefill({prompt_name}) → state` and `step({"token_ids" (b, 1),
    "step" (b,), prompt_name, **state}) → {"logits", "attention",
    "next_<name>", ...}`. Keras models and exported artifacts both fit it."""

    def __init__(self, prefill, step, prompt_name):
        self.prefill_piece, self.step_piece, self.prompt_name = prefill, step, prompt_name

    def prefill(self, prompt_ids):
        prompt_ids = np.asarray(prompt_ids, "int32")
        state = dict(self.prefill_piece({self.prompt_name: prompt_ids}))
        state[self.prompt_name] = prompt_ids  # the step masks with it
        return state

    def step(self, token_ids, step, state):
        inputs = dict(state)
        inputs["token_ids"] = np.asarray(token_ids, "int32")[:, None]
        inputs["step"] = np.full((len(token_ids),), step, "int32")
        return self.step_piece(inputs)


def _log_softmax(logits):
    logits = logits.astype("float64")
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def greedy_search(generator, prompt_ids, max_length, start_id=START_ID, end_id=END_ID, pad_id=PAD_ID):
    """Picks the most likely token at every step, until `end_id` or `max_length`;
    a row that ended continues with `pad_id`."""
    prompt_ids = np.asarray(prompt_ids, "int32")
    batch = prompt_ids.shape[0]
    state = generator.prefill(prompt_ids)
    tokens = np.full((batch,), start_id, "int32")
    finished = np.zeros((batch,), bool)
    scores = np.zeros((batch,))
    history, attentions = [], []
    for step in range(max_length):
        outputs = generator.step(tokens, step, state)
        state = next_state(state, outputs)
        log_probs, attention = token_log_probs(outputs["logits"], pad_id), np.asarray(outputs["attention"])
        tokens = np.where(finished, pad_id, log_probs.argmax(-1)).astype("int32")
        scores += np.where(finished, 0.0, log_probs.max(-1))
        history.append(tokens)
        attentions.append(np.where(finished[:, None], 0.0, attention))
        finished |= tokens == end_id
        if finished.all():
            break
    return DecodeResult(np.stack(history, 1), np.stack(attentions, 1), scores)


def beam_search(generator, prompt_ids, max_length, beam_size=4, alpha=0.6, start_id=START_ID, end_id=END_ID,
                pad_id=PAD_ID):
    """Beam search with alive and finished hypotheses (Wu et al. 2016; as in
    tensor2tensor), returning the best finished hypothesis of each row.
    The same search, compiled with a Keras model, is
    `keras_attn.inference.decoding.BeamSearchLoop`.

    Each step extends the `beam_size` alive prefixes by every token and keeps
    the `2 * beam_size` best by log-probability: those that end with `[END]`
    join the finished set, scored by log-probability over the GNMT length
    penalty `length_penalty(length, alpha)`, which keeps its `beam_size` best;
    the best `beam_size` others stay alive. A longer hypothesis thus competes
    under the penalty as soon as it ends, however low its raw score fell
    while alive. The search stops when no alive hypothesis can beat the worst
    finished one (`can_improve`), or at `max_length`; a row
    with nothing finished then returns its best alive hypothesis. Reported
    scores are normalised and finite.
    """
    prompt_ids = np.asarray(prompt_ids, "int32")
    batch, k = prompt_ids.shape[0], beam_size
    state = generator.prefill(np.repeat(prompt_ids, k, axis=0))
    rows = np.arange(batch)[:, None]
    alive_scores = np.tile([0.0] + [-np.inf] * (k - 1), (batch, 1))  # one live beam at first
    alive_history = np.zeros((batch, k, 0), "int32")
    alive_attention = None
    finished_scores = np.full((batch, k), -np.inf)
    finished_history = np.full((batch, k, max_length), pad_id, "int32")
    finished_attention = None
    tokens = np.full((batch * k,), start_id, "int32")
    for step in range(max_length):
        outputs = generator.step(tokens, step, state)
        log_probs = token_log_probs(outputs["logits"], pad_id).reshape(batch, k, -1)
        vocabulary_size = log_probs.shape[-1]
        candidates = (alive_scores[:, :, None] + log_probs).reshape(batch, -1)
        # The 2k best in linear time, then sorted (a full argsort of k x vocabulary cost more than the model).
        top = np.argpartition(-candidates, 2 * k - 1, axis=1)[:, : 2 * k]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(candidates, top, axis=1), axis=1, kind="stable"), 1)
        scores = np.take_along_axis(candidates, top, axis=1)
        parent, token = top // vocabulary_size, (top % vocabulary_size).astype("int32")
        attention = np.asarray(outputs["attention"]).reshape(batch, k, 1, -1)
        if alive_attention is None:
            alive_attention = np.zeros((batch, k, 0, attention.shape[-1]))
            finished_attention = np.zeros((batch, k, max_length, attention.shape[-1]))
        history = np.concatenate([alive_history[rows, parent], token[:, :, None]], axis=2)
        weights = np.concatenate([alive_attention[rows, parent], attention[rows, parent]], axis=2)
        ends = token == end_id

        # Finished: the k best of the old and the newly ended, by normalised score.
        ended_scores = np.where(ends, scores / length_penalty(step + 1, alpha), -np.inf)
        padded = np.full((batch, 2 * k, max_length - step - 1), pad_id, "int32")
        pool_scores = np.concatenate([finished_scores, ended_scores], axis=1)
        pool_history = np.concatenate([finished_history, np.concatenate([history, padded], axis=2)], axis=1)
        pool_attention = np.concatenate(
            [finished_attention, np.concatenate([weights, np.zeros(padded.shape + (weights.shape[-1],))], axis=2)], 1
        )
        keep = np.argsort(-pool_scores, axis=1, kind="stable")[:, :k]
        finished_scores = np.take_along_axis(pool_scores, keep, axis=1)
        finished_history, finished_attention = pool_history[rows, keep], pool_attention[rows, keep]

        # Alive: the k best that did not end.
        alive_pick = np.argsort(-np.where(ends, -np.inf, scores), axis=1, kind="stable")[:, :k]
        alive_scores = np.where(np.take_along_axis(ends, alive_pick, 1), -np.inf, np.take_along_axis(scores, alive_pick, 1))
        alive_history, alive_attention = history[rows, alive_pick], weights[rows, alive_pick]
        order = (rows * k + np.take_along_axis(parent, alive_pick, 1)).reshape(-1)
        state = next_state(state, outputs, order)
        tokens = np.take_along_axis(token, alive_pick, 1).reshape(-1)
        if not np.any(can_improve(alive_scores, finished_scores, max_length, alpha)):
            break
    steps = alive_history.shape[2]
    return best_hypotheses(
        finished_scores, finished_history[:, :, :steps], finished_attention[:, :, :steps],
        alive_scores / length_penalty(steps, alpha), alive_history, alive_attention,
    )


def best_hypotheses(finished_scores, finished_history, finished_attention, alive_scores, alive_history,
                    alive_attention):
    """The best finished hypothesis of each row, or its best alive one when
    none finished. Scores are normalised; arrays are `(batch, beams, ...)`:
    histories `(…, steps)`, attention `(…, steps, source_length)`."""
    rows = np.arange(len(finished_scores))
    any_finished = np.isfinite(finished_scores).any(axis=1)
    finished, alive = finished_scores.argmax(axis=1), alive_scores.argmax(axis=1)
    pick = lambda a, b: np.where(any_finished.reshape((-1,) + (1,) * (a.ndim - 2)), a[rows, finished], b[rows, alive])  # noqa: E731
    return DecodeResult(pick(finished_history, alive_history), pick(finished_attention, alive_attention),
                        pick(finished_scores, alive_scores))


def pad_to(ids, length, pad_id=PAD_ID):
    """Right-pads int ids to `length` columns with `pad_id` (or refuses if they are longer)."""
    ids = np.asarray(ids, "int32")
    if ids.shape[1] > length:
        raise ValueError(f"Inputs of length {ids.shape[1]} exceed the fixed length {length}.")
    return np.pad(ids, ((0, 0), (0, length - ids.shape[1])), constant_values=pad_id)


def whole_search_result(run, prompt_ids, width, pad_id, beam_size=None, alpha=None):
    """The `DecodeResult` of a whole search run as one graph: `run(prompt)`
    gives its outputs on `prompt_ids` right-padded to `width` columns with
    `pad_id`; greedy's, or beam search's when `beam_size` is given, with the
    attention over the caller's columns."""
    prompt_ids = np.asarray(prompt_ids, "int32")
    outputs = run(pad_to(prompt_ids, width, pad_id))
    result = greedy_result(outputs) if beam_size is None else beam_result(outputs, beam_size, alpha)
    result.attention = result.attention[..., : prompt_ids.shape[1]]
    return result


def greedy_result(outputs):
    """The `DecodeResult` of a whole greedy search run as one graph (the
    compiled `SearchLoop`, or its export): `{"steps", "history",
    "attention_history", "scores"}` cut to the steps it took."""
    steps = int(outputs["steps"][0])
    return DecodeResult(outputs["history"][:, :steps], outputs["attention_history"][:, :steps],
                        np.asarray(outputs["scores"], "float64"))


def beam_result(outputs, beam_size, alpha):
    """The `DecodeResult` of a whole beam search run as one graph (the
    compiled `BeamSearchLoop`, or its export): its final alive and finished
    sets, cut to the steps it took, then `best_hypotheses`."""
    steps, batch = int(outputs["steps"][0]), len(outputs["finished_scores"])
    return best_hypotheses(
        _impossible_as_inf(outputs["finished_scores"]), outputs["finished_history"][:, :, :steps],
        outputs["finished_attention"][:, :, :steps],
        _impossible_as_inf(outputs["alive_scores"]) / length_penalty(steps, alpha),
        outputs["alive_history"][:, :steps].reshape((batch, beam_size, steps)),
        outputs["alive_attention"][:, :steps].reshape((batch, beam_size, steps, -1)),
    )


def _impossible_as_inf(scores):
    """Scores in float64, float32's lowest value read as `-inf`: LiteRT's
    converter stores the searches' `-inf` constants as that value, which no
    real score reaches."""
    scores = np.asarray(scores, "float64")
    return np.where(scores <= np.finfo("float32").min, -np.inf, scores)
