"""Inference latency and file size per export format, on the CPU.

For each preset named (default sizes, vocabulary 8000), the `forward`
piece is exported to SavedModel, TFLite (float32, float16, int8) and ONNX
(float32, int8) and timed on right-padded batches of 1 and 32 rows of
length 32, against Keras (`predict_on_batch`, TensorFlow backend) in the
same run. Untrained weights: speed and size only.

    KERAS_BACKEND=tensorflow python bench/inference.py [--presets transformer-classifier bert-mini]
        [--repeats 20] [--append BENCHMARKS.md]
"""

import argparse
import os
import tempfile

import numpy as np

from keras_attn import zoo
from keras_attn.export import export
from keras_attn.export.parity import open_artifact

from common import median_seconds, report

LENGTH = 32
VOCABULARY = 8000


def inputs_for(model, batch, rng):
    """Full rows, and every other row half padding (the model makes the inputs, as it takes them)."""
    lengths = [LENGTH if row % 2 == 0 else LENGTH // 2 for row in range(batch)]
    return model.call_inputs(model.example_inputs(None, rng, lengths))


def overrides(name):
    sizes = {"source_vocabulary_size": VOCABULARY, "target_vocabulary_size": VOCABULARY, "vocabulary_size": VOCABULARY}
    return {key: value for key, value in sizes.items() if key in zoo.accepted_keys(name)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=["transformer-classifier", "bert-mini", "transformer"])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--append")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    for name in args.presets:
        model = zoo.build(name, **overrides(name))
        directory = os.path.join(tempfile.mkdtemp(), name)
        for quantize in ("fp16", "int8"):
            manifest = export(model, directory, quantize=quantize, overwrite=True,
                              lengths={"max_source_length": LENGTH, "max_target_length": LENGTH})
            artifacts = [a for a in manifest["artifacts"] if a["role"] == "forward"]
            if quantize == "int8":
                artifacts = [a for a in artifacts if a["quantization"] == "int8"]
            for batch in (1, 32):
                x = inputs_for(model, batch, rng)
                keras_ms = 1000 * median_seconds(lambda: model.predict_on_batch(x), args.repeats)
                if quantize == "fp16":
                    rows.append((name, "keras", "float32", batch, keras_ms, 1.0, None))
                for artifact in artifacts:
                    runner = open_artifact(directory, artifact)
                    ms = 1000 * median_seconds(lambda: runner(x), args.repeats)
                    rows.append((name, artifact["format"], artifact["quantization"], batch, ms, keras_ms / ms,
                                 artifact["size_bytes"]))
    report(
        "Inference per export format (CPU)",
        f"python bench/inference.py --presets {' '.join(args.presets)} --repeats {args.repeats}",
        f"forward pass, length {LENGTH}, vocabulary {VOCABULARY}, untrained; Keras measured in the same run.",
        "| preset | runtime | weights | batch | median ms | speed-up vs Keras | size MB |",
        [
            f"| {n} | {f} | {q} | {b} | {ms:.2f} | {r:.2f}x | {'' if size is None else f'{size / 2**20:.1f}'} |"
            for n, f, q, b, ms, r, size in rows
        ],
        args.append,
    )


if __name__ == "__main__":
    main()
