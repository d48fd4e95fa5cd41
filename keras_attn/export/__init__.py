"""Export to SavedModel, TFLite and ONNX, and the parity suite that checks
each artifact in its own runtime. Needs TensorFlow, imported lazily."""

from keras_attn.export.exporter import FORMATS, QUANTIZATIONS, export


def verify(directory, model):
    from keras_attn.export.parity import verify as _verify

    return _verify(directory, model)


__all__ = ["FORMATS", "QUANTIZATIONS", "export", "verify"]
