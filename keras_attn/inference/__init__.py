"""Inference: search, decoding and translation.

- `search`: greedy and beam search in numpy over any step-wise decoder (the
  exported pieces run on it; no Keras needed);
- `decoding`: the same searches compiled with a Keras model;
- `translation`: text in, text out, with the attention plot.
"""

from keras_attn import _lazy

__getattr__, __dir__ = _lazy.submodules(__name__, ("decoding", "search", "translation"))
