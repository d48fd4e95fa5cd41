"""Training-step time of the `bahdanau` preset, this tree against a baseline
tree, in the same run.

    git worktree add /tmp/baseline-bahdanau 90e596f
    KERAS_BACKEND=jax python bench/bahdanau_step.py --baseline /tmp/baseline-bahdanau \
        [--batch-size 128] [--length 20] [--units 256] [--repeats 3] [--append BENCHMARKS.md]

Each tree runs in an interpreter of its own (its own `keras_attn`): it
builds the preset at the spa-eng vocabularies (8,000 each), compiles it
with the training recipe's optimizer, and times `train_on_batch` on one
random batch of `--length` tokens each side, after one warm-up step that
compiles. The trees alternate, `--repeats` times each; the table gives the
median over all timed steps of each tree.
"""

import argparse
import os
import statistics

from common import report, run_in_tree

HERE = os.path.dirname(os.path.abspath(__file__))

# Runs in the child interpreter, with the tree to measure first on sys.path.
CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import keras, numpy as np
import keras_attn
from keras_attn import zoo
from keras_attn.training.recipes import compile_model

assert keras_attn.__file__.startswith(sys.argv[1]), keras_attn.__file__
batch, length, units, steps = (int(value) for value in sys.argv[2:6])
keras.utils.set_random_seed(0)
model = compile_model(zoo.build("bahdanau", source_vocabulary_size=8000, target_vocabulary_size=8000, units=units))
rng = np.random.default_rng(0)
ids = lambda: rng.integers(1, 8000, (batch, length)).astype("int32")
x, y = {"encoder_token_ids": ids(), "decoder_token_ids": ids()}, ids()
model.train_on_batch(x, y)
times = []
for _ in range(steps):
    start = time.perf_counter()
    model.train_on_batch(x, y)
    times.append(time.perf_counter() - start)
print("RESULT " + json.dumps(times))
"""


def measure(tree, batch, length, units, steps):
    """Seconds of each timed training step by the `keras_attn` in `tree`."""
    return run_in_tree(CHILD, tree, batch, length, units, steps)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="a checkout of the baseline commit")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--length", type=int, default=20)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--append")
    args = parser.parse_args()
    trees = {"baseline": args.baseline, "now": os.path.dirname(HERE)}
    times = {name: [] for name in trees}
    for _ in range(args.repeats):
        for name, tree in trees.items():
            times[name] += measure(tree, args.batch_size, args.length, args.units, args.steps)
    medians = {name: statistics.median(values) for name, values in times.items()}
    rows = [f"| {name} | {medians[name]:.3f} | {len(times[name])} |" for name in trees]
    rows.append(f"| baseline / now | {medians['baseline'] / medians['now']:.2f}x | |")
    command = (f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND', 'tensorflow')} python bench/bahdanau_step.py "
               f"--baseline {args.baseline} --batch-size {args.batch_size} --length {args.length} "
               f"--units {args.units} --steps {args.steps} --repeats {args.repeats}")
    report(
        "Bahdanau training step: baseline tree against this one",
        command,
        f"median seconds per `train_on_batch` (batch {args.batch_size}, {args.length} tokens each side, "
        f"units {args.units}), {args.repeats} alternating run(s) of {args.steps} steps per tree.",
        "| tree | median step (s) | steps |",
        rows,
        args.append,
    )


if __name__ == "__main__":
    main()
