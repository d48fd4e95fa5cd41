"""Export time per preset, this tree's exporter against a baseline tree's
(the exporter when issue #12 was filed), in the same run, with where the
time goes by format.

    git worktree add /tmp/baseline 92d45e4
    KERAS_BACKEND=tensorflow python bench/export_time.py --baseline /tmp/baseline \
        --preset bahdanau --preset transformer [--append BENCHMARKS.md]

Each tree exports in an interpreter of its own (its own `keras_attn`) the
preset at the spa-eng sizes (vocabularies of 8,000, 64-token lengths) to
every format, float32 and int8: what `keras-attn export DIR --quantize int8`
writes, less the string-signature SavedModel. The weights are untrained:
the time does not depend on their values. The trees alternate, `--repeats`
times each, and the table gives medians.
"""

import argparse
import os
import statistics

from common import report, run_in_tree

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = ("SavedModel", "TFLite float32", "TFLite int8", "ONNX float32", "ONNX int8")

# Runs in the child interpreter, with the tree to measure first on sys.path.
CHILD = r"""
import inspect, json, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
import keras_attn
from keras_attn import zoo
from keras_attn.export import exporter

assert keras_attn.__file__.startswith(sys.argv[1]), keras_attn.__file__
preset = sys.argv[2]
sizes = {"source_vocabulary_size": 8000, "target_vocabulary_size": 8000, "vocabulary_size": 8000}
accepted = zoo.config(preset)
model = zoo.build(preset, **{key: value for key, value in sizes.items() if key in accepted})
seconds = {}

def timed(step, function):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[step(*args)] = seconds.get(step(*args), 0.0) + time.perf_counter() - start
    return wrapper

exporter._write_saved_model = timed(lambda *a: "SavedModel", exporter._write_saved_model)
exporter._write_tflite = timed(lambda path, out, quantize, kept: f"TFLite {quantize or 'float32'}", exporter._write_tflite)
exporter._write_onnx = timed(lambda *a: "ONNX float32", exporter._write_onnx)
exporter._write_onnx_int8 = timed(lambda *a: "ONNX int8", exporter._write_onnx_int8)
lengths = {"max_source_length": 64, "max_target_length": 64}
parameters = inspect.signature(exporter.export).parameters
length_args = {"lengths": lengths} if "lengths" in parameters else lengths  # the baseline took them as arguments
start = time.perf_counter()
exporter.export(model, tempfile.mkdtemp() + "/export", quantize="int8", **length_args)
seconds["total"] = time.perf_counter() - start
print("RESULT " + json.dumps(seconds))
"""


def measure(tree, preset):
    """`{step: seconds, "total": seconds}` of one export by the `keras_attn` in `tree`."""
    return run_in_tree(CHILD, tree, preset, env={"KERAS_BACKEND": "tensorflow"})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="a checkout of the baseline commit")
    parser.add_argument("--preset", action="append", dest="presets")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--append")
    args = parser.parse_args()
    trees = {"baseline": args.baseline, "now": os.path.dirname(HERE)}
    rows = []
    for preset in args.presets or ["bahdanau", "transformer"]:
        runs = {name: [] for name in trees}
        for _ in range(args.repeats):
            for name, tree in trees.items():
                runs[name].append(measure(tree, preset))
        medians = {name: {key: statistics.median(run.get(key, 0.0) for run in results) for key in (*STEPS, "total")}
                   for name, results in runs.items()}
        for name in trees:
            cells = " | ".join(f"{medians[name][step]:.1f}" for step in STEPS)
            other = medians[name]["total"] - sum(medians[name][step] for step in STEPS)
            rows.append(f"| {preset} | {name} | {cells} | {other:.1f} | {medians[name]['total']:.1f} |")
        ratio = medians["baseline"]["total"] / medians["now"]["total"]
        rows.append(f"| {preset} | baseline / now | | | | | | | {ratio:.2f}x |")
    command = "KERAS_BACKEND=tensorflow python bench/export_time.py --baseline " + args.baseline + "".join(
        f" --preset {p}" for p in args.presets or ["bahdanau", "transformer"]) + f" --repeats {args.repeats}"
    report(
        "Export time per preset: baseline exporter against this one (issue #12)",
        command,
        f"seconds, median of {args.repeats} alternating run(s) per tree; every piece to SavedModel, TFLite "
        "float32 and int8, ONNX float32 and int8; 'other' is the manifest (each artifact loaded once to record "
        "its outputs, sha256) and building the pieces.",
        "| preset | tree | " + " | ".join(STEPS) + " | other | total |",
        rows,
        args.append,
    )


if __name__ == "__main__":
    main()
