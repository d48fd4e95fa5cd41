"""The decoder recurrence of Bahdanau, Cho and Bengio (2015)."""

import keras
from keras import ops

from keras_attn.layers.bahdanau_attention import BahdanauAttention
from keras_attn.layers.fixed_length_loop import fixed_steps, write_step
from keras_attn.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_attn")
class BahdanauDecoder(keras.layers.Layer):
    """The paper's decoder: at step `i` the previous state `s_{i-1}` queries
    the annotations `h` (`e_ij = v^T tanh(W s_{i-1} + U h_j)`, padding masked)
    for the context `c_i`, and the GRU reads `[y_{i-1}; c_i]`:
    `s_i = GRU([y_{i-1}; c_i], s_{i-1})`. The context feeds the recurrence;
    an output layer then reads `s_i`, `c_i` and `y_{i-1}`.

    Args:
        units: the GRU's state size (and the attention's hidden width).
        loop: `"scan"` (training: `keras.ops.scan`) or `"while"` (exports: a
            `keras.ops.fori_loop` over a fixed number of steps that writes
            each step into preallocated outputs). `scan` collects its
            outputs in tensor lists, which TFLite's builtin ops cannot run;
            the `while` form lowers to TFLite's builtin WHILE and ONNX's
            Loop, and its graph does not grow with the length (a Python
            unrolled loop of 64 steps took 20 GB to convert to ONNX).

    Call arguments:
        inputs: `(batch, steps, dim)`, the embeddings of `y_0 .. y_{T-1}`.
        annotations: `(batch, source_length, key_dim)`.
        initial_state: `(batch, units)`, `s_0`.
        keys_mask: optional `(batch, source_length)`, true for real tokens.

    Returns `(states (batch, steps, units), contexts (batch, steps, key_dim))`.

    Example:
    >>> import numpy as np
    >>> decoder = BahdanauDecoder(units=8)
    >>> states, contexts = decoder(np.ones((2, 5, 4)), np.ones((2, 3, 6)), np.zeros((2, 8)))
    >>> tuple(states.shape), tuple(contexts.shape)
    ((2, 5, 8), (2, 5, 6))
    """

    def __init__(self, units, loop="scan", **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        if loop not in ("scan", "while"):
            raise ValueError(f"`loop` must be 'scan' or 'while', got {loop!r}.")
        self.loop = loop
        self.attention = BahdanauAttention(units, name="attention", dtype=self.dtype_policy)
        self.cell = keras.layers.GRUCell(units, name="cell", dtype=self.dtype_policy)

    def build(self, inputs_shape, annotations_shape, initial_state_shape=None):
        self.attention.build((None, 1, self.units), annotations_shape)
        self.cell.build((None, inputs_shape[-1] + annotations_shape[-1]))

    def step(self, inputs, state, annotations, keys_mask=None, projected_keys=None):
        """One step: `inputs (batch, dim)` the embedding of `y_{i-1}`, `state`
        `s_{i-1}` → `(s_i, c_i, attention weights (batch, source_length))`.
        `projected_keys` is `attention.project_keys(annotations)`, if the
        caller has it: the loops below project the annotations once, not at
        every step."""
        context, weights = self.attention(
            ops.expand_dims(state, 1), annotations, keys_mask=keys_mask, return_attention_scores=True,
            projected_keys=projected_keys,
        )
        context, weights = ops.squeeze(context, 1), ops.squeeze(weights, 1)
        new_state, _ = self.cell(ops.concatenate([inputs, context], axis=-1), [state])
        return new_state, context, weights

    def call(self, inputs, annotations, initial_state, keys_mask=None):
        projected_keys = self.attention.project_keys(annotations)
        if self.loop == "while":
            return self._while_loop(inputs, annotations, initial_state, keys_mask, projected_keys)

        # The carry is (state, context), and so is each step's output: Keras's
        # TensorFlow `scan` wants outputs of the carry's structure and shapes.
        def advance(carry, x):
            state, context, _ = self.step(x, carry[0], annotations, keys_mask, projected_keys)
            return (state, context), (state, context)

        no_context = ops.zeros_like(annotations[:, 0, :])
        _, (states, contexts) = ops.scan(advance, (initial_state, no_context), ops.transpose(inputs, (1, 0, 2)))
        return ops.transpose(states, (1, 0, 2)), ops.transpose(contexts, (1, 0, 2))

    def _while_loop(self, inputs, annotations, initial_state, keys_mask, projected_keys):
        steps = fixed_steps(inputs, "`loop='while'`")

        def advance(i, carry):
            state, states, contexts = carry
            state, context, _ = self.step(ops.take(inputs, i, axis=1), state, annotations, keys_mask, projected_keys)
            return state, write_step(states, i, state), write_step(contexts, i, context)

        batch = ops.shape(inputs)[0]
        states = ops.zeros((batch, steps, self.units), self.compute_dtype)
        contexts = ops.zeros((batch, steps, annotations.shape[-1]), self.compute_dtype)
        _, states, contexts = ops.fori_loop(0, steps, advance, (initial_state, states, contexts))
        return states, contexts

    def compute_output_spec(self, inputs, annotations, initial_state, keys_mask=None):
        batch, steps = inputs.shape[0], inputs.shape[1]
        if self.loop == "while":
            fixed_steps(inputs, "`loop='while'`")
        return (
            keras.KerasTensor((batch, steps, self.units), self.compute_dtype),
            keras.KerasTensor((batch, steps, annotations.shape[-1]), self.compute_dtype),
        )

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "loop": self.loop})
        return config

    @classmethod
    def from_config(cls, config):
        # Models saved before the `while` loop carry `unroll` (False in every
        # training model: the unrolled form existed only in export copies).
        config = dict(config)
        config.pop("unroll", None)
        return cls(**config)
