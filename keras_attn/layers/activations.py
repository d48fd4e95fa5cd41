"""Activations that every export target runs, by the names the models take."""

import math

import keras
from keras import ops

from keras_attn.validation import check_choice


@keras.saving.register_keras_serializable(package="keras_attn")
def gelu_tanh(x):
    """GELU with the tanh approximation (Hendrycks & Gimpel 2016): the zoo's
    own BERTs, and Hugging Face's `gelu_new` / `gelu_pytorch_tanh`.

    Example:
    >>> import numpy as np
    >>> round(float(gelu_tanh(np.array(1.0))), 4)
    0.8412
    """
    return keras.activations.gelu(x, approximate=True)


@keras.saving.register_keras_serializable(package="keras_attn")
def gelu_erf(x):
    """The exact GELU, `x Φ(x)`, written with `erf`: Hugging Face's `gelu`.

    Not `keras.activations.gelu(approximate=False)`: TensorFlow computes that
    with `Erfc`, which ONNX has no operator for. `erf` converts to ONNX's
    `Erf`, and TFLite's converter fuses this form into its builtin `GELU`.

    Example:
    >>> import numpy as np
    >>> round(float(gelu_erf(np.array(1.0))), 4)
    0.8413
    """
    return 0.5 * x * (1.0 + ops.erf(x * (1.0 / math.sqrt(2.0))))


# `swish` is `x * sigmoid(x)` (SiLU; Marian's, Hugging Face's `swish`/`silu`): builtin ops in both export targets.
ACTIVATIONS = {"gelu_tanh": gelu_tanh, "gelu": gelu_erf, "relu": keras.activations.relu, "swish": keras.activations.silu}


def activation(name):
    """The activation a model setting names (a key of `ACTIVATIONS`)."""
    return ACTIVATIONS[check_choice("activation", name, ACTIVATIONS)]
