"""keras-attn's exporter against Keras 3's own `Model.export(format="litert" | "onnx")`,
on every piece of a preset: wall time for float32 TFLite, int8 TFLite and
ONNX, and whether each TFLite file needs Flex ops.

Keras's exporter is asked for the same artifacts: builtin ops only
(`target_spec`), and int8 through `optimizations`; each of its TFLite calls
traces the piece and writes a SavedModel of its own.

    KERAS_BACKEND=tensorflow python bench/export_paths.py [--preset transformer] [--append BENCHMARKS.md]
"""

import argparse
import os
import tempfile
import time

import tensorflow as tf

from common import report
from keras_attn import zoo
from keras_attn.export import exporter

SIZES = {"source_vocabulary_size": 8000, "target_vocabulary_size": 8000, "vocabulary_size": 8000}


def keras_export(piece, directory):
    """Float32 TFLite, int8 TFLite and ONNX through `Model.export`; seconds."""
    signature = [{name: tf.TensorSpec(shape, dtype, name=name) for name, (shape, dtype) in piece.inputs.items()}]
    builtins = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}
    start = time.perf_counter()
    piece.model.export(f"{directory}/{piece.role}.tflite", format="litert", input_signature=signature,
                       verbose=False, target_spec=builtins)
    piece.model.export(f"{directory}/{piece.role}_int8.tflite", format="litert", input_signature=signature,
                       verbose=False, target_spec=builtins, optimizations=[tf.lite.Optimize.DEFAULT])
    piece.model.export(f"{directory}/{piece.role}.onnx", format="onnx", input_signature=signature, verbose=False)
    seconds = time.perf_counter() - start
    flex = any(b"Flex" in open(f"{directory}/{piece.role}{s}.tflite", "rb").read() for s in ("", "_int8"))
    return seconds, flex


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="transformer")
    parser.add_argument("--append")
    args = parser.parse_args()
    model = zoo.build(args.preset, **{k: v for k, v in SIZES.items() if k in zoo.accepted_keys(args.preset)})
    lengths = model.export_lengths({"max_source_length": 32, "max_target_length": 32})

    start = time.perf_counter()
    exporter.export(model, tempfile.mkdtemp() + "/ours", formats=("tflite", "onnx"), quantize="int8", lengths=lengths)
    ours = time.perf_counter() - start

    directory = tempfile.mkdtemp()
    rows, total = [], 0.0
    for piece in model.pieces(lengths):
        seconds, flex = keras_export(piece, directory)
        total += seconds
        rows.append(f"| {piece.role} | {seconds:.1f} | {'yes' if flex else 'no'} |")
    rows.append(f"| all pieces, Model.export | {total:.1f} | |")
    rows.append(f"| all pieces, keras-attn exporter (baseline) | {ours:.1f} | no |")
    rows.append(f"| ratio Model.export / keras-attn | {total / ours:.2f} | |")
    report(
        f"Export paths: Model.export against keras-attn's exporter ({args.preset})",
        f"KERAS_BACKEND=tensorflow python bench/export_paths.py --preset {args.preset}",
        "float32 TFLite + int8 TFLite + ONNX of every piece, one run each (the exporter's time includes its "
        "manifest: loading each artifact once to record its outputs).",
        "| piece | seconds | Flex ops |",
        rows,
        args.append,
    )


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main()
