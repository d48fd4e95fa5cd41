"""int8 ONNX: does a row's output change with its padding and with the other
rows of its batch? onnxruntime's `quantize_dynamic` (per-tensor activation
scales computed on each call; the exporter's baseline before) against the
exporter's weight-only int8, on the `transformer` preset's forward piece.

    KERAS_BACKEND=tensorflow python bench/int8_invariance.py [--append BENCHMARKS.md]
"""

import argparse
import os
import tempfile

import numpy as np

from common import report
from keras_attn import zoo
from keras_attn.export import exporter
from keras_attn.runtime import OnnxRunner


def worst_change(runner, source, target):
    """Max abs change of each row's logits (at real target positions) alone,
    with 5 more padding columns, against the same row inside the batch."""
    batch = runner({"encoder_token_ids": source, "decoder_token_ids": target})["logits"]
    worst = 0.0
    for row in range(len(source)):
        length = int((target[row] != 0).sum())
        for pad in (0, 5):
            alone = runner({
                "encoder_token_ids": np.pad(source[row : row + 1], ((0, 0), (0, pad))),
                "decoder_token_ids": np.pad(target[row : row + 1], ((0, 0), (0, pad))),
            })["logits"]
            worst = max(worst, float(np.abs(alone[0, :length] - batch[row, :length]).max()))
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--append")
    args = parser.parse_args()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = zoo.build("transformer", source_vocabulary_size=8000, target_vocabulary_size=8000, dropout=0.0)
    directory = tempfile.mkdtemp() + "/export"
    exporter.export(model, directory, formats=("onnx",), quantize="int8")
    dynamic = os.path.join(tempfile.mkdtemp(), "dynamic.onnx")
    quantize_dynamic(os.path.join(directory, "forward.onnx"), dynamic, weight_type=QuantType.QInt8)
    rng = np.random.default_rng(0)
    lengths = [20, 7, 13, 3]
    source = rng.integers(7, 8000, (4, 20)).astype("int32")
    target = rng.integers(7, 8000, (4, 20)).astype("int32")
    for row, length in enumerate(lengths):
        source[row, length:] = 0
        target[row, length:] = 0
    float_logits = OnnxRunner(os.path.join(directory, "forward.onnx"))(
        {"encoder_token_ids": source, "decoder_token_ids": target})["logits"]
    rows = []
    for label, path in (("quantize_dynamic (baseline)", dynamic),
                        ("weight-only int8 (exporter)", os.path.join(directory, "forward_int8.onnx"))):
        runner = OnnxRunner(path)
        logits = runner({"encoder_token_ids": source, "decoder_token_ids": target})["logits"]
        real = target != 0
        agreement = float(np.mean(logits.argmax(-1)[real] == float_logits.argmax(-1)[real]))
        rows.append(f"| {label} | {worst_change(runner, source, target):.2e} | "
                    f"{float(np.abs(logits - float_logits)[real].max()):.2e} | {100 * agreement:.1f}% | "
                    f"{os.path.getsize(path) / 1e6:.1f} |")
    report(
        "int8 ONNX: padding and batch invariance",
        "KERAS_BACKEND=tensorflow python bench/int8_invariance.py",
        "`transformer` preset (random weights, vocabularies 8000), forward piece, 4 rows of 3-20 tokens; "
        "change = max abs difference of a row's logits alone or with 5 more padding columns vs in the batch.",
        "| int8 ONNX | change with padding/batch | max abs diff vs float32 | argmax agreement | MB |",
        rows,
        args.append,
    )


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main()
