"""Loading keras-attn models.

Keras finds custom classes through a registry filled at import time, so a
`.keras` file that holds keras-attn layers, task models, metrics or schedules
loads only once their modules are imported. `load_model` imports them all
and loads with `safe_mode=True` (no code is ever deserialized).
"""

import importlib
import os
import re
import zipfile

import keras

_MODULES = (
    "keras_attn.layers",
    "keras_attn.models",
    "keras_attn.training.metrics",
    "keras_attn.training.schedules",
)


def register_all():
    """Imports every module that registers serializable keras-attn objects."""
    for module in _MODULES:
        importlib.import_module(module)


def load_model(path, compile=True):
    """`keras.saving.load_model(path, safe_mode=True)` with keras-attn's objects
    registered. A missing, truncated or corrupt file, or one naming a class
    keras-attn does not have, is a `ValueError` that names it."""
    register_all()
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such model file.")
    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except (ValueError, zipfile.BadZipFile, KeyError, EOFError, UnicodeDecodeError) as error:
        # Keras says "File not found" of a truncated zip: name what is wrong instead.
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"{path}: not a readable .keras file ({detail}).") from None
    except TypeError as error:
        unknown = re.match(r"Could not locate class '([^']*)'", str(error))
        if unknown is None:
            raise  # a class that failed to rebuild from its config: a bug, not a bad file
        raise ValueError(f"{path}: its config names a class keras-attn does not have ({unknown.group(1)!r}); "
                         "was it saved by another library or a newer keras-attn?") from None


def float32_copy(model):
    """`model` rebuilt to compute in float32, with the same weights; `model`
    itself when it already does.

    A model trained under `mixed_bfloat16` keeps that policy in its config.
    Its variables are float32 already, so the copy computes what the model
    computes, minus the bfloat16 rounding. Exports use it: TFLite's builtin
    ops and ONNX Runtime's CPU kernels have no bfloat16 matmul.
    """
    serialized = keras.saving.serialize_keras_object(model)
    serialized.pop("compile_config", None)  # an export copy is never trained
    rewritten = _float32_policies(serialized)
    if rewritten == serialized:
        return model
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")  # for any layer its config leaves to the global policy
    try:
        copy = keras.saving.deserialize_keras_object(rewritten, safe_mode=True)
    finally:
        keras.config.set_dtype_policy(previous)
    copy.set_weights(model.get_weights())
    return copy


def _float32_policies(config):
    """`config` with every `dtype` entry that computes in reduced precision
    (`mixed_bfloat16`, `float16`, ...) replaced by `"float32"`."""
    if isinstance(config, dict):
        return {
            key: "float32" if key == "dtype" and _reduced_precision(value) else _float32_policies(value)
            for key, value in config.items()
        }
    if isinstance(config, list):
        return [_float32_policies(value) for value in config]
    return config


def _reduced_precision(dtype):
    """Whether a serialized dtype or dtype policy computes in 16 bits."""
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name")
    return dtype in ("mixed_bfloat16", "mixed_float16", "bfloat16", "float16")
