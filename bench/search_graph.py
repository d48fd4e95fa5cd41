"""The exported whole searches (`greedy_search`, `beam_search`) of a baseline
tree against this tree's, in the same run, in ONNX Runtime and LiteRT: what
changes in the decoder step's graph (the cache layout, the ops a converter
writes) cost or save at batch 1 and 32.

    git worktree add /tmp/baseline 84d57c3
    KERAS_BACKEND=tensorflow python bench/search_graph.py --baseline /tmp/baseline [--threads 1] [--repeats 5] \
        [--append BENCHMARKS.md]

Each tree, in an interpreter of its own (its own `keras_attn`), builds the
same seeded Marian-shaped translator (`opus-mt-es-en` at the `transformer`
preset's size: d_model 256, 3+3 layers, 4 heads, vocabulary 8,000), exports
its searches to ONNX and TFLite (float32), and times one `run` per search on
the same random sources (20 pieces; `max_length` 32): the median of
`--repeats` after a warm-up. Both trees' tokens are compared: the change
must not alter what is decoded.
"""

import argparse
import os

from common import report, run_in_tree

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = (("greedy_search", 1, 0), ("greedy_search", 32, 0), ("beam_search", 1, 4), ("beam_search", 32, 4))

# Runs in the child interpreter, with the tree to measure first on sys.path.
CHILD = r"""
import json, statistics, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
import keras
import numpy as np
import keras_attn
from keras_attn import zoo
from keras_attn.export import exporter


def runner(path, threads):
    """`feed → {output name: array}` in ONNX Runtime or LiteRT (the baseline's runtime may not take threads)."""
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


assert keras_attn.__file__.startswith(sys.argv[1]), keras_attn.__file__
threads, repeats, cases = int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
keras.utils.set_random_seed(0)
model = zoo.build("opus-mt-es-en", hidden_dim=256, num_layers=3, num_heads=4, intermediate_dim=1024,
                  source_vocabulary_size=8000, target_vocabulary_size=8000, pad_id=7999, start_id=7999)
model.logits.bias.assign(np.random.default_rng(0).normal(0, 0.1, model.logits.bias.shape).astype("float32"))
directory = tempfile.mkdtemp() + "/export"
exporter.export(model, directory, formats=("onnx", "tflite"))
results = {}
for fmt, extension in (("onnx", "onnx"), ("tflite", "tflite")):
    for role, batch, beam in cases:
        run = runner(f"{directory}/{role}.{extension}", threads)
        sources = np.random.default_rng(batch).integers(2, 7999, (batch, 20)).astype("int32")
        sources[:, -1] = 0  # </s>
        feed = {"encoder_token_ids": sources, "max_length": np.array(32, "int32")}
        if beam:
            feed.update(beam_size=np.array(beam, "int32"), alpha=np.array(0.6, "float32"))
        outputs = run(feed)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run(feed)
            times.append(time.perf_counter() - start)
        history = outputs["history" if not beam else "finished_history"]
        results[f"{fmt} {role} {batch}"] = {"seconds": statistics.median(times), "tokens": history.tolist()}
print("RESULT " + json.dumps(results))
"""


def main():
    import json

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="a checkout of the baseline commit")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--append")
    args = parser.parse_args()
    trees = {"baseline": args.baseline, "now": os.path.dirname(HERE)}
    results = {name: run_in_tree(CHILD, tree, args.threads, args.repeats, json.dumps(CASES),
                                 env={"KERAS_BACKEND": "tensorflow"})
               for name, tree in trees.items()}
    rows = []
    for key in results["now"]:
        fmt, role, batch = key.split()
        baseline, now = results["baseline"][key], results["now"][key]
        same = "yes" if baseline["tokens"] == now["tokens"] else "**no**"
        rows.append(f"| {fmt} | {role} | {batch} | {baseline['seconds'] * 1e3:.0f} | {now['seconds'] * 1e3:.0f} | "
                    f"{baseline['seconds'] / now['seconds']:.2f}x | {same} |")
    report(
        "The exported searches: a baseline tree's graphs against this tree's",
        f"KERAS_BACKEND=tensorflow python bench/search_graph.py --baseline {args.baseline} --threads {args.threads} "
        f"--repeats {args.repeats}",
        f"one `run` of each search on 20-piece random sources, max_length 32 (beam 4, alpha 0.6), "
        f"{args.threads} thread(s), median of {args.repeats} after a warm-up, float32; the same seeded model "
        "built by each tree.",
        "| runtime | search | batch | baseline (ms) | now (ms) | baseline / now | same tokens |",
        rows,
        args.append,
    )


if __name__ == "__main__":
    main()
