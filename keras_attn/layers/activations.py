"""Activations that every export target runs."""

import keras


@keras.saving.register_keras_serializable(package="keras_attn")
def gelu_tanh(x):
    """GELU with the tanh approximation (Hendrycks & Gimpel 2016).

    Used by the BERT models instead of the exact `erf` form: TensorFlow
    computes the exact form with `Erfc`, which ONNX has no operator for;
    the two differ by less than 1e-3.

    Example:
    >>> import numpy as np
    >>> round(float(gelu_tanh(np.array(1.0))), 4)
    0.8412
    """
    return keras.activations.gelu(x, approximate=True)
