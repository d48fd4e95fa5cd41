"""The exported whole searches (`greedy_search`, `beam_search`) of a baseline
tree against this tree's, in the same run, in ONNX Runtime and LiteRT: what
changes in the decoder step's graph (the cache layout, the ops a converter
writes) cost or save at batch 1 and 32.

    git worktree add /tmp/baseline 84d57c3
    KERAS_BACKEND=tensorflow python bench/search_graph.py --baseline /tmp/baseline [--threads 1] [--repeats 15] \
        [--append BENCHMARKS.md]

Each tree, in an interpreter of its own (its own `keras_attn`), builds the
same seeded Marian-shaped translator (`opus-mt-es-en` at the `transformer`
preset's size: d_model 256, 3+3 layers, 4 heads, vocabulary 8,000) and
exports its searches to ONNX and TFLite (float32). Then both trees' searches
are opened in this process and run alternately on the same random sources
(20 pieces; `max_length` 32), one `run` each: the median of `--repeats`
after a warm-up (this machine drifts by tens of percent between minutes, so
the trees take turns). Both trees' tokens are compared: the change must not
alter what is decoded.
"""

import argparse
import os
import statistics
import time

import numpy as np

from common import report, run_in_tree

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = (("greedy_search", 1, 0), ("greedy_search", 32, 0), ("beam_search", 1, 4), ("beam_search", 32, 4))

# Runs in the child interpreter, with the tree to measure first on sys.path: exports there.
CHILD = r"""
import json, sys, tempfile
sys.path.insert(0, sys.argv[1])
import keras
import numpy as np
import keras_attn
from keras_attn import zoo
from keras_attn.export import exporter

assert keras_attn.__file__.startswith(sys.argv[1]), keras_attn.__file__
keras.utils.set_random_seed(0)
model = zoo.build("opus-mt-es-en", hidden_dim=256, num_layers=3, num_heads=4, intermediate_dim=1024,
                  source_vocabulary_size=8000, target_vocabulary_size=8000, pad_id=7999, start_id=7999)
model.logits.bias.assign(np.random.default_rng(0).normal(0, 0.1, model.logits.bias.shape).astype("float32"))
directory = tempfile.mkdtemp() + "/export"
exporter.export(model, directory, formats=("onnx", "tflite"))
print("RESULT " + json.dumps(directory))
"""


def runner(path, threads):
    """`feed → {output name: array}` of one artifact in ONNX Runtime or LiteRT."""
    if path.endswith(".onnx"):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        return lambda feed: dict(zip(names, session.run(names, feed)))
    from ai_edge_litert.interpreter import Interpreter

    signature = Interpreter(model_path=path, num_threads=threads).get_signature_runner()
    return lambda feed: signature(**feed)


def feed_of(batch, beam):
    sources = np.random.default_rng(batch).integers(2, 7999, (batch, 20)).astype("int32")
    sources[:, -1] = 0  # </s>
    feed = {"encoder_token_ids": sources, "max_length": np.array(32, "int32")}
    if beam:
        feed.update(beam_size=np.array(beam, "int32"), alpha=np.array(0.6, "float32"))
    return feed


def timed(run, feed):
    start = time.perf_counter()
    outputs = run(feed)
    return time.perf_counter() - start, outputs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="a checkout of the baseline commit")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--append")
    args = parser.parse_args()
    trees = {"baseline": args.baseline, "now": os.path.dirname(HERE)}
    exports = {name: run_in_tree(CHILD, tree, env={"KERAS_BACKEND": "tensorflow"}) for name, tree in trees.items()}
    rows = []
    for fmt in ("onnx", "tflite"):
        for role, batch, beam in CASES:
            feed = feed_of(batch, beam)
            runs = {name: runner(f"{directory}/{role}.{fmt}", args.threads) for name, directory in exports.items()}
            tokens = {name: timed(run, feed)[1]["finished_history" if beam else "history"].tolist()
                      for name, run in runs.items()}  # also the warm-up
            seconds = {name: [] for name in runs}
            for _ in range(args.repeats):  # the trees alternate, so drift reaches both alike
                for name, run in runs.items():
                    seconds[name].append(timed(run, feed)[0])
            baseline, now = (statistics.median(seconds[name]) for name in ("baseline", "now"))
            same = "yes" if tokens["baseline"] == tokens["now"] else "**no**"
            rows.append(f"| {fmt} | {role} | {batch} | {baseline * 1e3:.0f} | {now * 1e3:.0f} | "
                        f"{baseline / now:.2f}x | {same} |")
            print(rows[-1], flush=True)
    report(
        "The exported searches: a baseline tree's graphs against this tree's",
        f"KERAS_BACKEND=tensorflow python bench/search_graph.py --baseline {args.baseline} --threads {args.threads} "
        f"--repeats {args.repeats}",
        f"one `run` of each search on 20-piece random sources, max_length 32 (beam 4, alpha 0.6), "
        f"{args.threads} thread(s), float32; the same seeded model exported by each tree, both trees' sessions "
        f"open in one process and run alternately, median of {args.repeats} after a warm-up.",
        "| runtime | search | batch | baseline (ms) | now (ms) | baseline / now | same tokens |",
        rows,
        args.append,
    )


if __name__ == "__main__":
    main()
