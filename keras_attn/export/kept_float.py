"""Weights that an int8 export keeps in float32 (a model's
`weights_kept_float()`), found in the converted graphs by their values.

A converter renames and transposes what it is given, so a weight is known
by its values: ONNX holds it as exported (`original`, exact), TFLite's
dynamic-range converter as int8 with per-channel scales, which is the
weight when it dequantizes to within half a step of it (`restore_tflite`
writes the float32 values back). Needs TensorFlow for TFLite files.
"""

import numpy as np


class KeptFloat:
    """The weights to keep in float32, each matched as given or transposed.

    Example:
    >>> import numpy as np
    >>> kept = KeptFloat([np.eye(2, 3, dtype="float32")])
    >>> kept.original(np.eye(3, 2, dtype="float32")).shape
    (3, 2)
    >>> kept.original(np.ones((2, 3), "float32")) is None
    True
    """

    def __init__(self, arrays):
        self.layouts = []
        for array in arrays:
            array = np.asarray(array, np.float32)
            if array.ndim != 2:
                raise ValueError(f"weights kept in float32 must be matrices, got one of shape {array.shape}.")
            self.layouts += [array, np.ascontiguousarray(array.T)]

    def __bool__(self):
        return bool(self.layouts)

    def original(self, values, tolerance=0.0):
        """The kept weight that `values` holds (within `tolerance`, a scalar
        or an array that broadcasts), in `values`' layout; None if none."""
        for layout in self.layouts:
            if layout.shape == values.shape and np.all(np.abs(layout - values) <= tolerance):
                return layout
        return None


def _dequantized(tensor, data):
    """A per-channel int8 tensor's values in float32, and half its rounding step."""
    quantization = tensor.quantization
    values = np.frombuffer(data.tobytes(), np.int8).astype(np.float32).reshape(tensor.shape)
    shape = [1] * values.ndim
    shape[quantization.quantizedDimension] = -1
    scale = np.asarray(quantization.scale, np.float32).reshape(shape)
    zero_point = np.asarray(quantization.zeroPoint, np.float32).reshape(shape)
    return (values - zero_point) * scale, scale * (0.5 + 1e-3)


def restore_tflite(model_bytes, kept):
    """`model_bytes` (a dynamic-range int8 TFLite model) with each kept
    weight back in float32. A kept weight read by anything but a
    `FULLY_CONNECTED`'s weights input (which runs float weights as it runs
    int8 ones) cannot change type in place, and is refused."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(model_bytes)
    fully_connected = schema.BuiltinOperator.FULLY_CONNECTED
    readers = {}  # buffer index → [(subgraph, tensor index, op code, input slot)]
    for subgraph in model.subgraphs:
        for operator in subgraph.operators:
            code = model.operatorCodes[operator.opcodeIndex]
            op = max(code.builtinCode, code.deprecatedBuiltinCode)
            for slot, index in enumerate(operator.inputs):
                tensor = subgraph.tensors[index] if index >= 0 else None
                if tensor is not None and tensor.type == schema.TensorType.INT8 and tensor.quantization is not None:
                    readers.setdefault(tensor.buffer, []).append((subgraph, index, op, slot))
    for buffer_index, uses in readers.items():
        data = model.buffers[buffer_index].data
        if data is None or len(data) == 0:
            continue  # not a constant
        tensor = uses[0][0].tensors[uses[0][1]]
        values, tolerance = _dequantized(tensor, data)
        original = kept.original(values, tolerance)
        if original is None:
            continue
        if any(op != fully_connected or slot != 1 for _, _, op, slot in uses):
            raise ValueError(f"cannot keep the weight {tensor.name.decode()!r} {list(values.shape)} in float32 "
                             "in TFLite: it is read by an op that takes int8 only.")
        model.buffers[buffer_index].data = np.frombuffer(original.tobytes(), np.uint8)
        for subgraph, index, _, _ in uses:
            subgraph.tensors[index].type = schema.TensorType.FLOAT32
            subgraph.tensors[index].quantization = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
