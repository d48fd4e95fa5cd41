"""Latency and file size of every forward artifact of an export, on the CPU,
against its Keras model in the same run.

Inputs are the export's own held-out examples (`held_out.npz`: real,
right-padded sentences), as batches of 1 and of 32 rows, trimmed to the
batch's longest real row.

    KERAS_BACKEND=tensorflow python bench/export_latency.py EXPORT_DIR [--repeats 20] [--append BENCHMARKS.md]
"""

import argparse

import numpy as np

from keras_attn import integrity, run_directory
from keras_attn.export.parity import open_artifact
from keras_attn.saving import load_model

from common import median_seconds, report


def batch_of(model, task, rows):
    inputs = model.real_inputs(task, len(task.splits["test"][0]))
    picked = {name: np.resize(value, (rows,) + value.shape[1:]) for name, value in inputs.items()}
    width = max(1, int((picked["token_ids"] != 0).sum(1).max()))
    return {name: value[:, :width] for name, value in picked.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("directory")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--append")
    args = parser.parse_args()
    manifest = integrity.read_manifest(args.directory)
    model = load_model(run_directory.model_path(args.directory), compile=False)
    task = run_directory.load_held_out(args.directory)
    rows = []
    for batch in (1, 32):
        x = batch_of(model, task, batch)
        keras_ms = 1000 * median_seconds(lambda: model.predict_on_batch(model.call_inputs(x)), args.repeats)
        rows.append(("keras", "float32", batch, x["token_ids"].shape[1], keras_ms, 1.0, None))
        for artifact in (a for a in manifest["artifacts"] if a["role"] == "forward"):
            runner = open_artifact(args.directory, artifact)
            ms = 1000 * median_seconds(lambda: runner(x), args.repeats)
            rows.append((artifact["format"], artifact["quantization"], batch, x["token_ids"].shape[1], ms,
                         keras_ms / ms, artifact["size_bytes"]))
    report(
        f"Export latency: {manifest['class']}",
        f"python bench/export_latency.py {args.directory} --repeats {args.repeats}",
        "forward piece on the export's held-out sentences; Keras (`predict_on_batch`) measured in the same run.",
        "| runtime | weights | batch | width | median ms | speed-up vs Keras | size MB |",
        [f"| {f} | {q} | {b} | {w} | {ms:.2f} | {r:.2f}x | {'' if size is None else f'{size / 2**20:.1f}'} |"
         for f, q, b, w, ms, r, size in rows],
        args.append,
    )


if __name__ == "__main__":
    main()
