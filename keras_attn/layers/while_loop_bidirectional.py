"""A bidirectional RNN run as two `while` loops over a fixed length."""

import keras
from keras import ops

from keras_attn.layers.fixed_length_loop import fixed_steps, write_step


@keras.saving.register_keras_serializable(package="keras_attn")
class WhileLoopBidirectional(keras.layers.Layer):
    """Runs a `keras.layers.Bidirectional` RNN (`return_sequences=True`,
    `return_state=True`, one state per direction, as a GRU has) as two
    `keras.ops.fori_loop`s over its cells, with the same weights and the same
    outputs: `(sequences (batch, steps, 2 * units), forward state, backward
    state)`, zeros at masked positions.

    Exports use it. Keras's RNN collects its steps in tensor lists, which
    TFLite's builtin ops run only at a static element shape (the batch is
    dynamic here), and its `unroll=True` copies the step once per position,
    a graph that grows with the length (a 64-token bidirectional GRU took
    about 100 s to convert to ONNX). This loop writes each step into
    preallocated outputs, so it lowers to TFLite's builtin WHILE and ONNX's
    Loop at any length. The number of steps must be fixed (`inputs.shape[1]`).

    Args:
        layer: the `keras.layers.Bidirectional` to run (or its serialized config).

    Example:
    >>> import numpy as np
    >>> rnn = keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True, return_state=True))
    >>> x, mask = np.ones((2, 5, 3), "float32"), np.array([[1, 1, 1, 0, 0], [1] * 5], bool)
    >>> expected = rnn(x, mask=mask)
    >>> looped = WhileLoopBidirectional(rnn)
    >>> all(np.allclose(a, b, atol=1e-6) for a, b in zip(looped(x, mask=mask), expected))
    True
    """

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if isinstance(layer, dict):
            layer = keras.saving.deserialize_keras_object(layer)
        if not isinstance(layer, keras.layers.Bidirectional):
            raise ValueError(f"`layer` must be a keras.layers.Bidirectional, got {type(layer).__name__}.")
        if not (layer.return_sequences and layer.return_state):
            raise ValueError("`layer` must return sequences and states (`return_sequences=True, return_state=True`).")
        if not all(isinstance(rnn.cell.state_size, int) for rnn in (layer.forward_layer, layer.backward_layer)):
            raise ValueError("`layer` must have one state per direction (a GRU or SimpleRNN, not an LSTM).")
        if layer.merge_mode != "concat":
            raise ValueError(f"`layer` must concatenate its directions (merge_mode 'concat'), got {layer.merge_mode!r}.")
        self.layer = layer
        self.supports_masking = True  # it takes a mask (and gives its outputs none: see `compute_mask`)

    def build(self, input_shape):
        self.layer.build(input_shape)

    def _direction(self, cell, inputs, mask, backwards):
        steps = fixed_steps(inputs, "WhileLoopBidirectional")

        def advance(k, carry):
            state, outputs = carry
            i = steps - 1 - k if backwards else k
            real = ops.expand_dims(ops.take(mask, i, axis=1), -1)
            new_state, _ = cell(ops.take(inputs, i, axis=1), [state])
            state = ops.where(real, new_state, state)  # a masked step keeps the state
            output = ops.where(real, state, ops.zeros_like(state))
            return state, write_step(outputs, i, output)

        batch = ops.shape(inputs)[0]
        state = ops.zeros((batch, cell.units), self.compute_dtype)
        outputs = ops.zeros((batch, steps, cell.units), self.compute_dtype)
        state, outputs = ops.fori_loop(0, steps, advance, (state, outputs))
        return outputs, state

    def call(self, inputs, mask=None):
        mask = ops.ones(ops.shape(inputs)[:2], "bool") if mask is None else ops.cast(mask, "bool")
        forward, forward_state = self._direction(self.layer.forward_layer.cell, inputs, mask, backwards=False)
        backward, backward_state = self._direction(self.layer.backward_layer.cell, inputs, mask, backwards=True)
        return ops.concatenate([forward, backward], axis=-1), forward_state, backward_state

    def compute_mask(self, inputs, mask=None):
        return [None, None, None]  # the padding is the callers' to mask (attention takes it explicitly)

    def compute_output_spec(self, inputs, mask=None):
        batch, steps = inputs.shape[0], fixed_steps(inputs, "WhileLoopBidirectional")
        units = self.layer.forward_layer.cell.units, self.layer.backward_layer.cell.units
        return (
            keras.KerasTensor((batch, steps, sum(units)), self.compute_dtype),
            keras.KerasTensor((batch, units[0]), self.compute_dtype),
            keras.KerasTensor((batch, units[1]), self.compute_dtype),
        )

    def get_config(self):
        config = super().get_config()
        config["layer"] = keras.saving.serialize_keras_object(self.layer)
        return config
