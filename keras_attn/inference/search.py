"""Greedy and beam search over any step-wise decoder. numpy only.

A decoder is any object with
- `encode(source_ids) → memory`: a dict of arrays whose first axis is the
  batch (encoder outputs, recurrent state or key/value cache, ...);
- `step(token_ids (b,), step: int, memory) → (logits (b, vocab),
  attention (b, source_length), memory)`. Entries the step does not
  update come back as the same objects; beam search never reorders those
  (all beams of a row share them), so the encoded source is not copied at
  every step.

Decoder-step models name their updated memory `next_<name>` (inputs and
outputs of one exported graph cannot share a name); `next_memory` applies
such outputs.

The Keras models (`keras_attn.decoding`) and the exported ONNX and TFLite
pieces (`keras_attn.runtime`) implement it, so one search serves all.
"""

import dataclasses

import numpy as np

from keras_attn.tokenizers.vocabulary import END_ID, PAD_ID, START_ID


@dataclasses.dataclass
class DecodeResult:
    """`tokens (batch, steps)` padded with 0 after `[END]`; `attention
    (batch, steps, source_length)`; `scores (batch,)` the log-probability
    (length-normalised for beam search)."""

    tokens: np.ndarray
    attention: np.ndarray
    scores: np.ndarray


def next_memory(memory, step_outputs):
    """`memory` with each entry replaced by the step's `next_<name>` output, if any."""
    return {name: step_outputs.get(f"next_{name}", value) for name, value in memory.items()}


class PieceDecoder:
    """The decoder protocol over two callables taking and returning dicts of
    arrays: `encoder({"encoder_token_ids"}) → memory` and
    `decoder_step({"token_ids" (b, 1), "step" (b,), **memory}) → {"logits",
    "attention", "next_<name>", ...}`. Keras models and exported artifacts
    both fit it."""

    def __init__(self, encoder, decoder_step):
        self.encoder, self.decoder_step = encoder, decoder_step

    def encode(self, source_ids):
        source_ids = np.asarray(source_ids, "int32")
        memory = dict(self.encoder({"encoder_token_ids": source_ids}))
        memory["encoder_token_ids"] = source_ids
        return memory

    def step(self, token_ids, step, memory):
        inputs = dict(memory)
        inputs["token_ids"] = np.asarray(token_ids, "int32")[:, None]
        inputs["step"] = np.full((len(token_ids),), step, "int32")
        outputs = self.decoder_step(inputs)
        return outputs["logits"], outputs["attention"], next_memory(memory, outputs)


def _log_softmax(logits):
    logits = logits.astype("float64")
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def greedy_search(decoder, source_ids, max_length, start_id=START_ID, end_id=END_ID):
    """Picks the most likely token at every step, until `[END]` or `max_length`."""
    source_ids = np.asarray(source_ids, "int32")
    batch = source_ids.shape[0]
    memory = decoder.encode(source_ids)
    tokens = np.full((batch,), start_id, "int32")
    finished = np.zeros((batch,), bool)
    scores = np.zeros((batch,))
    outputs, attentions = [], []
    for step in range(max_length):
        logits, attention, memory = decoder.step(tokens, step, memory)
        log_probs = _log_softmax(logits)
        tokens = np.where(finished, PAD_ID, log_probs.argmax(-1)).astype("int32")
        scores += np.where(finished, 0.0, log_probs.max(-1))
        outputs.append(tokens)
        attentions.append(np.where(finished[:, None], 0.0, attention))
        finished |= tokens == end_id
        if finished.all():
            break
    return DecodeResult(np.stack(outputs, 1), np.stack(attentions, 1), scores)


def length_penalty(length, alpha):
    """GNMT's `((5 + length) / 6) ** alpha` (Wu et al. 2016); alpha 0 turns it off."""
    return ((5.0 + length) / 6.0) ** alpha


def beam_search(decoder, source_ids, max_length, beam_size=4, alpha=0.6, start_id=START_ID, end_id=END_ID):
    """Keeps the `beam_size` best prefixes; returns the best finished one per row,
    ranked by log-probability divided by `length_penalty(length, alpha)`."""
    source_ids = np.asarray(source_ids, "int32")
    batch = source_ids.shape[0]
    memory = encoded = decoder.encode(np.repeat(source_ids, beam_size, axis=0))
    scores = np.tile([0.0] + [-np.inf] * (beam_size - 1), (batch, 1))  # one live beam at first
    tokens = np.full((batch * beam_size,), start_id, "int32")
    finished = np.zeros((batch, beam_size), bool)
    lengths = np.zeros((batch, beam_size), "int32")
    history = np.zeros((batch, beam_size, 0), "int32")
    attention_history = None
    for step in range(max_length):
        logits, attention, memory = decoder.step(tokens, step, memory)
        log_probs = _log_softmax(logits).reshape(batch, beam_size, -1)
        vocabulary_size = log_probs.shape[-1]
        # A finished beam only extends with padding, at no cost.
        log_probs[finished] = -np.inf
        log_probs[finished, PAD_ID] = 0.0
        candidates = (scores[:, :, None] + log_probs).reshape(batch, -1)
        # The top `beam_size` in linear time, then sorted: a full argsort of
        # beams x vocabulary per step cost more than the model.
        top = np.argpartition(-candidates, beam_size - 1, axis=1)[:, :beam_size]
        ranked = np.argsort(-np.take_along_axis(candidates, top, axis=1), axis=1, kind="stable")
        best = np.take_along_axis(top, ranked, axis=1)
        beam, token = best // vocabulary_size, (best % vocabulary_size).astype("int32")
        rows = np.arange(batch)[:, None]
        scores = candidates[rows, best]
        was_finished = finished[rows, beam]
        lengths = lengths[rows, beam] + ~was_finished
        finished = was_finished | (token == end_id)
        history = np.concatenate([history[rows, beam], token[:, :, None]], axis=2)
        attention = attention.reshape(batch, beam_size, 1, -1)[rows, beam]
        attention = np.where(was_finished[:, :, None, None], 0.0, attention)
        attention_history = (
            attention if attention_history is None
            else np.concatenate([attention_history[rows, beam], attention], axis=2)
        )
        order = (rows * beam_size + beam).reshape(-1)
        # The beams of a row share the entries that no step has replaced yet
        # (the encoded source); only the updated ones follow their beam.
        memory = {name: value if value is encoded[name] else value[order] for name, value in memory.items()}
        tokens = token.reshape(-1)
        if finished.all():
            break
    return best_hypotheses(history, attention_history, scores, lengths, finished, alpha)


def best_hypotheses(history, attention_history, scores, lengths, finished, alpha):
    """The best beam of each row, finished ones first, ranked by
    `scores / length_penalty(lengths, alpha)`. Arrays are `(batch, beams, ...)`:
    `history (…, steps)`, `attention_history (…, steps, source_length)`."""
    normalized = scores / length_penalty(np.maximum(lengths, 1), alpha)
    normalized = np.where(finished, normalized, normalized - 1e9)  # prefer finished hypotheses
    choice = normalized.argmax(axis=1)
    rows = np.arange(len(choice))
    return DecodeResult(history[rows, choice], attention_history[rows, choice], normalized[rows, choice])
