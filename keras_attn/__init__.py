"""keras-attn: a Keras 3 zoo of attention models that trains on any backend
and exports to SavedModel, TFLite (LiteRT) and ONNX.

Submodules load on first use, so `import keras_attn` stays light and a
numpy-only consumer (the ONNX runtime helpers) never pulls in Keras.

Layout: `layers`, `models` (backbones and task classes) and `zoo`;
`checkpoints` (published Hugging Face BERTs in and out);
`tokenizers` and `data`; `run_directory`; `training`; `inference` (search,
decoding, translation); `runtime` (exported models without TensorFlow or
Keras).
TensorFlow-only: `export` and `tokenizers.tf_wordpiece` /
`tokenizers.tf_graph` (see `TENSORFLOW_ONLY`); everything else imports
without TensorFlow.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "checkpoints",
    "cli",
    "data",
    "export",
    "inference",
    "integrity",
    "layers",
    "models",
    "progress",
    "run_directory",
    "runtime",
    "saving",
    "tokenizers",
    "training",
    "validation",
    "zoo",
)


# The modules that need TensorFlow; the rest of the package never imports them.
TENSORFLOW_ONLY = ("keras_attn.export", "keras_attn.tokenizers.tf_wordpiece", "keras_attn.tokenizers.tf_graph")


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
