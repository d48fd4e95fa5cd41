"""What quantization costs in quality on the real test sets.

A model trained by `keras-attn train --data ...` (or `finetune`) is
exported (TFLite float32/float16/int8, ONNX float32/int8), and every
artifact runs the held-out test set in its own runtime (`ai_edge_litert`,
ONNX Runtime, through `keras_attn.runtime`): greedy sacreBLEU for
translators, accuracy for classifiers (the SST-2 dev set). The Keras model
is scored in the same run and is the baseline.

    KERAS_BACKEND=tensorflow KERAS_ATTN_DATA=../shared/data python bench/quantization.py runs/transformer-spa \\
        [--eval-examples 1000] [--examples N] [--seed 0] [--append BENCHMARKS.md]

`--examples` and `--seed` must be those the model was trained with (they
fix the split); the vocabularies come from the run directory.
"""

import argparse
import os
import tempfile

import numpy as np

from keras_attn import models, run_directory, runtime, training
from keras_attn.training import scoring
from keras_attn.export import export

from common import report

ARTIFACTS = (("onnx", "float32"), ("onnx", "int8"), ("tflite", "float32"), ("tflite", "fp16"), ("tflite", "int8"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", help="a directory written by `keras-attn train` or `finetune`")
    parser.add_argument("--data-dir")
    parser.add_argument("--eval-examples", type=int, help="score the first N test examples (default: all)")
    parser.add_argument("--append")
    args = parser.parse_args()

    config, task = run_directory.load_task(args.run_dir, args.data_dir)
    model = run_directory.load_model(args.run_dir)
    decodes = isinstance(model, models.GenerativeTask)
    directories = {}
    for quantize in ("fp16", "int8"):
        directories[quantize] = os.path.join(tempfile.mkdtemp(), "export")
        export(model, directories[quantize], formats=("tflite", "onnx"), quantize=quantize, lengths=config["lengths"])

    if decodes:
        metric = "greedy sacreBLEU"

        def score(decode):
            return scoring.translation_scores(task, "test", decode, limit=args.eval_examples)["bleu"]

        def artifact_decode(exported):
            return lambda source, max_length: exported.greedy(source, max_length=max_length).tokens

        keras_score = training.evaluate(model, task, "test", limit=args.eval_examples)["test_bleu"]
    else:
        metric = "accuracy (%)"
        token_ids, labels = (array[: args.eval_examples] for array in task.splits["test"])

        def score(classify):
            return 100 * float(np.mean(np.argmax(classify(token_ids), -1) == labels))

        def artifact_decode(exported):
            return exported.classify

        keras_score = 100 * training.evaluate(model, task, "test", limit=args.eval_examples)["test_accuracy"]

    rows = [f"| Keras (TensorFlow) | float32 | {keras_score:.2f} | baseline | | |"]
    float_sizes = {}
    for fmt, quantization in ARTIFACTS:
        directory = directories["fp16" if quantization == "fp16" else "int8"]
        exported = runtime.ExportedModel(directory, format=fmt, quantization=quantization)
        roles = ("encoder", "decoder_step") if decodes else ("forward",)
        size = sum(a["size_bytes"] for a in exported.manifest["artifacts"]
                   if (a["format"], a["quantization"]) == (fmt, quantization) and a["role"] in roles)
        float_sizes.setdefault(fmt, size)
        value = score(artifact_decode(exported))
        rows.append(f"| {fmt} | {quantization} | {value:.2f} | {value - keras_score:+.2f} | {size / 1e6:.1f} | "
                    f"{100 * size / float_sizes[fmt]:.0f}% |")
    count = len(task.splits["test"][1][: args.eval_examples])
    report(
        f"Quantization: quality on the {task.name} test set ({config['preset']})",
        f"KERAS_BACKEND=tensorflow python bench/quantization.py {args.run_dir}"
        + (f" --eval-examples {args.eval_examples}" if args.eval_examples else ""),
        f"`{config['preset']}` trained on {task.name} ({args.run_dir}); {count} test examples; each artifact in its "
        "runtime (ONNX Runtime, ai_edge_litert); size = the pieces used (seq2seq: encoder + decoder step).",
        f"| runtime | weights | {metric} | change vs Keras | size MB | size vs float32 |",
        rows,
        args.append,
    )


if __name__ == "__main__":
    main()
