"""Loading keras-attn models.

Keras finds custom classes through a registry filled at import time, so a
`.keras` file that holds keras-attn layers, task models, losses or metrics
loads only once their modules are imported. `load_model` imports them all
and loads with `safe_mode=True` (no code is ever deserialized).
"""

import importlib

import keras

_MODULES = (
    "keras_attn.layers",
    "keras_attn.losses",
    "keras_attn.metrics",
    "keras_attn.schedules",
    "keras_attn.models.bert",
)


def register_all():
    """Imports every module that registers serializable keras-attn objects."""
    for module in _MODULES:
        importlib.import_module(module)


def load_model(path, compile=True):
    """`keras.saving.load_model(path, safe_mode=True)` with keras-attn's objects registered."""
    register_all()
    return keras.saving.load_model(path, compile=compile, safe_mode=True)
