"""keras-attn: a Keras 3 zoo of attention models that trains on any backend
and exports to SavedModel, TFLite (LiteRT) and ONNX.

Submodules load on first use, so `import keras_attn` stays light and a
numpy-only consumer (the ONNX runtime helpers) never pulls in Keras.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "cli",
    "corpora",
    "data",
    "decoding",
    "export",
    "layers",
    "losses",
    "metrics",
    "models",
    "pretraining",
    "runtime",
    "saving",
    "schedules",
    "search",
    "tasks",
    "text",
    "training",
    "translation",
    "validation",
    "vocabulary",
    "wordpiece",
    "zoo",
)


def load_model(path, compile=True):
    """Loads a `.keras` file with keras-attn's custom objects, in safe mode."""
    from keras_attn.saving import load_model as _load_model

    return _load_model(path, compile=compile)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'keras_attn' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
