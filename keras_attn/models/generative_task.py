"""The base of every model that generates token sequences.

Generation is one protocol, whatever the architecture (see
`keras_attn.inference.search`):

- `prefill_model()`: `{prompt_name: prompt ids (b, s)}` → the state, a dict
  of named tensors (an encoder's outputs, a recurrent state, key/value
  caches, ...);
- `step_model()`: `{"token_ids" (b, 1), "step" (b,), prompt_name, **state}`
  → `{"logits" (b, vocab), "attention" (b, s), "next_<name>": ...}` for
  every state entry the step updates.

An encoder-decoder is one case (the prompt is the source, the state its
encoding); a decoder-only model is another (the prompt is its own prefix).
The compiled searches (`generate`, `beam_generate`), the numpy searches
that drive exported artifacts, the parity suite and the exported pieces
(`prefill`, `step`) all use it.
"""

import numpy as np

from keras_attn.inference import decoding
from keras_attn.models.task import TRANSLATION, Piece, Task, build_piece, random_token_ids, token_loss_and_metrics
from keras_attn.tokenizers.vocabulary import END_ID, START_ID
from keras_attn.validation import MAX_UNBOUNDED_STEPS

STEP_INPUTS = {"token_ids": ((None, 1), "int32"), "step": ((None,), "int32")}
# The pieces that are whole searches, and the settings they take at run time, as scalars.
SEARCH_ROLES = ("greedy_search", "beam_search")
GREEDY_SEARCH_INPUTS = {"max_length": ((), "int32")}
BEAM_SEARCH_INPUTS = {**GREEDY_SEARCH_INPUTS, "beam_size": ((), "int32"), "alpha": ((), "float32")}


class GenerativeTask(Task):
    """Class attributes: `prompt_name` (the prompt's input name),
    `target_name` (the teacher-forced input of the forward model), `start_id`
    and `end_id` (the tokens generation starts from and ends with),
    `per_step_state` (`{name: axis}` of the state entries with one slot per
    generated position along `axis`, sized by the position table: a search
    of `n` steps keeps only the first `n`, so each step attends over and
    rewrites no more)."""

    task_type = TRANSLATION
    prompt_name = "encoder_token_ids"
    target_name = "decoder_token_ids"
    start_id, end_id = START_ID, END_ID
    per_step_state = {}

    # --- The protocol. ---

    def prefill_model(self):
        raise NotImplementedError

    def step_model(self):
        raise NotImplementedError

    def generation_models(self):
        """`(prefill, step)`, made once per model (they share its weights)."""
        if getattr(self, "_generation_models", None) is None:
            # Not tracked as attributes: they hold no weights of their own.
            object.__setattr__(self, "_generation_models", (self.prefill_model(), self.step_model()))
        return self._generation_models

    @property
    def prompt_vocabulary_size(self):
        raise NotImplementedError

    @property
    def target_vocabulary_size(self):
        raise NotImplementedError

    def position_limits(self):
        """`(longest prompt, most steps)` the position tables allow, `None` where unbounded."""
        return None, None

    def default_max_length(self, prompt_length):
        """Steps when the caller gives none: the position table, else twice the
        prompt plus a margin, within `MAX_UNBOUNDED_STEPS`."""
        return self.position_limits()[1] or min(2 * prompt_length + 10, MAX_UNBOUNDED_STEPS)

    # --- Generation. ---

    def generate(self, prompt_ids, max_length=None):
        """Greedy search, compiled with the model; a `keras_attn.inference.search.DecodeResult`."""
        return decoding.greedy_decode(self, prompt_ids, max_length)

    def beam_generate(self, prompt_ids, beam_size=4, alpha=0.6, max_length=None):
        """Beam search with GNMT length normalisation, compiled with the model."""
        return decoding.beam_decode(self, prompt_ids, beam_size=beam_size, alpha=alpha, max_length=max_length)

    # --- Training and scores. ---

    def default_loss_and_metrics(self):
        return token_loss_and_metrics(self.pad_id)

    def check_ids(self, task):
        """Also refuses a task whose targets start or end with other ids than generation does."""
        super().check_ids(task)
        target = task.tokenizers["target"].vocabulary
        for role in ("start", "end"):
            if getattr(self, f"{role}_id") != getattr(target, f"{role}_id"):
                raise ValueError(f"The model's `{role}_id` is {getattr(self, f'{role}_id')} but {task.name!r}'s "
                                 f"targets use {getattr(target, f'{role}_id')}.")

    def fit_inputs(self, task, split):
        return task.model_inputs(split)

    def evaluate_task(self, task, split, batch_size=64, limit=None, beam_size=None):
        from keras_attn.training import scoring

        def decode(prompt_ids, max_length):
            if beam_size is not None:
                return self.beam_generate(prompt_ids, beam_size=beam_size, max_length=max_length).tokens
            return self.generate(prompt_ids, max_length=max_length).tokens

        scores = scoring.translation_scores(task, split, decode, batch_size, limit)
        prefix = f"{split}_" + (f"beam{beam_size}_" if beam_size is not None else "")
        return {f"{prefix}{key}": value for key, value in scores.items()}

    # --- Export. ---

    @property
    def aligned_input(self):
        return self.prompt_name

    def export_lengths(self, lengths):
        prompt, target = self.position_limits()
        lengths = lengths or {}
        return {"max_source_length": prompt or lengths.get("max_source_length", 64),
                "max_target_length": target or lengths.get("max_target_length", 64)}

    def generation_pieces(self, prefill, step, prompt_spec, target_spec, state_spec, max_lengths, forward=None):
        """The forward, prefill and step pieces over `prefill` and `step` models
        (the prefill and step of `forward`, the model as exported), and the
        whole greedy and beam searches over them as one graph each
        (`greedy_search`, `beam_search`: `SearchLoop` and `BeamSearchLoop`
        with their settings as inputs); `state_spec` gives the state's input
        specs, `max_lengths` the longest prompt and target."""
        forward = forward or self
        prompt_inputs = {self.prompt_name: prompt_spec}
        step_inputs = {**STEP_INPUTS, **prompt_inputs, **state_spec}
        build_piece(prefill, prompt_inputs)
        build_piece(step, step_inputs)
        prompt_limit = {self.prompt_name: max_lengths[self.prompt_name]}
        return [
            Piece("forward", forward, {**prompt_inputs, self.target_name: target_spec}, max_lengths),
            Piece("prefill", prefill, prompt_inputs, prompt_limit),
            Piece("step", step, step_inputs, prompt_limit),
            Piece("greedy_search", decoding.SearchLoop(forward, max_length=None),
                  {**prompt_inputs, **GREEDY_SEARCH_INPUTS}, prompt_limit),
            Piece("beam_search", decoding.BeamSearchLoop(forward, max_length=None, beam_size=None, alpha=None),
                  {**prompt_inputs, **BEAM_SEARCH_INPUTS}, prompt_limit),
        ]

    def runtime_spec(self, lengths):
        # A model without a position table (an RNN) decodes up to the machine's bound.
        bounded = self.position_limits()[1] is not None
        return {
            "task": self.task_type,
            "prompt_input": self.prompt_name,
            "start_id": self.start_id,
            "end_id": self.end_id,
            "pad_id": self.pad_id,
            # Pieces of a fixed prompt length need their inputs padded to it.
            "fixed_prompt_length": None,
            "max_prompt_length": lengths["max_source_length"],
            "max_steps": lengths["max_target_length"] if bounded else MAX_UNBOUNDED_STEPS,
            "vocabulary_sizes": {self.prompt_name: self.prompt_vocabulary_size},
            "target_vocabulary_size": self.target_vocabulary_size,
        }

    def example_inputs(self, lengths, rng, row_lengths):
        return {self.prompt_name: random_token_ids(rng, row_lengths, self.prompt_vocabulary_size, pad_id=self.pad_id),
                self.target_name: random_token_ids(rng, row_lengths[::-1], self.target_vocabulary_size,
                                                   pad_id=self.pad_id)}

    def real_inputs(self, task, count):
        x, _ = self.fit_inputs(task, "test")
        return {name: value[:count] for name, value in x.items()}

    def role_inputs(self, role, inputs):
        return inputs if role == "forward" else {self.prompt_name: inputs[self.prompt_name]}

    def reference_outputs(self, role, inputs):
        if role == "forward":
            return super().reference_outputs(role, inputs)
        prefill, _ = self.generation_models()
        return {name: np.asarray(value) for name, value in prefill(inputs).items()}
