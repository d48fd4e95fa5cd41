"""The decoder recurrence of Bahdanau, Cho and Bengio (2015)."""

import keras
from keras import ops

from keras_attn.layers.bahdanau_attention import BahdanauAttention
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
        unroll: run the recurrence as a Python loop over a fixed number of
            steps instead of `keras.ops.scan`; exports use it, because
            TFLite's builtin ops have no loop over tensor lists.

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

    def __init__(self, units, unroll=False, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        self.unroll = bool(unroll)
        self.attention = BahdanauAttention(units, name="attention", dtype=self.dtype_policy)
        self.cell = keras.layers.GRUCell(units, name="cell", dtype=self.dtype_policy)

    def build(self, inputs_shape, annotations_shape, initial_state_shape=None):
        self.attention.build((None, 1, self.units), annotations_shape)
        self.cell.build((None, inputs_shape[-1] + annotations_shape[-1]))

    def step(self, inputs, state, annotations, keys_mask=None):
        """One step: `inputs (batch, dim)` the embedding of `y_{i-1}`, `state`
        `s_{i-1}` → `(s_i, c_i, attention weights (batch, source_length))`."""
        context, weights = self.attention(
            ops.expand_dims(state, 1), annotations, keys_mask=keys_mask, return_attention_scores=True
        )
        context, weights = ops.squeeze(context, 1), ops.squeeze(weights, 1)
        new_state, _ = self.cell(ops.concatenate([inputs, context], axis=-1), [state])
        return new_state, context, weights

    def call(self, inputs, annotations, initial_state, keys_mask=None):
        if self.unroll:
            state, states, contexts = initial_state, [], []
            for i in range(inputs.shape[1]):
                state, context, _ = self.step(inputs[:, i], state, annotations, keys_mask)
                states.append(state)
                contexts.append(context)
            return ops.stack(states, axis=1), ops.stack(contexts, axis=1)

        # The carry is (state, context), and so is each step's output: Keras's
        # TensorFlow `scan` wants outputs of the carry's structure and shapes.
        def advance(carry, x):
            state, context, _ = self.step(x, carry[0], annotations, keys_mask)
            return (state, context), (state, context)

        no_context = ops.zeros_like(annotations[:, 0, :])
        _, (states, contexts) = ops.scan(advance, (initial_state, no_context), ops.transpose(inputs, (1, 0, 2)))
        return ops.transpose(states, (1, 0, 2)), ops.transpose(contexts, (1, 0, 2))

    def compute_output_spec(self, inputs, annotations, initial_state, keys_mask=None):
        batch, steps = inputs.shape[0], inputs.shape[1]
        return (
            keras.KerasTensor((batch, steps, self.units), self.compute_dtype),
            keras.KerasTensor((batch, steps, annotations.shape[-1]), self.compute_dtype),
        )

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "unroll": self.unroll})
        return config
